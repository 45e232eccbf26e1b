/**
 * The short seeded chaos soak (scripts/soak.ts): about a minute of real wrapper
 * processes under SIGKILLs, SIGTERMs, restarts, partitions, latency, 5xx and 429
 * bursts (Retry-After: 0 too), resets, watch drops, an API server losing its state, a
 * replica with an offset clock, and children that stop slowly, leave processes behind
 * (in their group and out of it) or end by themselves. No two episodes' processes may
 * overlap, handover must stay bounded, and no follower may hammer the API server.
 */
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { nodeBin, root } from "../harness/replica.ts"

describe("chaos soak", () => {
  it("a one-minute seeded run keeps the promise and the handover bound", () => {
    const res = spawnSync(nodeBin, [join(root, "scripts/soak.ts"), "--minutes", "1", "--seed", "20261122", "--json"], {
      cwd: root,
      encoding: "utf8",
      timeout: 150_000
    })
    const line = res.stdout.trim().split("\n").at(-1) ?? ""
    const result = JSON.parse(line) as {
      episodes: number
      overlaps: number
      longestNoChildMs: number
      boundMs: number
      faults: Record<string, number>
      unexpectedExits: number
      followerPeakRequestsPerMin: number
      followerBudgetPerMin: number
    }
    expect(result.overlaps).toBe(0)
    expect(result.longestNoChildMs).toBeLessThanOrEqual(result.boundMs)
    expect(result.episodes).toBeGreaterThanOrEqual(2)
    expect(result.unexpectedExits).toBe(0)
    expect(result.followerPeakRequestsPerMin).toBeLessThanOrEqual(result.followerBudgetPerMin)
    expect(Object.keys(result.faults).length).toBeGreaterThanOrEqual(5)
    expect(res.status).toBe(0)
  }, 180_000)
})
