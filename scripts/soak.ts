// npm run soak -- --minutes N --seed S [--json]
// A chaos soak: real wrapper processes (each PID 1 of its own PID namespace where `unshare`
// is allowed, else in its own process group) around a real child, against the API emulator,
// while a seeded random schedule injects faults. The children record their own lives; at
// the end it prints episodes, faults, overlaps (must be 0), the longest time with no
// child while some replica was healthy and reachable, against the bound it must stay under,
// and how long a child thawed from a frozen pod ran before its wrapper killed it.
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "../emulator/index.ts"
import type { Fault } from "../emulator/index.ts"
import type { Freeze } from "../harness/lives.ts"
import { lives, overlaps, readRecords, runsAfterThaw, thawOverlaps } from "../harness/lives.ts"
import { running } from "../harness/procfs.ts"
import { childPath, nodeBin, Replica, wrapperPath } from "../harness/replica.ts"
import { childrenOf, descendantsOf } from "../src/services/ProcessTree.ts"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback
}
const minutes = Number(arg("minutes", "1"))
const seed = Number(arg("seed", "1"))
const asJson = process.argv.includes("--json")
const say = (s: string) => {
  if (!asJson) console.log(s)
}

// Fast timings, so a minute holds many episodes: R + G < D, P < R.
const D = 4_000
const R = 2_500
const P = 500
const G = 1_000
// No child for longer than this while a healthy, reachable replica existed is a failure: a crashed
// leader's lease expires after D; a follower acts on it within a retry period; the old child may take G.
const bound = D + 2 * P + G + 1_000
// A child thawed with its pod runs until its wrapper, thawed right after it, kills it: a few ms. Above
// this it is a failure (a graceful stop begun after the thaw would take up to G).
const afterThawBound = 250

let state = seed >>> 0 || 1
const rand = () => {
  state = (state + 0x6d2b79f5) | 0
  let t = Math.imul(state ^ (state >>> 15), state | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const between = (a: number, b: number) => a + rand() * (b - a)
const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]!
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

const canUnshare = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]).status === 0
// libfaketime by LD_PRELOAD (the faketime wrapper's semaphore is named after its pid, which
// clashes between PID namespaces where every wrapper is pid 1).
const libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
const hasFaketime = existsSync(libfaketime)

const emu = await startEmulator()
const dir = mkdtempSync(join(tmpdir(), "just-one-init-soak-"))
const childLog = join(dir, "children.jsonl")
const leaseName = "soak"

/** Intervals in which a replica (or, with id "*", every replica) was not healthy and reachable. */
const impaired: Array<{ id: string; from: number; to: number }> = []
const kills: Array<{ id: string; t: number }> = []
const freezes: Array<Freeze> = []
/** Freezes under way: each records its processes' deaths after the thaw, which the overlap check needs. */
const freezing = new Set<Promise<void>>()
/** Slots whose pod is frozen now: no other fault touches them until they thaw. */
const frozenSlots = new Set<string>()
const faults: Record<string, number> = {}
const count = (k: string, who = "") => {
  faults[k] = (faults[k] ?? 0) + 1
  note(who, `FAULT ${k}`)
}

interface Slot {
  readonly id: string
  replica: Replica | undefined
  readonly offsetClock: boolean
  /** The exit code its child ends with by itself, when this launch's child does. */
  selfExitCode: number | undefined
}
const slots: Array<Slot> = ["r1", "r2", "r3"].map((id, i) => ({
  id,
  replica: undefined,
  offsetClock: hasFaketime && i === 2,
  selfExitCode: undefined
}))

/**
 * Each launch's children behave one way: plain; slow to stop, leaving a SIGTERM-ignoring process in
 * their group; with a grandchild that left the group (setsid); or ending by themselves now and then,
 * often while a step-down is under way. Every process records its life, so the overlap check sees them all.
 */
const personality = (slot: Slot): Record<string, string> => {
  const roll = rand()
  slot.selfExitCode = undefined
  if (roll < 0.3) return {}
  if (roll < 0.45) {
    count("child-slow-stop-stubborn-group", slot.id)
    return { CHILD_TERM_DELAY_MS: String(Math.round(between(300, 900))), CHILD_DESCENDANTS: "group-stubborn" }
  }
  if (roll < 0.6) {
    // Nearly the whole grace to stop: a graceful stop begun late (after a freeze) would overlap the next child.
    count("child-stops-near-grace", slot.id)
    return { CHILD_TERM_DELAY_MS: String(Math.round(between(0.85 * G, 0.98 * G))) }
  }
  if (roll < 0.8) {
    count("child-setsid-grandchild", slot.id)
    return { CHILD_DESCENDANTS: pick(["setsid", "setsid-stubborn"]) }
  }
  slot.selfExitCode = 1 + Math.floor(rand() * 100)
  count("child-exits-by-itself", slot.id)
  return {
    CHILD_EXIT_AFTER_MS: String(Math.round(between(1_000, 8_000))),
    CHILD_EXIT_CODE: String(slot.selfExitCode),
    CHILD_DESCENDANTS: "group-stubborn"
  }
}

/** The wrapper's own pid: under unshare it is the launcher's child (PID 1 inside). */
const wrapperPid = (r: Replica) => (canUnshare ? childrenOf(r.proc.pid!)[0] : r.proc.pid)

const launch = (slot: Slot) => {
  const kubeconfig = join(dir, `${slot.id}.kubeconfig`)
  emu.writeKubeconfig(kubeconfig, slot.id, "default")
  // The child records its life on the true clock: the offset clock is the wrapper's alone.
  const child = slot.offsetClock
    ? ["/usr/bin/env", "-u", "LD_PRELOAD", "-u", "FAKETIME", nodeBin, childPath]
    : [nodeBin, childPath]
  const wrapper = [
    nodeBin,
    wrapperPath,
    "--lease-duration",
    `${D}ms`,
    "--renew-deadline",
    `${R}ms`,
    "--retry-period",
    `${P}ms`,
    "--stop-grace",
    `${G}ms`,
    "--",
    ...child
  ]
  const argv = [...(canUnshare ? ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] : []), ...wrapper]
  const proc = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    detached: !canUnshare,
    env: {
      PATH: process.env["PATH"] ?? "",
      KUBECONFIG: kubeconfig,
      LEASE_NAME: leaseName,
      POD_NAME: slot.id,
      POD_NAMESPACE: "default",
      LISTEN_ADDR: "127.0.0.1:0",
      CHILD_LOG: childLog,
      CHILD_ID: slot.id,
      ...personality(slot),
      ...(slot.offsetClock ? { LD_PRELOAD: libfaketime, FAKETIME: "+1h", FAKETIME_DONT_FAKE_MONOTONIC: "1" } : {})
    }
  })
  const r = new Replica(slot.id, proc)
  // Not healthy until it is up: a replica that never comes up must not count as one that could lead.
  const starting = { id: slot.id, from: Date.now(), to: Number.POSITIVE_INFINITY }
  impaired.push(starting)
  r.onLine = (l) => {
    if (l.message === "health server listening") starting.to = Date.now()
    else if (l.message === "transition") {
      note(slot.id, `${l.annotations["from"]} -> ${l.annotations["to"]} (${l.annotations["reason"]})`)
    } else if (l.level !== "INFO") note(slot.id, `${l.level} ${l.message}`)
  }
  // A wrapper exits by itself only with its child's own code; any other exit is a failure of the soak.
  const selfExitCode = slot.selfExitCode
  void r.exited.then(({ code, signal }) => {
    if (!stopping.has(r) && selfExitCode !== undefined && code === selfExitCode && !ending) {
      count("exit-with-child-code", slot.id)
      impair(slot.id, 1_000 + D + 2_000)
      void pause(500).then(() => ending ? undefined : launch(slot))
    } else if (!stopping.has(r)) {
      unexpectedExits.push(
        `${slot.id} exited with ${code ?? signal} at ${Date.now() - startedAt} ms: ${r.stderr.slice(-300)}`
      )
      impaired.push({ id: slot.id, from: Date.now(), to: Number.POSITIVE_INFINITY })
    }
  })
  slot.replica = r
}

const timeline: Array<string> = []
/** Set once the soak is winding down: no more relaunches. */
let ending = false
/** Replicas the soak itself stopped; any other exit is unexpected. */
const stopping = new Set<Replica>()
const unexpectedExits: Array<string> = []
const note = (who: string, what: string) =>
  timeline.push(`${String(Date.now() - startedAt).padStart(7)} ${who.padEnd(4)} ${what}`)
const impair = (id: string, ms: number) => impaired.push({ id, from: Date.now(), to: Date.now() + ms })

/** Kill a replica's whole tree at once, as a node failure would, and bring it back later. */
const kill = async (slot: Slot, signal: "SIGKILL" | "SIGTERM") => {
  const r = slot.replica
  if (r === undefined || r.exitCode !== undefined) return
  const pid = wrapperPid(r)
  if (pid === undefined) return
  const down = between(500, 2_000)
  stopping.add(r)
  if (signal === "SIGKILL") {
    kills.push({ id: slot.id, t: Date.now() })
    if (canUnshare) process.kill(pid, "SIGKILL") // PID 1 of the namespace: the kernel kills everything in it
    else await r.killTree()
  } else {
    process.kill(pid, "SIGTERM")
  }
  // A restarted replica that finds its own name on the lease waits it out: impaired for D after it is back.
  impair(slot.id, down + D + 2_000)
  count(signal === "SIGKILL" ? "sigkill-tree" : "sigterm", slot.id)
  await r.exited
  await pause(down)
  launch(slot)
  count("restart", slot.id)
}

/** The pid a process has in its own PID namespace (what it records), from the host's /proc. */
const nsPid = (pid: number): number | undefined => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"))
    return Number(line?.split(/\s+/).at(-1))
  } catch {
    return undefined
  }
}

/**
 * Freeze a replica's whole pod (its wrapper and every process below it), as a cgroup freeze, `docker
 * pause` or a node stall would, for longer than a lease; then thaw it in the worst order, the child side
 * first and the wrapper after, and watch (every millisecond) how long each thawed process lives on.
 */
const freeze = async (slot: Slot) => {
  const r = slot.replica
  const wrapper = r === undefined || r.exitCode !== undefined ? undefined : wrapperPid(r)
  if (r === undefined || wrapper === undefined) return
  frozenSlots.add(slot.id)
  const ms = between(D + 500, D + 3_000)
  impair(slot.id, ms + D + 2_000)
  count("freeze-pod", slot.id)
  const from = Date.now()
  process.kill(wrapper, "SIGSTOP")
  // Stopped, the wrapper starts nothing new: what is below it now is the whole pod.
  const below = (() => {
    try {
      return descendantsOf(wrapper)
    } catch {
      return []
    }
  })().map((pid) => ({ pid, ns: nsPid(pid) }))
  for (const { pid } of below) signalIfAlive(pid, "SIGSTOP")
  await pause(ms)
  for (const { pid } of below) signalIfAlive(pid, "SIGCONT")
  const to = Date.now()
  signalIfAlive(wrapper, "SIGCONT")
  frozenSlots.delete(slot.id)
  const deathOf = new Map<number, number>()
  const watchUntil = Date.now() + 3_000
  while (deathOf.size < below.length && Date.now() < watchUntil) {
    for (const { pid } of below) if (!deathOf.has(pid) && !running(pid)) deathOf.set(pid, Date.now())
    await pause(1)
  }
  for (const { pid, ns } of below) {
    if (ns !== undefined) freezes.push({ id: slot.id, pid: ns, from, to, diedAt: deathOf.get(pid) })
  }
}

const signalIfAlive = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch {
    // Gone already.
  }
}

const setFaultFor = (id: string, fault: Fault, ms: number, kind: string) => {
  emu.setFault(id, fault)
  impair(id, ms + R)
  count(kind, id)
  setTimeout(() => emu.setFault(id, undefined), ms)
}

const injectOne = async () => {
  const slot = pick(slots)
  const roll = rand()
  if (frozenSlots.has(slot.id)) return
  if (roll < 0.14) await kill(slot, "SIGKILL")
  else if (roll < 0.26) await kill(slot, "SIGTERM")
  else if (roll < 0.40) {
    // A partition: nothing this replica sends gets an answer, its watch included.
    setFaultFor(slot.id, { hang: true }, between(2_000, 8_000), "partition")
    emu.dropWatches(slot.id)
  } else if (roll < 0.46) {
    // Ambiguous writes: they commit on the server, but their answers never come back.
    setFaultFor(
      slot.id,
      { hang: true, afterCommit: true, verbs: ["create", "update"] },
      between(2_000, 6_000),
      "lost-answers"
    )
  } else if (roll < 0.52) {
    setFaultFor(slot.id, { latencyMs: Math.round(between(100, 1_500)) }, between(2_000, 6_000), "latency")
  } else if (roll < 0.62) {
    setFaultFor(
      rand() < 0.5 ? slot.id : "*",
      { status: pick([500, 503]), count: Math.round(between(2, 8)) },
      3_000,
      "5xx-burst"
    )
  } else if (roll < 0.66) {
    setFaultFor(slot.id, { status: 429, retryAfterSeconds: 1, count: Math.round(between(1, 4)) }, 3_000, "429-burst")
  } else if (roll < 0.70) {
    // A server that asks for no pause at all: every request answered 429 with Retry-After: 0.
    setFaultFor(slot.id, { status: 429, retryAfterSeconds: 0 }, between(2_000, 6_000), "429-retry-after-0")
  } else if (roll < 0.78) {
    setFaultFor(slot.id, { reset: true, count: Math.round(between(1, 5)) }, 2_000, "connection-reset")
  } else if (roll < 0.84) {
    emu.dropWatches(rand() < 0.5 ? slot.id : undefined)
    count("watch-drop")
  } else if (roll < 0.90) {
    // Watches that end as soon as they open, or answer with an ERROR event: a hot loop waiting to happen.
    const kind = pick(["end-at-once", "error-event"] as const)
    emu.dropWatches(slot.id)
    setFaultFor(slot.id, { watch: kind, verbs: ["watch"] }, between(3_000, 10_000), `watch-${kind}`)
  } else if (roll < 0.93) {
    emu.expireWatches()
    emu.compact()
    count("watch-410")
  } else if (roll < 0.97) {
    // Mostly the leader's pod: a frozen follower teaches little.
    const holder = slots.find((s) => s.id === emu.getLease("default", leaseName)?.spec.holderIdentity)
    const target = holder !== undefined && !frozenSlots.has(holder.id) && rand() < 0.75 ? holder : slot
    const frozen = freeze(target)
    freezing.add(frozen)
    void frozen.finally(() => freezing.delete(frozen))
  } else {
    const downMs = Math.round(between(100, 1_000))
    // A follower that finds the lease gone cannot know when its holder last renewed, so it waits a
    // full lease from then (safety first): with the old leader gone too, that is up to two leases.
    impair("*", downMs + 2 * D + 2 * P)
    count("api-restart-lost-state")
    await emu.restart({ loseState: true, downMs })
  }
}

const startedAt = Date.now()
say(
  `soak: ${minutes} min, seed ${seed}, ${slots.length} replicas, ${
    canUnshare ? "each PID 1 of its own PID namespace" : "each in its own process group (unshare not permitted)"
  }, ${
    hasFaketime ? "r3's clock 1 h ahead" : "no clock offset (faketime missing)"
  }; lease ${D} ms, renew deadline ${R} ms, retry ${P} ms, stop grace ${G} ms`
)
if (hasFaketime) count("clock-offset-replica")
for (const s of slots) launch(s)
impair("*", D + 2_000)
/** Each replica's request count and whether it held the lease, every second: for the followers' request rates. */
const samples: Array<{ t: number; counts: Record<string, number>; holder: string | undefined }> = []
const sampling = setInterval(() => {
  const counts = Object.fromEntries(
    slots.map((s) => [s.id, Object.values(emu.requests(s.id)).reduce((a, b) => a + b, 0)])
  )
  samples.push({ t: Date.now(), counts, holder: emu.getLease("default", leaseName)?.spec.holderIdentity ?? undefined })
}, 1_000)
const endAt = startedAt + minutes * 60_000
while (Date.now() < endAt - 3_000) {
  await pause(between(700, 2_200))
  await injectOne()
}
for (const s of slots) emu.setFault(s.id, undefined)
emu.setFault("*", undefined)
await pause(Math.max(0, endAt - Date.now()))
ending = true
clearInterval(sampling)
const finishedAt = Date.now()
for (const s of slots) {
  const r = s.replica
  const pid = r === undefined ? undefined : wrapperPid(r)
  if (r !== undefined && r.exitCode === undefined && pid !== undefined) {
    stopping.add(r)
    process.kill(pid, "SIGTERM")
  }
}
await Promise.all(slots.map((s) => s.replica?.exited))
// A pod frozen near the end thaws after it: its record must be in before the lives are judged.
await Promise.all(freezing)
await emu.close()

// Each child's life from its own records; a SIGKILLed child ends when its tree was killed.
const records = readRecords(childLog)
const allLives = lives(records, { kills, freezes })
const overlapping = overlaps(allLives, startedAt)
// How long each process of a child in a frozen pod lived on after the thaw, and beside another child.
const afterThaw = runsAfterThaw(allLives, finishedAt)
const longestAfterThaw = afterThaw[0]?.ms ?? 0
const besideAfterThaw = thawOverlaps(allLives)[0]
const thawsWithChild = new Set(afterThaw.flatMap(({ life }) => life.frozen.map((f) => `${life.id}@${f.from}`))).size
const childLives = allLives.filter((l) => l.role === "child")

// The highest request rate of any replica over a window in which it never held the lease. The budget
// is 60 a minute at the default 2 s retry period; the soak's retry period is shorter, so it scales.
const windowMs = Math.min(60_000, Math.max(10_000, (finishedAt - startedAt) / 2))
const budgetPerMin = 60 * (2_000 / P)
let followerPeak = { perMin: 0, id: "", at: 0 }
for (let i = 0; i < samples.length; i++) {
  const first = samples[i]!
  const lastIndex = samples.findIndex((x) => x.t >= first.t + windowMs)
  if (lastIndex === -1) break
  const window = samples.slice(i, lastIndex + 1)
  for (const slot of slots) {
    if (window.some((x) => x.holder === slot.id)) continue
    const n = (window.at(-1)!.counts[slot.id] ?? 0) - (first.counts[slot.id] ?? 0)
    const perMin = Math.round((n * 60_000) / (window.at(-1)!.t - first.t))
    if (perMin > followerPeak.perMin) followerPeak = { perMin, id: slot.id, at: first.t - startedAt }
  }
}

/** Was some replica healthy and reachable at time t (alive, unfaulted, API up)? */
const someoneHealthy = (t: number) =>
  !impaired.some((x) => x.id === "*" && x.from <= t && t < x.to)
  && slots.some((s) => !impaired.some((x) => x.id === s.id && x.from <= t && t < x.to))

// Longest stretch with no child while a healthy replica existed, sampled every 10 ms.
let longest = 0
let longestEnd = 0
let run = 0
for (let t = startedAt + D + 2_000; t < finishedAt; t += 10) {
  const childRuns = childLives.some((l) => l.start <= t && t < (l.end ?? Number.POSITIVE_INFINITY))
  run = !childRuns && someoneHealthy(t) ? run + 10 : 0
  if (run > longest) {
    longest = run
    longestEnd = t
  }
}
if (process.argv.includes("--timeline")) {
  for (const l of childLives) {
    note(l.id, `child ${l.pid} [${l.start - startedAt}, ${(l.end ?? finishedAt) - startedAt})`)
  }
  console.error(
    `longest gap ends at ${longestEnd - startedAt} ms\n${
      timeline.sort((a, b) => Number(a.slice(0, 7)) - Number(b.slice(0, 7))).join("\n")
    }`
  )
}

const result = {
  seed,
  minutes,
  episodes: childLives.length,
  faults,
  overlaps: overlapping.length,
  longestNoChildMs: longest,
  boundMs: bound,
  unexpectedExits: unexpectedExits.length,
  followerPeakRequestsPerMin: followerPeak.perMin,
  followerBudgetPerMin: budgetPerMin,
  thawsWithChild,
  longestRunAfterThawMs: longestAfterThaw,
  longestBesideAnotherAfterThawMs: besideAfterThaw?.ms ?? 0,
  afterThawBoundMs: afterThawBound,
  pidNamespaces: canUnshare
}
if (asJson) console.log(JSON.stringify(result))
else {
  say(`episodes (children started): ${childLives.length}; processes recorded: ${allLives.length}`)
  say(`faults: ${Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(", ")}`)
  say(`overlaps: ${overlapping.length}${overlapping.length > 0 ? `\n  ${overlapping.join("\n  ")}` : ""}`)
  say(`longest time with no child while a replica was healthy and reachable: ${longest} ms (bound ${bound} ms)`)
  say(
    `frozen pods thawed with processes of a child: ${thawsWithChild}; longest a thawed process of a child ran on: ${longestAfterThaw} ms (bound ${afterThawBound} ms); longest beside another episode's child after a thaw: ${
      besideAfterThaw === undefined ? "0 ms" : `${besideAfterThaw.ms} ms (${besideAfterThaw.what})`
    }`
  )
  say(
    `highest follower request rate: ${followerPeak.perMin}/min (${followerPeak.id}, ${
      windowMs / 1000
    } s window from ${followerPeak.at} ms; budget ${budgetPerMin}/min at retry ${P} ms, i.e. 60/min at 2 s)`
  )
  say(
    `unexpected wrapper exits: ${unexpectedExits.length}${
      unexpectedExits.length > 0 ? `\n  ${unexpectedExits.join("\n  ")}` : ""
    }`
  )
}
const ok = overlapping.length === 0 && longest <= bound && unexpectedExits.length === 0
  && followerPeak.perMin <= budgetPerMin && longestAfterThaw <= afterThawBound
process.exit(ok ? 0 : 1)
