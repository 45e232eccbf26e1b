// How soon the child starts once its gates allow it: real wrappers (the bundle under Node) on the
// local API emulator, the election on with a free lease, one gate each. A Kubernetes gate (a Job,
// followed by a watch) and a TCP gate (polled, backing off to every 500 ms). For each: from the wrapper's
// "gate passed" log line to the child's exec, and from the dependency coming up (the Job's status
// written, the port listening) to the child's exec. `npm run bench` prints it; `node
// scripts/bench-gates.ts [--runs N]` measures it alone (about a minute).
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { objects } from "../emulator/index.ts"
import type { Emulator } from "../emulator/index.ts"
import { freePort, startReplica } from "../harness/replica.ts"
import { localGateBackoffCapMs } from "../src/services/GatesLocal.ts"
import { median, releasedLease, runAlone } from "./bench-startup.ts"

export interface GateFigures {
  /** "gate passed" line → child exec, per run (ms). */
  readonly afterPassMs: ReadonlyArray<number>
  /** The dependency up → child exec, per run (ms). */
  readonly afterDependencyMs: ReadonlyArray<number>
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Kind = "job" | "tcp"

/** One run: a wrapper waits on one gate; the dependency comes up after `settleMs`; when did the child run? */
const once = async (emu: Emulator, dir: string, kind: Kind, i: number, settleMs: number) => {
  const id = `gate-${kind}-${i}`
  const kubeconfig = join(dir, `${id}.kubeconfig`)
  emu.writeKubeconfig(kubeconfig, id, "default")
  emu.setLease("default", id, releasedLease)
  const port = kind === "tcp" ? await freePort() : 0
  const mark = join(dir, id)
  const r = startReplica({
    id,
    kubeconfig,
    leaseName: id,
    childLog: join(dir, `${id}.jsonl`),
    args: ["--wait-for", kind === "job" ? `job:${id}` : `tcp:127.0.0.1:${port}`],
    command: ["/bin/sh", "-c", `date +%s%N > ${mark}`]
  })
  await r.waitFor((l) => l.message === "waiting for gates", "waiting line")
  if (kind === "job") await emu.watchOpened(id)
  await pause(settleMs)
  const server = createServer((s) => s.destroy())
  const up = performance.timeOrigin + performance.now()
  if (kind === "job") emu.putObject(objects.job({ name: id, succeeded: 1 }))
  else await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()))
  const passed = await r.waitFor((l) => l.message === "gate passed", "gate passed", 10_000)
  const { code } = await r.exited
  server.close()
  if (code !== 0) throw new Error(`${id} exited ${String(code)}:\n${r.stderr}`)
  const child = Number(BigInt(readFileSync(mark, "utf8").trim()) / 1000n) / 1000
  return { afterPassMs: child - Date.parse(passed.timestamp), afterDependencyMs: child - up }
}

export const measureGates = async (
  emu: Emulator,
  dir: string,
  runs: number,
  log: (s: string) => void
): Promise<Record<Kind, GateFigures>> => {
  const figures: Record<Kind, { afterPassMs: Array<number>; afterDependencyMs: Array<number> }> = {
    job: { afterPassMs: [], afterDependencyMs: [] },
    tcp: { afterPassMs: [], afterDependencyMs: [] }
  }
  for (let i = 0; i < runs; i++) {
    for (const kind of ["job", "tcp"] as const) {
      // The TCP gate is polled at its longest interval once past its first retries (by 1.2 s), as in a long
      // wait: its dependency comes up at points spread over one interval, so the figures cover every phase.
      const cap = localGateBackoffCapMs
      const run = await once(emu, dir, kind, i, kind === "tcp" ? 1300 + cap + (cap * i) / runs : 500)
      figures[kind].afterPassMs.push(run.afterPassMs)
      figures[kind].afterDependencyMs.push(run.afterDependencyMs)
      log(
        `  gate ${kind} ${i + 1}/${runs}: ${run.afterPassMs.toFixed(1)} ms after it passed, ${
          run.afterDependencyMs.toFixed(1)
        } ms after the dependency`
      )
    }
  }
  return figures
}

const max = (xs: ReadonlyArray<number>) => Math.max(...xs)

export const gatesTable = (figures: Record<Kind, GateFigures>): string =>
  [
    "| gate → child exec (election on, lease free) | after the gate passed: median / max (ms) | after the dependency came up: median / max (ms) |",
    "|---|---|---|",
    ...([["job", "Kubernetes (job:, by watch)"], [
      "tcp",
      `TCP (tcp:, polled every ${localGateBackoffCapMs} ms at most)`
    ]] as const).map(
      ([kind, name]) => {
        const f = figures[kind]
        const cell = (xs: ReadonlyArray<number>) => `${median(xs).toFixed(0)} / ${max(xs).toFixed(0)} (n=${xs.length})`
        return `| ${name} | ${cell(f.afterPassMs)} | ${cell(f.afterDependencyMs)} |`
      }
    )
  ].join("\n")

if (import.meta.main) {
  await runAlone("gates", async (emu, dir, runs, log) => gatesTable(await measureGates(emu, dir, runs, log)))
}
