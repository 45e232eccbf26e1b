// Two figures about leadership that moves: how soon the next child runs after `just-one-init handover` (real
// wrappers on the local API emulator, three replicas, the command run as an operator would), and, for a
// leader frozen past its lease (its wrapper and child SIGSTOPped, as a paused pod), how long its child runs
// on after the thaw before its wrapper kills it: what no lease can remove. `npm run bench` prints both;
// `node scripts/bench-handover.ts [--runs N]` measures them alone (about a minute).
import { spawn } from "node:child_process"
import { join } from "node:path"
import type { Emulator } from "../emulator/index.ts"
import { readRecords } from "../harness/lives.ts"
import { groupOf, running } from "../harness/procfs.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually, fastTimings, nodeBin, root, startReplica, wrapperPath } from "../harness/replica.ts"
import { median, releasedLease, runAlone } from "./bench-startup.ts"

export interface HandoverFigures {
  /** `handover` started → the named replica's child exec'd, per run (ms). */
  readonly commandToExecMs: ReadonlyArray<number>
  /** Thaw of a frozen leader → its child dead, per run (ms). */
  readonly thawToKillMs: ReadonlyArray<number>
}

const shChild = join(root, "harness/recording-child.sh")
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

const cluster = (emu: Emulator, dir: string, lease: string, ids: ReadonlyArray<string>, env = {}) => {
  const childLog = join(dir, `${lease}.jsonl`)
  emu.setLease("default", lease, releasedLease)
  const replicas = new Map<string, Replica>()
  for (const id of ids) {
    const kubeconfig = join(dir, `${id}.kubeconfig`)
    emu.writeKubeconfig(kubeconfig, id, "default")
    replicas.set(
      id,
      startReplica({ id, kubeconfig, leaseName: lease, childLog, command: ["/bin/sh", shChild], env })
    )
  }
  const starts = () => readRecords(childLog).filter((r) => r.event === "start")
  const stopAll = async () => {
    for (const r of replicas.values()) r.signal("SIGTERM")
    await Promise.all([...replicas.values()].map((r) => r.exited))
  }
  return { childLog, replicas, starts, stopAll }
}

/** `handover --to` the replica after the holder, n times: from the command's start to the new child's record. */
const measureCommand = async (emu: Emulator, dir: string, runs: number, log: (s: string) => void) => {
  const lease = "handover-command"
  const c = cluster(emu, dir, lease, ["a", "b", "c"])
  const operator = join(dir, "operator.kubeconfig")
  emu.writeKubeconfig(operator, "operator", "default")
  const times: Array<number> = []
  try {
    for (let i = 0; i < runs; i++) {
      const holder = await eventually(() => {
        const h = emu.getLease("default", lease)?.spec.holderIdentity
        return h && c.starts().some((r) => r.id === h) ? h : undefined
      }, "a holder with its child")
      for (const r of c.replicas.values()) await r.port
      await pause(2_500) // steady state: every follower watching
      const ids = [...c.replicas.keys()]
      const to = ids[(ids.indexOf(holder) + 1) % ids.length]!
      const seen = c.starts().length
      const t0 = performance.timeOrigin + performance.now()
      const cli = spawn(nodeBin, [wrapperPath, "handover", "--lease-name", lease, "--to", to], {
        stdio: "ignore",
        env: { PATH: process.env["PATH"] ?? "", KUBECONFIG: operator }
      })
      const exited = new Promise((r) => cli.once("exit", r))
      const next = await eventually(() => c.starts().slice(seen).find((r) => r.id === to), `${to}'s child`)
      const code = await exited
      if (code !== 0) throw new Error(`handover exited ${String(code)}`)
      times.push(next.t - t0)
      log(`  handover command ${i + 1}/${runs}: ${(next.t - t0).toFixed(0)} ms to ${to}'s child`)
    }
  } finally {
    await c.stopAll()
  }
  return times
}

/** A leader and a follower (lease 4 s); the leader's pod frozen until the follower's child runs, then thawed. */
const measureThaw = async (emu: Emulator, dir: string, runs: number, log: (s: string) => void) => {
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const lease = `thaw-${i}`
    const c = cluster(emu, dir, lease, ["a"], { CHILD_TERM_DELAY_MS: "900" })
    try {
      const child = await eventually(() => c.starts()[0], "a's child")
      const wrapper = c.replicas.get("a")!.proc.pid!
      const group = groupOf(child.pid)!
      const kubeconfig = join(dir, "b.kubeconfig")
      emu.writeKubeconfig(kubeconfig, "b", "default")
      const b = startReplica({
        id: "b",
        kubeconfig,
        leaseName: lease,
        childLog: c.childLog,
        command: ["/bin/sh", shChild]
      })
      c.replicas.set("b", b)
      await b.port
      process.kill(wrapper, "SIGSTOP")
      process.kill(-group, "SIGSTOP")
      await eventually(() => c.starts().find((r) => r.id === "b"), "b's child", 30_000)
      // Thawed child first: the worst order, as it runs before its wrapper can act.
      process.kill(-group, "SIGCONT")
      const thawed = performance.now()
      process.kill(wrapper, "SIGCONT")
      while (running(child.pid) && performance.now() - thawed < 5_000) await new Promise((r) => setImmediate(r))
      times.push(performance.now() - thawed)
      log(
        `  thawed leader ${i + 1}/${runs}: its child dead ${(performance.now() - thawed).toFixed(1)} ms after the thaw`
      )
    } finally {
      await c.stopAll()
    }
  }
  return times
}

export const measureHandover = async (
  emu: Emulator,
  dir: string,
  runs: number,
  log: (s: string) => void
): Promise<HandoverFigures> => ({
  commandToExecMs: await measureCommand(emu, dir, runs, log),
  thawToKillMs: await measureThaw(emu, dir, Math.min(runs, 5), log)
})

export const handoverTable = (f: HandoverFigures): string => {
  const cell = (xs: ReadonlyArray<number>, digits = 0) =>
    `${median(xs).toFixed(digits)} / ${Math.max(...xs).toFixed(digits)} (n=${xs.length})`
  return [
    "| leadership that moves | median / max (ms) |",
    "|---|---|",
    `| \`just-one-init handover --to\` started → the named replica's child exec'd (3 replicas) | ${
      cell(f.commandToExecMs)
    } |`,
    `| a leader frozen past its lease (${fastTimings.leaseDuration} lease): thaw → its child dead | ${
      cell(f.thawToKillMs, 1)
    } |`
  ].join("\n")
}

if (import.meta.main) {
  await runAlone("handover", async (emu, dir, runs, log) => handoverTable(await measureHandover(emu, dir, runs, log)))
}
