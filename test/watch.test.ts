/**
 * The watch is an optimisation that must survive what API servers do to it.
 * After each fault a follower still takes over a released lease, and never do
 * two children run. Assertions are on behaviour, not on timing.
 */
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("watch")

const pair = async () => {
  const leader = sb.replica("leader")
  await eventually(() => readRecords(sb.childLog()).find((r) => r.event === "start"), "the first child")
  const follower = sb.replica("follower")
  await follower.port
  await eventually(() => (sb.emu.requests("follower").watch > 0 ? true : undefined), "the follower's watch")
  return { leaseName: sb.leaseName, childLog: sb.childLog(), leader, follower }
}

/** Release the lease (SIGTERM the leader) and require the follower to take over. */
const handover = async (p: Awaited<ReturnType<typeof pair>>) => {
  p.leader.signal("SIGTERM")
  expect((await p.leader.exited).code).toBe(0)
  const next = await eventually(
    () => readRecords(p.childLog).find((r) => r.event === "start" && r.id === "follower"),
    "the follower's child"
  )
  expect(overlaps(lives(readRecords(p.childLog), { running: new Set([next.pid]) }))).toEqual([])
}

describe("watch faults", () => {
  it("a cleanly ended watch reconnects", async () => {
    const p = await pair()
    const before = sb.emu.requests("follower").watch
    sb.emu.dropWatches("follower")
    await eventually(() => (sb.emu.requests("follower").watch > before ? true : undefined), "a new watch")
    await handover(p)
  })

  it("410 Expired: the follower re-lists and carries on", async () => {
    const p = await pair()
    sb.emu.compact()
    sb.emu.expireWatches("follower")
    await handover(p)
  })

  it("a watch that hangs on reconnect: the follower falls back to polling", async () => {
    const p = await pair()
    sb.emu.setFault("follower", { hang: true, verbs: ["watch"] })
    sb.emu.dropWatches("follower")
    const gets = sb.emu.requests("follower").get
    await eventually(() => (sb.emu.requests("follower").get > gets ? true : undefined), "polling")
    await handover(p)
  })

  it("connection loss (API server restart that keeps its state)", async () => {
    const p = await pair()
    await sb.emu.restart({ loseState: false, downMs: 300 })
    await handover(p)
  })

  it("an API server restart that loses state: the lease is recreated and exactly one child runs", async () => {
    const p = await pair()
    const first = readRecords(p.childLog).find((r) => r.event === "start")!
    await sb.emu.restart({ loseState: true, downMs: 100 })
    // The leader learns its lease is gone at its next renew and stops; then someone leads again.
    await eventually(
      () => readRecords(p.childLog).find((r) => r.event === "start" && r.pid !== first.pid),
      "a child after the restart",
      30_000
    )
    const starts = readRecords(p.childLog).filter((r) => r.event === "start")
    expect(overlaps(lives(readRecords(p.childLog), { running: new Set([starts.at(-1)!.pid]) }))).toEqual([])
    expect(sb.emu.getLease("default", p.leaseName)?.spec.holderIdentity).toBe(starts.at(-1)!.id)
  })
})
