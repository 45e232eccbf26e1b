// A follower's API requests per minute while the server misbehaves, with the default timings
// (lease 15 s, renew deadline 10 s, retry 2 s): the budget is 60 a minute whatever the server answers.
// One leader and one follower per kind of misbehaviour, all kinds at once on leases of their own;
// the fault applies to the follower only.
import { join } from "node:path"
import type { Emulator, Fault } from "../emulator/index.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually, startReplica } from "../harness/replica.ts"
import { releasedLease } from "./bench-startup.ts"

export const misbehaviours: ReadonlyArray<readonly [string, Fault]> = [
  ["503 on every request", { status: 503 }],
  ["429, Retry-After: 0, on every request", { status: 429, retryAfterSeconds: 0 }],
  ["429, Retry-After: 5, on every request", { status: 429, retryAfterSeconds: 5 }],
  ["connection reset on every request", { reset: true }],
  ["watch ERROR event on every watch", { watch: "error-event", verbs: ["watch"] }],
  ["every watch ends at once", { watch: "end-at-once", verbs: ["watch"] }]
]

const timings = { leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s", stopGrace: "4s" }

export const requestRates = async (emu: Emulator, dir: string, windowMs: number, log: (s: string) => void) => {
  const all: Array<Replica> = []
  const pairs = misbehaviours.map(([name, fault], i) => {
    const lease = `misbehaviour-${i}`
    emu.setLease("default", lease, releasedLease)
    const start = (role: string) => {
      const id = `${lease}-${role}`
      const kubeconfig = join(dir, `${id}.kubeconfig`)
      emu.writeKubeconfig(kubeconfig, id, "default")
      const r = startReplica({
        id,
        kubeconfig,
        leaseName: lease,
        childLog: join(dir, `${lease}.jsonl`),
        timings,
        command: ["/bin/sleep", "600"]
      })
      all.push(r)
      return r
    }
    return { name, fault, lease, leader: start("leader"), follower: undefined as Replica | undefined, start }
  })
  for (const p of pairs) {
    await eventually(() => emu.getLease("default", p.lease)?.spec.holderIdentity || undefined, "a leader", 30_000)
    p.follower = p.start("follower")
    await emu.watchOpened(p.follower.id)
  }
  const total = (id: string) => Object.values(emu.requests(id)).reduce((a, b) => a + b, 0)
  const before = new Map(pairs.map((p) => [p.name, total(p.follower!.id)]))
  for (const p of pairs) {
    emu.setFault(p.follower!.id, p.fault)
    emu.dropWatches(p.follower!.id)
  }
  log(`  misbehaving server: measuring ${pairs.length} followers for ${windowMs / 1000} s`)
  await new Promise((r) => setTimeout(r, windowMs))
  const rates = pairs.map((p) => ({
    name: p.name,
    perMinute: ((total(p.follower!.id) - before.get(p.name)!) * 60_000) / windowMs
  }))
  for (const p of pairs) emu.setFault(p.follower!.id, undefined)
  for (const r of all) r.signal("SIGTERM")
  await Promise.all(all.map((r) => r.exited))
  return rates
}

export const misbehaviourTable = (rates: Awaited<ReturnType<typeof requestRates>>) =>
  [
    "| the server answers the follower with | follower requests per minute (budget 60) |",
    "|---|---|",
    ...rates.map((r) => `| ${r.name} | ${r.perMinute.toFixed(1)} |`)
  ].join("\n")
