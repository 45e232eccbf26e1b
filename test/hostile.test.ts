/**
 * Hostile API answers (an HTML page from a proxy, non-JSON, a body cut off,
 * a body that trickles forever) and hostile Leases written by others: the
 * elector treats them as failures bounded by its timeouts, keeps the child
 * through short bursts, and stops it in time when they last.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { Emulator } from "./emulator/index.ts"
import { startEmulator } from "./emulator/index.ts"
import type { Replica } from "./support/cluster.ts"
import { eventually, lives, overlaps, readRecords, startReplica } from "./support/cluster.ts"

let emu: Emulator
let dir: string
let replicas: Array<Replica>
let n = 0

beforeEach(async () => {
  emu = await startEmulator()
  dir = mkdtempSync(join(tmpdir(), "joi-hostile-"))
  replicas = []
})
afterEach(async () => {
  await Promise.all(replicas.map((r) => (r.exitCode === undefined ? r.killTree() : Promise.resolve())))
  await emu.close()
})

const leaderUp = async (id = "leader") => {
  const leaseName = `hostile-${++n}`
  const childLog = join(dir, `${leaseName}.jsonl`)
  const kubeconfig = join(dir, `${id}.kubeconfig`)
  emu.writeKubeconfig(kubeconfig, id, "default")
  const r = startReplica({ id, kubeconfig, leaseName, childLog })
  replicas.push(r)
  await eventually(() => readRecords(childLog).find((x) => x.event === "start"), "the child")
  return { r, leaseName, childLog, lease: () => emu.getLease("default", leaseName)! }
}

describe("hostile API answers", () => {
  it.each(["html", "garbage", "truncated"] as const)("a short burst of %s answers does not stop the child", async (body) => {
    const { childLog, lease, r } = await leaderUp()
    emu.setFault("leader", { body, verbs: ["update"], count: 2 })
    const rv = lease().metadata.resourceVersion
    // Two failed renews, then the next one succeeds (the lease moves on), all within the deadline.
    await eventually(() => (emu.requests("leader").update >= 3 && lease().metadata.resourceVersion !== rv ? true : undefined), "a renew after the burst")
    expect(readRecords(childLog).filter((x) => x.event === "stop")).toEqual([])
    expect(lease().spec.holderIdentity).toBe("leader")
    expect(r.lines.some((l) => l.level === "WARN")).toBe(true)
  })

  it("a body that trickles forever is cut off by the request timeout, and the child is stopped before the lease can expire", async () => {
    const { childLog, lease } = await leaderUp()
    const from = Date.now()
    emu.setFault("leader", { body: "slowloris" })
    const stop = await eventually(() => readRecords(childLog).find((x) => x.event === "stop"), "the child to stop")
    // Renew deadline 2.5 s counted from the last renew sent; stop grace 1 s; lease 4 s.
    expect(stop.t - from).toBeLessThan(4_000)
    // Nothing got through (not even the release), yet the child was stopped on time.
    expect(lease().spec.holderIdentity).toBe("leader")
  })

  it("a 429 with Retry-After and 5xx bursts are retried without stopping the child", async () => {
    const { childLog, lease } = await leaderUp()
    emu.setFault("leader", { status: 429, retryAfterSeconds: 1, verbs: ["update"], count: 1 })
    await eventually(() => (emu.requests("leader").update >= 2 ? true : undefined), "the 429")
    emu.setFault("leader", { status: 503, verbs: ["update"], count: 2 })
    const rv = lease().metadata.resourceVersion
    await eventually(() => (lease().metadata.resourceVersion !== rv ? true : undefined), "a renew after the 503s")
    emu.setFault("leader", { reset: true, verbs: ["update"], count: 1 })
    const rv2 = lease().metadata.resourceVersion
    await eventually(() => (lease().metadata.resourceVersion !== rv2 ? true : undefined), "a renew after the reset")
    expect(readRecords(childLog).filter((x) => x.event === "stop")).toEqual([])
  })
})

describe("leases other writers leave behind", () => {
  it.each([
    ["no duration and null times", { holderIdentity: "go-client", leaseDurationSeconds: null, renewTime: null, acquireTime: null }],
    ["a 10 kB holder and huge transitions", { holderIdentity: "x".repeat(10_240), leaseDurationSeconds: 2, leaseTransitions: 2_147_483_600 }]
  ])("a follower waits out %s before taking over, and the promise holds", async (_name, spec) => {
    const leaseName = `foreign-${++n}`
    const childLog = join(dir, `${leaseName}.jsonl`)
    emu.setLease("default", leaseName, spec)
    const kubeconfig = join(dir, "f.kubeconfig")
    emu.writeKubeconfig(kubeconfig, "f", "default")
    const seenAt = Date.now()
    const r = startReplica({ id: "f", kubeconfig, leaseName, childLog })
    replicas.push(r)
    const start = await eventually(() => readRecords(childLog).find((x) => x.event === "start"), "the takeover", 20_000)
    // An unreadable duration counts as our own (4 s); a readable one as written.
    expect(start.t - seenAt).toBeGreaterThanOrEqual((spec.leaseDurationSeconds ?? 4) * 1000 - 100)
    expect(emu.getLease("default", leaseName)!.spec.holderIdentity).toBe("f")
  })

  it("a lease deleted and re-created by someone else stops the leader's child", async () => {
    const { childLog, leaseName } = await leaderUp()
    emu.deleteLease("default", leaseName)
    emu.setLease("default", leaseName, { holderIdentity: "other", leaseDurationSeconds: 60 })
    await eventually(() => readRecords(childLog).find((x) => x.event === "stop"), "the child to stop")
    expect(overlaps(lives(readRecords(childLog)))).toEqual([])
    expect(emu.getLease("default", leaseName)!.spec.holderIdentity).toBe("other")
  })
})
