/**
 * Hostile API answers (an HTML page from a proxy, non-JSON, a body cut off,
 * a body that trickles forever) and hostile Leases written by others: the
 * elector treats them as failures bounded by its timeouts, keeps the child
 * through short bursts, and stops it in time when they last.
 */
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("hostile")

const leaderUp = async () => {
  const r = sb.replica("leader")
  const childLog = sb.childLog()
  await eventually(() => readRecords(childLog).find((x) => x.event === "start"), "the child")
  return { r, leaseName: sb.leaseName, childLog, lease: () => sb.emu.getLease("default", sb.leaseName)! }
}

describe("hostile API answers", () => {
  it.each(["html", "garbage", "truncated"] as const)(
    "a short burst of %s answers does not stop the child",
    async (body) => {
      const { childLog, lease, r } = await leaderUp()
      const updates = sb.emu.requests("leader").update
      sb.emu.setFault("leader", { body, verbs: ["update"], count: 2 })
      const rv = lease().metadata.resourceVersion
      // Two failed renews, then the next one succeeds (the lease moves on), all within the deadline.
      await eventually(
        () =>
          sb.emu.requests("leader").update >= updates + 3 && lease().metadata.resourceVersion !== rv ? true : undefined,
        "a renew after the burst"
      )
      expect(readRecords(childLog).filter((x) => x.event === "stop")).toEqual([])
      expect(lease().spec.holderIdentity).toBe("leader")
      expect(r.lines.some((l) => l.level === "WARN")).toBe(true)
    }
  )

  it("a body that trickles forever is cut off by the request timeout, and the child is stopped before the lease can expire", async () => {
    const { childLog, lease } = await leaderUp()
    const from = Date.now()
    sb.emu.setFault("leader", { body: "slowloris" })
    const stop = await eventually(() => readRecords(childLog).find((x) => x.event === "stop"), "the child to stop")
    // Renew deadline 2.5 s counted from the last renew sent; stop grace 1 s; lease 4 s.
    expect(stop.t - from).toBeLessThan(4_000)
    // Nothing got through (not even the release), yet the child was stopped on time.
    expect(lease().spec.holderIdentity).toBe("leader")
  })

  it("a 429 with Retry-After and 5xx bursts are retried without stopping the child", async () => {
    const { childLog, lease } = await leaderUp()
    const updates = sb.emu.requests("leader").update
    sb.emu.setFault("leader", { status: 429, retryAfterSeconds: 1, verbs: ["update"], count: 1 })
    await eventually(() => (sb.emu.requests("leader").update >= updates + 2 ? true : undefined), "the 429")
    sb.emu.setFault("leader", { status: 503, verbs: ["update"], count: 2 })
    const rv = lease().metadata.resourceVersion
    await eventually(() => (lease().metadata.resourceVersion !== rv ? true : undefined), "a renew after the 503s")
    sb.emu.setFault("leader", { reset: true, verbs: ["update"], count: 1 })
    const rv2 = lease().metadata.resourceVersion
    await eventually(() => (lease().metadata.resourceVersion !== rv2 ? true : undefined), "a renew after the reset")
    expect(readRecords(childLog).filter((x) => x.event === "stop")).toEqual([])
  })
})

describe("leases other writers leave behind", () => {
  it.each([
    ["no duration and null times", {
      holderIdentity: "go-client",
      leaseDurationSeconds: null,
      renewTime: null,
      acquireTime: null
    }],
    ["a 10 kB holder and huge transitions", {
      holderIdentity: "x".repeat(10_240),
      leaseDurationSeconds: 2,
      leaseTransitions: 2_147_483_600
    }]
  ])("a follower waits out %s before taking over, and the promise holds", async (_name, spec) => {
    const { leaseName } = sb
    const childLog = sb.childLog()
    sb.emu.setLease("default", leaseName, spec)
    const seenAt = Date.now()
    sb.replica("f")
    const start = await eventually(() => readRecords(childLog).find((x) => x.event === "start"), "the takeover", 20_000)
    // An unreadable duration counts as our own (4 s); a readable one as written.
    expect(start.t - seenAt).toBeGreaterThanOrEqual((spec.leaseDurationSeconds ?? 4) * 1000 - 100)
    expect(sb.emu.getLease("default", leaseName)!.spec.holderIdentity).toBe("f")
  })

  it("a lease deleted and re-created by someone else stops the leader's child", async () => {
    const { childLog, leaseName } = await leaderUp()
    sb.emu.deleteLease("default", leaseName)
    sb.emu.setLease("default", leaseName, { holderIdentity: "other", leaseDurationSeconds: 60 })
    await eventually(() => readRecords(childLog).find((x) => x.event === "stop"), "the child to stop")
    expect(overlaps(lives(readRecords(childLog)))).toEqual([])
    expect(sb.emu.getLease("default", leaseName)!.spec.holderIdentity).toBe("other")
  })
})
