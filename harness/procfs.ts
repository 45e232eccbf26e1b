/**
 * A process as the tests, the benchmark and the soak look at it from /proc: whether it still runs (a
 * zombie does not: it is dead, its parent only has not reaped it yet), its parent, its group, its name.
 */
import { readFileSync } from "node:fs"
import { statOf } from "../src/services/ProcessTree.ts"

const stat = (pid: number) => {
  try {
    return statOf(pid)
  } catch {
    return undefined
  }
}

export const running = (pid: number): boolean => {
  const s = stat(pid)
  return s !== undefined && s.state !== "Z"
}

/** undefined once it is gone. */
export const parentOf = (pid: number): number | undefined => stat(pid)?.ppid
export const groupOf = (pid: number): number | undefined => stat(pid)?.pgid
export const commOf = (pid: number): string => readFileSync(`/proc/${pid}/comm`, "utf8").trim()
