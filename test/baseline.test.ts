/**
 * The benchmark's baseline (bench/client-go/elector.ts, a port of client-go's leader election) elects
 * against the emulator with real processes: one child among three replicas, a release on SIGTERM that the
 * next poll takes, and a held lease never taken before it expired as the taker observed it.
 */
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import { eventually, nodeBin, root } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const port = join(root, "bench/client-go/elector.ts")
const timings = { leaseDuration: "3s", renewDeadline: "2s", retryPeriod: "400ms", stopGrace: "1s" }
const leaseMs = 3_000
/** client-go's longest wait between a follower's polls: RetryPeriod × (1 + JitterFactor). */
const longestPollMs = 400 * 2.2

const sb = sandbox("baseline")
const replica = (id: string) => sb.replica(id, { wrapper: [nodeBin, port], timings })
const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start")

interface Write {
  readonly t: number
  readonly holder: string
  readonly duration: number | undefined
  readonly transitions: number | undefined
}
/** Every write to the test's lease, stamped with the emulator's clock when it was committed. */
const recordWrites = () => {
  const writes: Array<Write> = []
  sb.emu.onChange(({ lease }) => {
    if (lease.metadata.name !== sb.leaseName) return
    const spec = lease.spec ?? {}
    writes.push({
      t: Date.now(),
      holder: spec.holderIdentity ?? "",
      duration: spec.leaseDurationSeconds ?? undefined,
      transitions: spec.leaseTransitions ?? undefined
    })
  })
  return writes
}

/** Three replicas; once one leads with a running child, and the other two have seen it hold the lease. */
const cluster = async () => {
  const rs = ["a", "b", "c"].map(replica)
  const leaderId = await eventually(() => {
    const h = sb.emu.getLease("default", sb.leaseName)?.spec?.holderIdentity
    return h && starts().some((r) => r.id === h) ? h : undefined
  }, "a leader with a running child")
  const leader = rs.find((r) => r.id === leaderId)!
  const followers = rs.filter((r) => r !== leader)
  await Promise.all(
    followers.map((f) => f.waitFor((l) => l.message === "new leader" && l.annotations["holder"] === leaderId, "news"))
  )
  return { leader, followers }
}

describe("the client-go baseline", () => {
  it("runs one child among three, never takes a held lease, and hands over on SIGTERM at the next poll", async () => {
    const writes = recordWrites()
    const { leader, followers } = await cluster()
    // Watch the followers poll a held lease for longer than it lasts: renews every 400 ms, 10 of them.
    const from = writes.length
    await eventually(() => (writes.length - from >= 10 ? true : undefined), "ten renews")
    const held = writes.slice(from)
    expect(held.at(-1)!.t - held[0]!.t).toBeGreaterThan(leaseMs)
    expect(held.filter((w) => w.holder !== leader.id)).toEqual([])
    expect(starts().map((r) => r.id)).toEqual([leader.id])
    for (const f of followers) expect((await f.http("/healthz")).status).toBe(200)

    const before = writes.at(-1)!
    leader.signal("SIGTERM")
    expect((await leader.exited).code).toBe(0)
    const next = await eventually(() => starts().find((r) => r.id !== leader.id), "a new child")
    expect(followers.map((f) => f.id)).toContain(next.id)

    // The release: holder "", 1 s, transitions unchanged; then a follower's takeover bumps them.
    const released = writes.findIndex((w) => w.holder === "")
    expect(writes[released]).toMatchObject({ duration: 1, transitions: before.transitions })
    const takeover = writes[released + 1]!
    expect(takeover).toMatchObject({ holder: next.id, duration: 3, transitions: before.transitions! + 1 })
    // At its next poll, not after the lease ran out (a wide bound: a poll is at most 880 ms away).
    expect(takeover.t - writes[released]!.t).toBeLessThan(leaseMs)
    const records = readRecords(sb.childLog())
    const stop = records.find((r) => r.event === "stop" && r.id === leader.id)!
    expect(stop.t).toBeLessThanOrEqual(writes[released]!.t)
    expect(overlaps(lives(records, { running: new Set([next.pid]) }))).toEqual([])
  })

  it("after SIGKILL of the leader's tree, takes over only once the lease expired since it last changed", async () => {
    const writes = recordWrites()
    const { leader } = await cluster()
    await leader.killTree()
    const killedAt = Date.now()
    const next = await eventually(() => starts().find((r) => r.id !== leader.id), "a takeover", 20_000)
    const lastRenew = writes.filter((w) => w.holder === leader.id && w.t <= killedAt).at(-1)!
    const takeover = writes.find((w) => w.holder === next.id)!
    // A follower counts the lease from when it saw the record change, which is after the renew was written; but
    // as in client-go the record it compares holds whole seconds, so a renew within the second of the one
    // before is no change to it: the count may have begun up to a second before the last renew.
    expect(takeover.t - lastRenew.t).toBeGreaterThanOrEqual(leaseMs - 1_000)
    // And it notices within two polls of the expiry (wide: the poll jitter is at most 880 ms).
    expect(takeover.t - lastRenew.t).toBeLessThan(leaseMs + 4 * longestPollMs + 1_000)
    expect(overlaps(lives(readRecords(sb.childLog()), { running: new Set([next.pid]) }))).toEqual([])
  })

  it("refuses client-go's invalid timings with one line, before anything starts", () => {
    const run = spawnSync(nodeBin, [port, "--renew-deadline", "2s", "--retry-period", "2s", "--", "true"], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", LEASE_NAME: "x", POD_NAME: "x" }
    })
    expect(run.status).toBe(2)
    expect(run.stderr).toBe("client-go elector: renewDeadline must be greater than retryPeriod*JitterFactor\n")
  })
})
