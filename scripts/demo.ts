// npm run demo: three replicas of just-one-init on a local Kubernetes-API-compatible
// lease server, a graceful handover (SIGTERM) and a crash takeover (SIGKILL of the
// leader's whole tree), then the replicas' own logs merged by `just-one-init timeline`.
// Needs no cluster; ends by itself.
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "../emulator/index.ts"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually, nodeBin, root, startReplica, wrapperPath } from "../harness/replica.ts"

// A shell child that records its own start and stop: it starts in a millisecond, so the
// handover figure below is the wrapper's, not a child's boot time.
const demoChild = ["/bin/sh", join(root, "harness/recording-child.sh")]

const t0 = Date.now()
const say = (who: string, what: string) =>
  console.log(`${`+${((Date.now() - t0) / 1000).toFixed(3)}s`.padStart(9)}  ${who.padEnd(10)} ${what}`)
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

const emu = await startEmulator()
const dir = mkdtempSync(join(tmpdir(), "just-one-init-demo-"))
const childLog = join(dir, "children.jsonl")
const timings = { leaseDuration: "5s", renewDeadline: "3s", retryPeriod: "1s", stopGrace: "1s" }
say(
  "api",
  `Kubernetes API emulator on ${emu.url}; lease default/demo, duration 5s, renew deadline 3s, retry 1s, stop grace 1s`
)
// The Lease shipped with the app, as k8s/lease.yaml does: metadata only, so the first replicas elect at once
// (a Lease never seen is waited out for one lease before it is created, in case a holder is still running).
emu.putObject({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "demo", namespace: "default" } })

const replicas: Array<Replica> = ["replica-1", "replica-2", "replica-3"].map((id) => {
  const kubeconfig = join(dir, `${id}.kubeconfig`)
  emu.writeKubeconfig(kubeconfig, id, "default")
  const r = startReplica({ id, kubeconfig, leaseName: "demo", childLog, timings, command: demoChild })
  r.onLine = (l) => {
    if (l.level === "WARN" || l.level === "ERROR" || l.message.startsWith("lease absent")) say(id, l.message)
  }
  return r
})

const holder = () => emu.getLease("default", "demo")?.spec?.holderIdentity ?? undefined
const startsBy = (id: string) => readRecords(childLog).filter((r) => r.event === "start" && r.id === id)
const leaderWithChild = () =>
  eventually(() => {
    const h = holder()
    return h !== undefined && h !== "" && startsBy(h).length > 0
      ? replicas.find((r) => r.id === h && r.exitCode === undefined)
      : undefined
  }, "a leader with a running child")

const first = await leaderWithChild()
await pause(2500)

say("demo", `SIGTERM → ${first.id} (graceful handover)`)
first.signal("SIGTERM")
const { code } = await first.exited
say(first.id, `wrapper exited with ${code}`)
const second = await leaderWithChild()
const stop1 = readRecords(childLog).find((r) => r.event === "stop" && r.id === first.id)!
const start2 = startsBy(second.id).at(-1)!
await pause(2500)

say("demo", `SIGKILL → ${second.id} and its child (crash: no release, the lease must expire)`)
const killedAt = Date.now()
await second.killTree()
const third = await leaderWithChild()
const start3 = startsBy(third.id).at(-1)!
await pause(1500)

say("demo", "SIGTERM → every replica")
for (const r of replicas) if (r.exitCode === undefined) r.signal("SIGTERM")
await Promise.all(replicas.map((r) => r.exited))
await emu.close()

// The timeline, as an operator would get it from the replicas' logs.
const logs = replicas.map((r) => {
  const file = join(dir, `${r.id}.log`)
  writeFileSync(file, r.stderr)
  return file
})
console.log(`\n$ just-one-init timeline ${replicas.map((r) => `${r.id}.log`).join(" ")}`)
const timeline = spawnSync(nodeBin, [wrapperPath, "timeline", ...logs], { encoding: "utf8" })
process.stdout.write(timeline.stdout + timeline.stderr)

// The SIGKILLed child wrote no stop line: it ended when its tree was killed.
const found = overlaps(lives(readRecords(childLog), { kills: [{ id: second.id, t: killedAt }] }))
console.log("\nthe children's own records:")
console.log(`graceful handover: old child stopped → new child started in ${start2.t - stop1.t} ms`)
console.log(
  `crash takeover:    new child started ${
    ((start3.t - killedAt) / 1000).toFixed(2)
  } s after the kill (lease duration 5 s; the last renew was up to 1 s before the kill)`
)
console.log(`children that overlapped: ${found.length}${found.length > 0 ? `\n${found.join("\n")}` : ""}`)
process.exit(found.length === 0 ? 0 : 1)
