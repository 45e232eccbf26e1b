/**
 * The watch is an optimisation that must survive what API servers do to it.
 * After each fault a follower still takes over a released lease, and never do
 * two children run. Assertions are on behaviour, not on timing.
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
  dir = mkdtempSync(join(tmpdir(), "joi-watch-"))
  replicas = []
})
afterEach(async () => {
  await Promise.all(replicas.map((r) => (r.exitCode === undefined ? r.killTree() : Promise.resolve())))
  await emu.close()
})

const pair = async () => {
  const leaseName = `watch-${++n}`
  const childLog = join(dir, `${leaseName}.jsonl`)
  const start = (id: string) => {
    const kubeconfig = join(dir, `${id}.kubeconfig`)
    emu.writeKubeconfig(kubeconfig, id, "default")
    const r = startReplica({ id, kubeconfig, leaseName, childLog })
    replicas.push(r)
    return r
  }
  const leader = start("leader")
  await eventually(() => readRecords(childLog).find((r) => r.event === "start"), "the first child")
  const follower = start("follower")
  // The follower is settled once it has seen the lease held (its watch is connected by then).
  await follower.waitFor((l) => l.message === "transition" || (l.message === "health server listening"), "follower up")
  await eventually(() => (emu.requests("follower").watch > 0 ? true : undefined), "the follower's watch")
  return { leaseName, childLog, leader, follower }
}

/** Release the lease (SIGTERM the leader) and require the follower to take over. */
const handover = async (p: Awaited<ReturnType<typeof pair>>) => {
  p.leader.signal("SIGTERM")
  expect((await p.leader.exited).code).toBe(0)
  const next = await eventually(() => readRecords(p.childLog).find((r) => r.event === "start" && r.id === "follower"), "the follower's child")
  expect(overlaps(lives(readRecords(p.childLog), new Set([next.pid])))).toEqual([])
}

describe("watch faults", () => {
  it("a cleanly ended watch reconnects", async () => {
    const p = await pair()
    const before = emu.requests("follower").watch
    emu.dropWatches("follower")
    await eventually(() => (emu.requests("follower").watch > before ? true : undefined), "a new watch")
    await handover(p)
  })

  it("410 Expired: the follower re-lists and carries on", async () => {
    const p = await pair()
    emu.compact()
    emu.expireWatches("follower")
    await handover(p)
  })

  it("a watch that hangs on reconnect: the follower falls back to polling", async () => {
    const p = await pair()
    emu.setFault("follower", { hang: true, verbs: ["watch"] })
    emu.dropWatches("follower")
    const gets = emu.requests("follower").get
    await eventually(() => (emu.requests("follower").get > gets ? true : undefined), "polling")
    await handover(p)
  })

  it("connection loss (API server restart that keeps its state)", async () => {
    const p = await pair()
    await emu.restart({ loseState: false, downMs: 300 })
    await handover(p)
  })

  it("an API server restart that loses state: the lease is recreated and exactly one child runs", async () => {
    const p = await pair()
    const first = readRecords(p.childLog).find((r) => r.event === "start")!
    await emu.restart({ loseState: true, downMs: 100 })
    // The leader learns its lease is gone at its next renew and stops; then someone leads again.
    await eventually(() => readRecords(p.childLog).find((r) => r.event === "start" && r.pid !== first.pid), "a child after the restart", 30_000)
    const starts = readRecords(p.childLog).filter((r) => r.event === "start")
    expect(overlaps(lives(readRecords(p.childLog), new Set([starts.at(-1)!.pid])))).toEqual([])
    expect(emu.getLease("default", p.leaseName)?.spec.holderIdentity).toBe(starts.at(-1)!.id)
  })
})
