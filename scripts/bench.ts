// npm run bench [-- --quick]: just-one-init against a baseline, an entrypoint on a port of client-go's
// leader election (bench/client-go/elector.ts), side by side in one run, on the local API emulator with
// real wrapper processes. Prints a table and writes bench/results.json.
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "../emulator/index.ts"
import type { Emulator } from "../emulator/index.ts"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually, nodeBin, root, startReplica, wrapperPath } from "../harness/replica.ts"
import { gatesTable, measureGates } from "./bench-gates.ts"
import { handoverTable, measureHandover } from "./bench-handover.ts"
import { misbehaviourTable, requestRates } from "./bench-misbehaviour.ts"
import { measureStartup, releasedLease, startupTable } from "./bench-startup.ts"
import { measureTracing, tracingTable } from "./bench-tracing.ts"

const shChild = join(root, "harness/recording-child.sh")

const quick = process.argv.includes("--quick")
/** --only cold,steady,handover,crash,misbehaviour,startup,tracing,gates,moves: measure only these (the others print as "-"). */
const only = (() => {
  const i = process.argv.indexOf("--only")
  return i === -1 ? undefined : new Set((process.argv[i + 1] ?? "").split(","))
})()
const wanted = (part: string) => only === undefined || only.has(part)
const handovers = quick ? 5 : 20
const crashes = quick ? 3 : 10
const steadyMs = quick ? 20_000 : 60_000
const coldStarts = 10
const timings = { leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s", stopGrace: "4s" }
const leaseDurationMs = 15_000

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024

interface Mode {
  readonly name: string
  /** The argv that runs the wrapper, before its own arguments. */
  readonly wrapper: ReadonlyArray<string>
  /** Cold start and RSS: figures of the product's own process, so measured for it alone. */
  readonly processFigures: boolean
}
/** --wrapper PATH: measure another build of just-one-init (an earlier commit's, to compare). */
const ours = (() => {
  const i = process.argv.indexOf("--wrapper")
  return i === -1 ? wrapperPath : process.argv[i + 1] ?? wrapperPath
})()
const modes: ReadonlyArray<Mode> = [
  { name: "just-one-init", wrapper: [nodeBin, ours], processFigures: true },
  {
    name: "client-go polling (baseline)",
    wrapper: [nodeBin, join(root, "bench/client-go/elector.ts")],
    processFigures: false
  }
]

const log = (s: string) => process.stderr.write(`${s}\n`)

/** One cluster of three replicas on one lease, replacing any replica that exits. */
const makeCluster = (emu: Emulator, mode: Mode, dir: string, leaseName: string) => {
  const childLog = join(dir, `${leaseName}.jsonl`)
  const replicas = new Map<string, Replica>()
  const launch = (id: string) => {
    const kubeconfig = join(dir, `${id}.kubeconfig`)
    emu.writeKubeconfig(kubeconfig, id, "default")
    if (emu.getLease("default", leaseName) === undefined) emu.setLease("default", leaseName, releasedLease)
    const r = startReplica({
      id,
      kubeconfig,
      leaseName,
      childLog,
      timings,
      wrapper: mode.wrapper,
      command: ["/bin/sh", shChild]
    })
    replicas.set(id, r)
    return r
  }
  const holder = () => emu.getLease("default", leaseName)?.spec?.holderIdentity ?? undefined
  /** The holder, once a child started after the `seen`-th start record (ids are reused across restarts). */
  const leader = (seen = 0) =>
    eventually(
      () => {
        const h = holder()
        const r = h === undefined || h === "" ? undefined : replicas.get(h)
        const started = readRecords(childLog).filter((x) => x.event === "start").slice(seen)
        return r !== undefined && r.exitCode === undefined && started.some((x) => x.id === h) ? r : undefined
      },
      "a leader with a running child",
      60_000
    )
  const startCount = () => readRecords(childLog).filter((x) => x.event === "start").length
  const ready = (r: Replica) => r.port
  return { childLog, replicas, launch, leader, ready, holder, startCount }
}

/** The legs of a graceful handover, each from the end of the one before (ms). */
const handoverLegs = [
  "SIGTERM → old child exited",
  "→ release written",
  "→ follower acts on the watch event",
  "→ acquire written",
  "→ new child exec'd"
] as const

const measureHandovers = async (emu: Emulator, mode: Mode, dir: string) => {
  const leaseName = `handover-${modes.indexOf(mode)}`
  const c = makeCluster(emu, mode, dir, leaseName)
  const writes: Array<{ t: number; holder: string }> = []
  const off = emu.onChange((ev) => {
    if (ev.lease.metadata.name === leaseName) {
      writes.push({ t: Date.now(), holder: ev.lease.spec?.holderIdentity ?? "" })
    }
  })
  for (const id of ["a", "b", "c"]) c.launch(id)
  const gaps: Array<number> = []
  const legs: Array<Array<number>> = handoverLegs.map(() => [])
  for (let i = 0; i < handovers; i++) {
    const leader = await c.leader()
    await Promise.all([...c.replicas.values()].map(c.ready))
    await pause(2500) // let the followers settle into steady state (and the baseline's jitter run free)
    const seen = c.startCount()
    const sent = Date.now()
    leader.signal("SIGTERM")
    await leader.exited
    const next = await c.leader(seen)
    const records = readRecords(c.childLog)
    const stop = records.filter((r) => r.event === "stop" && r.id === leader.id).at(-1)!
    const start = records.filter((r) => r.event === "start" && r.id === next.id).at(-1)!
    gaps.push(start.t - stop.t)
    // Where the time went, on one clock: the children's records, the emulator's commits, the follower's log line.
    const released = writes.find((w) => w.t >= sent && w.holder === "")?.t
    const acted = next.lines.find((l) =>
      l.message === "transition" && l.annotations["to"] === "Acquiring" && Date.parse(l.timestamp) >= (released ?? 0)
    )
    const acquired = writes.find((w) => w.t >= sent && w.holder === next.id)?.t
    if (released !== undefined && acted !== undefined && acquired !== undefined) {
      const marks = [sent, stop.t, released, Date.parse(acted.timestamp), acquired, start.t]
      for (let leg = 0; leg < handoverLegs.length; leg++) legs[leg]!.push(marks[leg + 1]! - marks[leg]!)
    }
    c.launch(leader.id)
    log(`  ${mode.name}: handover ${i + 1}/${handovers}: ${start.t - stop.t} ms`)
  }
  const found = overlaps(
    lives(
      readRecords(c.childLog),
      { running: new Set(readRecords(c.childLog).filter((r) => r.event === "start").map((r) => r.pid).slice(-1)) }
    )
  )
  off()
  for (const r of c.replicas.values()) r.signal("SIGTERM")
  await Promise.all([...c.replicas.values()].map((r) => r.exited))
  return { gaps, overlaps: found.length, legs: legs.map((xs) => pct(xs, 50)) }
}

const measureCrashes = async (emu: Emulator, mode: Mode, dir: string) => {
  const leaseName = `crash-${modes.indexOf(mode)}`
  const c = makeCluster(emu, mode, dir, leaseName)
  const writes: Array<{ t: number; holder: string }> = []
  const off = emu.onChange((ev) => {
    if (ev.lease.metadata.name === leaseName) {
      writes.push({ t: Date.now(), holder: ev.lease.spec?.holderIdentity ?? "" })
    }
  })
  for (const id of ["a", "b", "c"]) c.launch(id)
  const delays: Array<number> = []
  for (let i = 0; i < crashes; i++) {
    const leader = await c.leader()
    await Promise.all([...c.replicas.values()].map(c.ready))
    await pause(3000)
    const seen = c.startCount()
    await leader.killTree()
    const killedAt = Date.now()
    const next = await c.leader(seen)
    const lastRenew = writes.filter((w) => w.holder === leader.id && w.t <= killedAt).at(-1)!
    const takeover = writes.find((w) => w.holder === next.id && w.t > killedAt)!
    delays.push(takeover.t - (lastRenew.t + leaseDurationMs))
    c.launch(leader.id)
    log(
      `  ${mode.name}: crash ${i + 1}/${crashes}: takeover ${
        takeover.t - (lastRenew.t + leaseDurationMs)
      } ms after expiry`
    )
  }
  off()
  for (const r of c.replicas.values()) r.signal("SIGTERM")
  await Promise.all([...c.replicas.values()].map((r) => r.exited))
  return delays
}

const measureSteadyState = async (emu: Emulator, mode: Mode, dir: string) => {
  const c = makeCluster(emu, mode, dir, `steady-${modes.indexOf(mode)}`)
  const ids = ["s1", "s2", "s3"].map((id) => `${id}-${modes.indexOf(mode)}`)
  for (const id of ids) c.launch(id)
  const leader = await c.leader()
  await Promise.all([...c.replicas.values()].map(c.ready))
  await pause(3000)
  emu.resetCounts()
  await pause(steadyMs)
  const perMinute = (id: string) => Object.values(emu.requests(id)).reduce((a, b) => a + b, 0) * (60_000 / steadyMs)
  const followers = ids.filter((id) => id !== leader.id)
  const result = {
    leaderPerMinute: perMinute(leader.id),
    followerPerMinute: followers.map(perMinute).reduce((a, b) => a + b, 0) / followers.length,
    leaderRssMb: mode.processFigures ? rssMb(leader.proc.pid!) : NaN,
    followerRssMb: mode.processFigures ? rssMb(c.replicas.get(followers[0]!)!.proc.pid!) : NaN
  }
  for (const r of c.replicas.values()) r.signal("SIGTERM")
  await Promise.all([...c.replicas.values()].map((r) => r.exited))
  return result
}

/** Process start → the child's exec, on a free lease: the child records its own start time. */
const measureColdStart = async (emu: Emulator, mode: Mode, dir: string) => {
  const kubeconfig = join(dir, "cold.kubeconfig")
  emu.writeKubeconfig(kubeconfig, "cold", "default")
  const times: Array<number> = []
  for (let i = 0; i < coldStarts + 1; i++) {
    const mark = join(dir, `cold-${i}`)
    emu.setLease("default", `cold-${modes.indexOf(mode)}-${i}`, releasedLease)
    const t0 = performance.timeOrigin + performance.now()
    const proc = spawn(mode.wrapper[0]!, [...mode.wrapper.slice(1), "--", "/bin/sh", "-c", `date +%s%N > ${mark}`], {
      stdio: "ignore",
      env: {
        PATH: process.env["PATH"] ?? "",
        KUBECONFIG: kubeconfig,
        LEASE_NAME: `cold-${modes.indexOf(mode)}-${i}`,
        POD_NAME: "cold",
        LISTEN_ADDR: "127.0.0.1:0"
      }
    })
    await new Promise((r) => proc.once("exit", r))
    const childAt = Number(BigInt(readFileSync(mark, "utf8").trim()) / 1000n) / 1000
    if (i > 0) times.push(childAt - t0) // the first run warms the page cache
  }
  return times
}

const emu = await startEmulator()
const dir = mkdtempSync(join(tmpdir(), "just-one-init-bench-"))
const results: Record<string, unknown> = {}
for (const mode of modes) {
  log(`${mode.name}:`)
  const cold = wanted("cold") && mode.processFigures ? await measureColdStart(emu, mode, dir) : []
  const steady = wanted("steady")
    ? await measureSteadyState(emu, mode, dir)
    : { leaderPerMinute: NaN, followerPerMinute: NaN, leaderRssMb: NaN, followerRssMb: NaN }
  const handover = wanted("handover")
    ? await measureHandovers(emu, mode, dir)
    : { gaps: [], overlaps: 0, legs: handoverLegs.map(() => NaN) }
  const crash = wanted("crash") ? await measureCrashes(emu, mode, dir) : []
  results[mode.name] = {
    gracefulHandoverMs: {
      p50: pct(handover.gaps, 50),
      p95: pct(handover.gaps, 95),
      n: handover.gaps.length,
      overlaps: handover.overlaps,
      legsMedianMs: Object.fromEntries(handoverLegs.map((leg, i) => [leg, handover.legs[i]]))
    },
    crashTakeoverBeyondExpiryMs: { p50: pct(crash, 50), p95: pct(crash, 95), n: crash.length },
    requestsPerMinute: { follower: steady.followerPerMinute, leader: steady.leaderPerMinute },
    coldStartMs: { median: pct(cold, 50), n: cold.length },
    rssMb: { idleFollower: steady.followerRssMb, leader: steady.leaderRssMb }
  }
}
// A misbehaving server: the follower's request rate for each kind of misbehaviour.
const misbehaviour = wanted("misbehaviour") ? await requestRates(emu, dir, steadyMs, log) : undefined
// The single executable beside the bundle: cold start, idle memory, size.
const startup = wanted("startup") ? await measureStartup(emu, dir, coldStarts, log) : undefined
const tracing = wanted("tracing")
  ? await measureTracing(emu, dir, { coldStarts: quick ? 10 : 20, rssRuns: quick ? 2 : 3, log })
  : undefined
// How soon the child starts after its last gate passes: a Kubernetes gate and a TCP gate.
const gates = wanted("gates") ? await measureGates(emu, dir, quick ? 5 : 10, log) : undefined
// Leadership moved on purpose (the handover command), and what a frozen leader's child does after its thaw.
const moves = wanted("moves") ? await measureHandover(emu, dir, quick ? 5 : 10, log) : undefined
await emu.close()

/**
 * The API server's load for N singletons of three replicas each, from the per-replica rates this run measured:
 * requests a minute (each follower's and the leader's), and watches held open (one per replica here, none for
 * the polling baseline).
 */
const fleetTable = () => {
  const rates = (name: string) =>
    (results[name] as { requestsPerMinute: { follower: number; leader: number } })
      .requestsPerMinute
  const [ours, baseline] = modes.map((m) => rates(m.name)) as [
    { follower: number; leader: number },
    { follower: number; leader: number }
  ]
  const perMinute = (r: { follower: number; leader: number }, n: number) => (n * (r.leader + 2 * r.follower)).toFixed(0)
  return [
    "| N singletons × 3 replicas | just-one-init: requests/min, watches held | client-go polling: requests/min, watches held |",
    "|---|---|---|",
    ...[1, 100, 1_000].map((n) =>
      `| N = ${n.toLocaleString("en")} | ${perMinute(ours, n)}, ${3 * n} | ${perMinute(baseline, n)}, 0 |`
    )
  ].join("\n")
}

/** A figure, or "-" where it was not measured (--only, or a process figure of the baseline). */
const fig = (x: number, digits = 0) => (Number.isNaN(x) ? "-" : x.toFixed(digits))
const row = (label: string, f: (r: any) => string) =>
  `| ${label} | ${modes.map((m) => f(results[m.name])).join(" | ")} |`
const table = [
  `| timings: lease 15 s, renew deadline 10 s, retry 2 s | ${modes.map((m) => m.name).join(" | ")} |`,
  `|---|${modes.map(() => "---").join("|")}|`,
  row(
    "graceful handover p50 / p95 (ms)",
    (r) => `${fig(r.gracefulHandoverMs.p50)} / ${fig(r.gracefulHandoverMs.p95)} (n=${r.gracefulHandoverMs.n})`
  ),
  row(
    "crash takeover beyond expiry p50 / p95 (ms)",
    (r) =>
      `${fig(r.crashTakeoverBeyondExpiryMs.p50)} / ${
        fig(r.crashTakeoverBeyondExpiryMs.p95)
      } (n=${r.crashTakeoverBeyondExpiryMs.n})`
  ),
  row(
    "API requests per minute: follower / leader",
    (r) => `${fig(r.requestsPerMinute.follower, 1)} / ${fig(r.requestsPerMinute.leader, 1)}`
  ),
  row("cold start to child exec, median (ms)", (r) => fig(r.coldStartMs.median)),
  row("RSS idle follower / leader (MB)", (r) => `${fig(r.rssMb.idleFollower)} / ${fig(r.rssMb.leader)}`),
  row("children overlapping", (r) => `${r.gracefulHandoverMs.overlaps}`)
].join("\n")
console.log(table)
const ourLegs = (results["just-one-init"] as { gracefulHandoverMs: { legsMedianMs: Record<string, number> } })
  .gracefulHandoverMs.legsMedianMs
if (wanted("handover")) {
  console.log(
    `\n| graceful handover, where the time goes (just-one-init, median of each leg) | ms |\n|---|---|\n${
      handoverLegs.map((leg) => `| ${leg} | ${fig(ourLegs[leg]!)} |`).join("\n")
    }`
  )
}
console.log(
  "\nThe baseline is bench/client-go/elector.ts: client-go's leader election ported to client-node (polls every"
    + " retry period × (1 + 1.2·random), takes a held lease only once it has seen it unchanged for a lease, releases"
    + " on SIGTERM after its child stopped). Cold start and RSS are the product's process figures: \"-\" for it."
)
if (misbehaviour !== undefined) console.log(`\n${misbehaviourTable(misbehaviour)}`)
if (startup !== undefined) console.log(`\n${startupTable(startup)}`)
if (tracing !== undefined) console.log(`\n${tracingTable(tracing)}`)
if (gates !== undefined) console.log(`\n${gatesTable(gates)}`)
if (moves !== undefined) console.log(`\n${handoverTable(moves)}`)
if (wanted("steady")) console.log(`\n${fleetTable()}`)
mkdirSync(join(root, "bench"), { recursive: true })
if (only === undefined) {
  writeFileSync(
    join(root, "bench", "results.json"),
    `${
      JSON.stringify(
        {
          date: new Date().toISOString(),
          quick,
          node: process.version,
          results,
          misbehaviour,
          startup,
          tracing,
          gates,
          moves
        },
        null,
        2
      )
    }\n`
  )
}
if (only === undefined) console.log(`\nwritten to bench/results.json`)
