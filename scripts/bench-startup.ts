// Start-up figures of the wrapper as shipped: the single executable (dist/just-one-init) and the
// bundle under Node (dist/just-one-init.mjs). Cold start to the child's exec on a free lease,
// resident memory of an idle follower and of a leader, and the executable's size. `npm run bench`
// prints them; `node scripts/bench-startup.ts [--runs N]` measures them alone (about a minute).
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "../emulator/index.ts"
import type { Emulator } from "../emulator/index.ts"
import type { Replica } from "../harness/replica.ts"
import { binaryPath, nodeBin, startReplica, wrapperPath } from "../harness/replica.ts"

export interface StartupTarget {
  readonly name: string
  /** The argv that runs the wrapper, before its own arguments. */
  readonly wrapper: ReadonlyArray<string>
}

export const shipped: ReadonlyArray<StartupTarget> = [
  { name: "single executable", wrapper: [binaryPath] },
  { name: "bundle under node", wrapper: [nodeBin, wrapperPath] }
]

export interface StartupFigures {
  /** Process start → the child's exec, lease free; each target's first run (which warms caches) left out. */
  readonly coldStartMs: ReadonlyArray<number>
  readonly medianMs: number
  /** VmRSS, and of it RssAnon: the process's own memory, whereas the rest are pages of the executable. */
  readonly rssMb: { readonly idleFollower: Rss; readonly leader: Rss }
}
export interface Rss {
  readonly total: number
  readonly anon: number
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const rssOf = (pid: number): Rss => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const mb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024
  return { total: mb("VmRSS"), anon: mb("RssAnon") }
}

/** "Lease free": released by an earlier holder (a lease never seen at all is waited out for one lease first). */
export const releasedLease = { holderIdentity: "", leaseDurationSeconds: 1 }

/** One cold start: the child records when it ran, on the clock the spawn time was read from. */
const coldStart = async (emu: Emulator, dir: string, target: StartupTarget, lease: string): Promise<number> => {
  const kubeconfig = join(dir, `${lease}.kubeconfig`)
  emu.writeKubeconfig(kubeconfig, "cold", "default")
  emu.setLease("default", lease, releasedLease)
  const mark = join(dir, lease)
  const t0 = performance.timeOrigin + performance.now()
  const proc = spawn(target.wrapper[0]!, [...target.wrapper.slice(1), "--", "/bin/sh", "-c", `date +%s%N > ${mark}`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      PATH: process.env["PATH"] ?? "",
      KUBECONFIG: kubeconfig,
      LEASE_NAME: lease,
      POD_NAME: "cold",
      LISTEN_ADDR: "127.0.0.1:0"
    }
  })
  let stderr = ""
  proc.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s))
  const code = await new Promise((r) => proc.once("exit", r))
  if (code !== 0) throw new Error(`${target.name} exited ${String(code)} on a cold start:\n${stderr}`)
  return Number(BigInt(readFileSync(mark, "utf8").trim()) / 1000n) / 1000 - t0
}

/** Cold starts, taking turns between the targets so that all see the same machine load. */
export const coldStarts = async (
  emu: Emulator,
  dir: string,
  targets: ReadonlyArray<StartupTarget>,
  runs: number,
  log: (s: string) => void
): Promise<Array<Array<number>>> => {
  const times = targets.map(() => [] as Array<number>)
  for (let i = 0; i <= runs; i++) {
    for (const [t, target] of targets.entries()) {
      const ms = await coldStart(emu, dir, target, `cold-${t}-${i}`)
      if (i > 0) times[t]!.push(ms)
    }
    if (i > 0) {
      log(
        `  cold start ${i}/${runs}: ${targets.map((t, j) => `${t.name} ${times[j]![i - 1]!.toFixed(0)} ms`).join(", ")}`
      )
    }
  }
  return times
}

/** RSS of a leader (with a sleeping child) and of a follower watching its lease, a few seconds after both settled. */
export const idleRss = async (emu: Emulator, dir: string, target: StartupTarget, lease: string) => {
  emu.setLease("default", lease, releasedLease)
  const started: Array<Replica> = []
  const replica = (id: string) => {
    const kubeconfig = join(dir, `${lease}-${id}.kubeconfig`)
    emu.writeKubeconfig(kubeconfig, `${lease}-${id}`, "default")
    const r = startReplica({
      id: `${lease}-${id}`,
      kubeconfig,
      leaseName: lease,
      childLog: join(dir, `${lease}.jsonl`),
      wrapper: target.wrapper,
      command: ["/bin/sleep", "600"]
    })
    started.push(r)
    return r
  }
  try {
    const leader = replica("a")
    await leader.transition("Leader")
    const follower = replica("b")
    await emu.watchOpened(`${lease}-b`)
    // Idle: start-up's garbage has had time to be collected.
    await new Promise((r) => setTimeout(r, 5_000))
    return { idleFollower: rssOf(follower.proc.pid!), leader: rssOf(leader.proc.pid!) }
  } finally {
    for (const r of started) r.signal("SIGTERM")
    await Promise.all(started.map((r) => r.exited))
  }
}

export const measureStartup = async (
  emu: Emulator,
  dir: string,
  runs: number,
  log: (s: string) => void
): Promise<{ binaryMb: number; results: Record<string, StartupFigures> }> => {
  const times = await coldStarts(emu, dir, shipped, runs, log)
  const results: Record<string, StartupFigures> = {}
  for (const [t, target] of shipped.entries()) {
    const rssMb = await idleRss(emu, dir, target, `rss-${t}`)
    results[target.name] = { coldStartMs: times[t]!, medianMs: median(times[t]!), rssMb }
  }
  return { binaryMb: statSync(binaryPath).size / 1e6, results }
}

export const startupTable = (figures: Awaited<ReturnType<typeof measureStartup>>): string =>
  [
    "| start-up | cold start to child exec, median (ms) | RSS (of it anonymous), idle follower / leader (MB) |",
    "|---|---|---|",
    ...Object.entries(figures.results).map(([name, r]) => {
      const rss = ({ total, anon }: Rss) => `${total.toFixed(0)} (${anon.toFixed(0)})`
      return `| ${name} | ${r.medianMs.toFixed(0)} (n=${r.coldStartMs.length}) | ${rss(r.rssMb.idleFollower)} / ${
        rss(r.rssMb.leader)
      } |`
    }),
    `| single executable's size | ${figures.binaryMb.toFixed(1)} MB | |`
  ].join("\n")

/**
 * Run one part of the benchmark alone (`node scripts/bench-<part>.ts [--runs N]`): a fresh emulator
 * and directory, progress on stderr, the table on stdout.
 */
export const runAlone = async (
  part: string,
  measure: (emu: Emulator, dir: string, runs: number, log: (s: string) => void) => Promise<string>
) => {
  const i = process.argv.indexOf("--runs")
  const runs = i === -1 ? 10 : Number(process.argv[i + 1])
  const emu = await startEmulator()
  try {
    const dir = mkdtempSync(join(tmpdir(), `just-one-init-${part}-`))
    console.log(await measure(emu, dir, runs, (s) => process.stderr.write(`${s}\n`)))
  } finally {
    await emu.close()
  }
}

if (import.meta.main) {
  await runAlone("startup", async (emu, dir, runs, log) => startupTable(await measureStartup(emu, dir, runs, log)))
}
