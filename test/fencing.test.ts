/**
 * The fencing token: every leader's child gets JUST_ONE_INIT_FENCING_TOKEN, a
 * decimal integer greater than every earlier leader's of the same Lease object
 * (a crashed incarnation of the same pod's included), and it shows in /status
 * and in the `child started` line. Real wrappers and children, the emulator.
 */
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("fence")
const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start" && (r.role ?? "child") === "child")
const nth = (n: number) => eventually(() => starts()[n], `child ${n + 1}`)

describe("the fencing token", () => {
  it("grows with every leader: a handover, and a new incarnation of the same pod after a crash", async () => {
    const a = sb.replica("a")
    const first = await nth(0)
    const b = sb.replica("b")
    await b.port
    // A handover on SIGTERM.
    a.signal("SIGTERM")
    await a.exited
    const second = await nth(1)
    expect(second.id).toBe("b")
    // b crashes with its child (a node failure), and comes back under the same name: its lease, held under
    // its own identity by a process that is gone, is waited out and taken again.
    await b.killTree()
    const again = sb.replica("b")
    const third = await nth(2)
    expect(third.id).toBe("b")
    const tokens = [first, second, third].map((r) => r.token)
    for (const t of tokens) expect(t).toMatch(/^\d+$/)
    const [t1, t2, t3] = tokens.map(Number) as [number, number, number]
    expect(t2).toBeGreaterThan(t1)
    expect(t3).toBeGreaterThan(t2)
    // The same token in /status and in the child started line.
    const status = await again.http("/status")
    expect((status.body["child"] as { fencingToken: number }).fencingToken).toBe(t3)
    const line = await again.waitFor((l) => l.message === "child started", "child started")
    expect(line.annotations["fencingToken"]).toBe(t3)
    expect(sb.emu.getLease("default", sb.leaseName)?.spec.leaseTransitions).toBe(t3)
  })
})
