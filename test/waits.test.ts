/**
 * No silent waits: every wait of more than a second says, once, as it begins,
 * that it is waiting, for how long and why, and /status shows it. Real
 * wrappers against the emulator.
 */
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("waits")
const childStarted = () => eventually(() => readRecords(sb.childLog()).find((r) => r.event === "start"), "the child")

describe("waits that say so", () => {
  it("a first start on an absent Lease says how long it waits, why, and how to skip it; /status shows it", async () => {
    sb.emu.deleteLease("default", sb.leaseName)
    const a = sb.replica("a")
    const line = await a.waitFor((l) => l.message.startsWith("lease absent: waiting"), "the absent-lease line")
    expect(line.message).toContain("waiting 4s before creating it")
    expect(line.message).toContain("a holder this replica never saw may still be running")
    expect(line.message).toContain("create the Lease up front")
    expect(line.annotations["waitMs"]).toBe(4_000)
    const status = await a.http("/status")
    const waiting = status.body["waiting"] as { reason: string; remainingMs: number }
    expect(waiting.reason).toMatch(/^lease absent/)
    expect(waiting.remainingMs).toBeGreaterThan(0)
    expect(waiting.remainingMs).toBeLessThanOrEqual(4_000)
    await childStarted()
    expect((await a.http("/status")).body["waiting"]).toBeNull()
    expect(a.lines.filter((l) => l.message.startsWith("lease absent"))).toHaveLength(1)
  })

  it("a backoff after failures says once that it waits and why, however often the failure repeats", async () => {
    // Every read (and the watch's list and watch) answers 429 with Retry-After: 2, until three reads have failed.
    sb.emu.setFault("a", { status: 429, retryAfterSeconds: 2, verbs: ["get", "list", "watch"] })
    const a = sb.replica("a")
    const line = await a.waitFor((l) => l.message.startsWith("read failed: waiting"), "the backoff line")
    expect(line.message).toContain("waiting 2s before trying again")
    expect(line.message).toContain("Retry-After")
    await eventually(() => (sb.emu.requests("a").get >= 3 ? true : undefined), "three failed reads")
    sb.emu.setFault("a", undefined)
    await childStarted()
    expect(a.lines.filter((l) => l.message.startsWith("read failed: waiting"))).toHaveLength(1)
  })
})
