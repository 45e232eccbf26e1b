/**
 * The overlap checker the tests, the demo, the benchmark and the soak rely on: a process that beats is
 * known dead within a beat of its last one; one that does not beat (the benchmark's shell child) only by
 * its stop line or its replica's kill.
 */
import { describe, expect, it } from "vitest"
import type { ChildRecordLine } from "../harness/lives.ts"
import { lives, overlaps, runsAfterThaw, thawOverlaps } from "../harness/lives.ts"

const record = (id: string, pid: number, event: ChildRecordLine["event"], t: number): ChildRecordLine => ({
  event,
  id,
  pid,
  t
})

describe("lives and overlaps", () => {
  it("a SIGKILLed child that does not beat lives until its kill, and overlaps a child started before it", () => {
    const records = [record("a", 10, "start", 0), record("b", 20, "start", 500)]
    const found = overlaps(lives(records, { kills: [{ id: "a", t: 1_000 }], running: new Set([20]) }))
    expect(found).toEqual(["a/10 (child) [0, 1000) overlaps b/20 (child) from 500"])
  })

  it("a SIGKILLed child that beats ends within a beat of its last one, or at its kill if sooner", () => {
    const beating = [record("a", 10, "start", 0), record("a", 10, "beat", 50), record("a", 10, "beat", 100)]
    expect(lives(beating, { kills: [{ id: "a", t: 1_000 }] })[0]?.end).toBe(150)
    expect(lives(beating, { kills: [{ id: "a", t: 120 }] })[0]?.end).toBe(120)
    expect(overlaps(lives([...beating, record("b", 20, "start", 160)], { kills: [{ id: "a", t: 1_000 }] }))).toEqual(
      []
    )
  })

  it("a frozen child does not run while frozen; after its thaw, until its death, it runs beside the next one", () => {
    // a's child beats until its pod is frozen at 1 000, thawed at 6 000, and seen dead at 6 004; b's starts at 5 000.
    const a = [record("a", 10, "start", 0), record("a", 10, "beat", 950)]
    const b = [record("b", 20, "start", 5_000)]
    const freezes = [{ id: "a", pid: 10, from: 1_000, to: 6_000, diedAt: 6_004 }]
    const ls = lives([...a, ...b], { freezes, running: new Set([20]) })
    expect(ls[0]?.end).toBe(6_004)
    expect(overlaps(ls)).toEqual([])
    expect(thawOverlaps(ls)).toEqual([{ ms: 4, what: "a/10 (child) beside b/20 (child)" }])
    // Not frozen, the same lives overlap: the check still fails where it must.
    expect(overlaps(lives([...a, record("a", 10, "beat", 6_000), ...b], { running: new Set([20]) }))).toHaveLength(1)
  })
  it("a freeze of a later incarnation's process with the same pid is not an earlier life's", () => {
    // a's first pod: pid 17 beats until 1 000 and dies with its PID namespace. a's next pod reuses pid 17 and is
    // frozen from 5 000 to 6 000, seen dead at 6 010. b's child starts at 3 000: the old life must not reach it.
    const old = [record("a", 17, "start", 0), record("a", 17, "beat", 950), record("a", 17, "beat", 1_000)]
    const freezes = [{ id: "a", pid: 17, from: 5_000, to: 6_000, diedAt: 6_010 }]
    const ls = lives([...old, record("b", 20, "start", 3_000)], { freezes, running: new Set([20]) })
    expect(ls[0]?.end).toBe(1_050)
    expect(overlaps(ls)).toEqual([])
  })
  it("the run after a thaw is a child's process's, from its pod's last thaw to its death", () => {
    const a = [record("a", 10, "start", 0), record("a", 10, "beat", 950)]
    const freezes = [
      { id: "a", pid: 10, from: 1_000, to: 6_000, diedAt: 6_004 },
      // The pod's child-init, which records nothing, dies 2.7 s after the thaw: not a process of the child.
      { id: "a", pid: 9, from: 1_000, to: 6_000, diedAt: 8_700 }
    ]
    const runs = runsAfterThaw(lives(a, { freezes }), 10_000)
    expect(runs.map((r) => [r.life.pid, r.ms])).toEqual([[10, 4]])
  })
})
