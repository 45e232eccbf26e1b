/**
 * The short seeded chaos soak (scripts/soak.ts): about a minute of real wrapper
 * processes under SIGKILLs, SIGTERMs, restarts, partitions, latency, 5xx and 429
 * bursts, resets, watch drops, an API server losing its state and a replica with
 * an offset clock. No two children may overlap and handover must stay bounded.
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
    }
    expect(result.overlaps).toBe(0)
    expect(result.longestNoChildMs).toBeLessThanOrEqual(result.boundMs)
    expect(result.episodes).toBeGreaterThanOrEqual(2)
    expect(Object.keys(result.faults).length).toBeGreaterThanOrEqual(5)
    expect(res.status).toBe(0)
  }, 180_000)
})
