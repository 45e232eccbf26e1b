/**
 * A leader frozen past its lease (a cgroup freeze, `docker pause`, SIGSTOP, a VM
 * or node stall) must not let its child run on after the thaw: its stop
 * deadline counts from its last successful renew, so a wrapper that wakes past
 * it kills everything at once instead of starting a graceful stop. Real
 * wrapper processes and children, frozen and thawed with SIGSTOP and SIGCONT.
 */
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { groupOf, running } from "../harness/procfs.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("pause")
const records = () => readRecords(sb.childLog())
const started = (id: string) =>
  eventually(() => records().find((r) => r.event === "start" && r.id === id && (r.role ?? "child") === "child"), id)

/** Freeze (or thaw) a replica's whole pod: the wrapper and its child's process group. */
const pod = (wrapper: number, childGroup: number, signal: "SIGSTOP" | "SIGCONT") => {
  // Thawing, the child goes first: the worst order, as it may then run before its wrapper can act.
  if (signal === "SIGCONT") process.kill(-childGroup, signal)
  process.kill(wrapper, signal)
  if (signal === "SIGSTOP") process.kill(-childGroup, signal)
}

describe("a leader frozen past its lease", () => {
  it("kills its child at once on thaw, with one line saying why, instead of a graceful stop beside the new leader", async () => {
    // The child takes 0.9 s to exit after SIGTERM; the grace is 1 s, the lease 4 s.
    const env = { CHILD_TERM_DELAY_MS: "900" }
    const a = sb.replica("a", { env })
    const child = await started("a")
    const group = groupOf(child.pid)!
    const b = sb.replica("b", { env })
    await b.port
    pod(a.proc.pid!, group, "SIGSTOP")
    // The lease expires; b takes over and starts its child.
    await started("b")
    const thawed = performance.now()
    pod(a.proc.pid!, group, "SIGCONT")
    await eventually(() => (!running(child.pid) ? true : undefined), "a's child to end", 10_000)
    const ranAfterThawMs = performance.now() - thawed
    // No lease can stop what a frozen child does as it thaws; what remains is the wrapper's reaction
    // (a few ms): a graceful stop would take the child's 900 ms. The bound is wide on purpose.
    expect(ranAfterThawMs).toBeLessThan(400)
    // SIGKILL, not SIGTERM: the child never got to begin its slow exit.
    expect(records().filter((r) => r.id === "a" && r.pid === child.pid && r.event === "term")).toEqual([])
    const line = await a.waitFor((l) => l.message.startsWith("stop deadline passed"), "the kill-at-once line")
    expect(line.level).toBe("WARN")
    expect(a.lines.filter((l) => l.message.startsWith("stop deadline passed"))).toHaveLength(1)
    // And then it is a warm follower again, the new leader untouched.
    await a.transition("Follower", a.lines.indexOf(line))
    expect(sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity).toBe("b")
  })

  it("the same holds for a stall of the wrapper alone (GC, swap, a starved CPU): SIGKILL at once when it wakes", async () => {
    const env = { CHILD_TERM_DELAY_MS: "900" }
    const a = sb.replica("a", { env })
    const child = await started("a")
    const b = sb.replica("b", { env })
    await b.port
    process.kill(a.proc.pid!, "SIGSTOP")
    await started("b")
    process.kill(a.proc.pid!, "SIGCONT")
    await eventually(() => (!running(child.pid) ? true : undefined), "a's child to end", 10_000)
    expect(records().filter((r) => r.id === "a" && r.pid === child.pid && r.event === "term")).toEqual([])
    await a.waitFor((l) => l.message.startsWith("stop deadline passed"), "the kill-at-once line")
  })
})
