/** The Dockerfile as instructions per stage, for the tests that check it and run its stages' commands. */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { root } from "../../harness/replica.ts"

export type Instruction = { op: string; args: string }

/** Instructions per stage, with line continuations joined and comments dropped. */
export const stages = (): Array<Array<Instruction>> => {
  const text = readFileSync(join(root, "Dockerfile"), "utf8")
  const lines = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/\\\n/g, " ").split("\n")
  const out: Array<Array<Instruction>> = []
  for (const line of lines) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (m === null) continue
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim() }
    if (ins.op === "FROM") out.push([])
    out.at(-1)?.push(ins)
  }
  return out
}

export const runtime = () => stages().at(-1)!
export const args = (stage: Array<Instruction>, op: string) => stage.filter((i) => i.op === op).map((i) => i.args)
