/**
 * The process table as the stop sees it: a process's state and parent, its
 * children and descendants (from /proc), and signals to a pid or a group. A
 * service so that a test can stand in a process that never dies.
 */
import { Context, Effect, Layer } from "effect"
import { readdirSync, readFileSync } from "node:fs"

export interface Stat {
  /** R, S, D, Z, T ... as the kernel reports it. */
  readonly state: string
  readonly ppid: number
  readonly pgid: number
  /** Start time in clock ticks since boot: tells a reused pid apart. */
  readonly start: string
}

/** State, parent, group and start time from /proc/<pid>/stat; undefined when the pid does not exist. */
export const statOf = (pid: number): Stat | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name in parentheses may contain spaces; fields 3 onwards follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0] ?? "", ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] ?? "" }
  } catch {
    return undefined
  }
}

/** A process's children: the kernel's list per thread, or a scan of /proc where the kernel lacks that file. */
export const childrenOf = (pid: number): Array<number> => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter((s) => s !== "").map(Number)
    )
  } catch {
    try {
      return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => statOf(p)?.ppid === pid)
    } catch {
      return []
    }
  }
}

/** Every process below `pid`, children first. */
export const descendantsOf = (pid: number): Array<number> => childrenOf(pid).flatMap((c) => [c, ...descendantsOf(c)])

const send = (target: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(target, signal)
    return true
  } catch (e) {
    // ESRCH: already gone; EPERM: it exists but is not ours to signal.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

export class ProcessTree extends Context.Service<ProcessTree, {
  /** Every descendant of this process. */
  readonly descendants: Effect.Effect<ReadonlyArray<number>>
  readonly stat: (pid: number) => Effect.Effect<Stat | undefined>
  /** Whether any process of the group exists (zombies included). */
  readonly groupExists: (pgid: number) => Effect.Effect<boolean>
  readonly signal: (pid: number, signal: NodeJS.Signals) => Effect.Effect<void>
  readonly signalGroup: (pgid: number, signal: NodeJS.Signals) => Effect.Effect<void>
}>()("just-one-init/ProcessTree") {
  static readonly layer = Layer.succeed(
    ProcessTree,
    ProcessTree.of({
      descendants: Effect.sync(() => descendantsOf(process.pid)),
      stat: (pid) => Effect.sync(() => statOf(pid)),
      groupExists: (pgid) => Effect.sync(() => send(-pgid, 0)),
      signal: (pid, signal) => Effect.sync(() => void send(pid, signal)),
      signalGroup: (pgid, signal) => Effect.sync(() => void send(-pgid, signal))
    })
  )
}
