/**
 * A model of a cluster under TestClock: several replicas running the real
 * Elector against one in-memory Lease, with random latency, lost answers,
 * partitions and crashes. The children's own start and stop records must
 * never overlap.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Elector } from "../src/services/Elector.ts"
import { replica } from "./support/elector.ts"
import type { ChildRecord, Link } from "./support/memory.ts"
import { MemoryLease } from "./support/memory.ts"
import { mulberry32 } from "./support/random.ts"

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }
const stopGraceMs = 4_000
const requestTimeoutMs = 5_000
const simulatedMs = 180_000
const stepMs = 50

const overlaps = (log: ReadonlyArray<ChildRecord>, end: number) => {
  const runs = [...log].map((r) => ({ ...r, stoppedAt: r.stoppedAt ?? end })).sort((a, b) => a.startedAt - b.startedAt)
  const found: Array<string> = []
  for (let i = 1; i < runs.length; i++) {
    const prev = runs[i - 1]!
    const cur = runs[i]!
    if (cur.startedAt < prev.stoppedAt) {
      found.push(`${prev.replica} [${prev.startedAt}, ${prev.stoppedAt}) overlaps ${cur.replica} from ${cur.startedAt}`)
    }
  }
  return found
}

describe("cluster model", () => {
  it.effect.prop("never runs two children at once under latency, lost answers, partitions and crashes", [
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2 ** 31 - 1 }))
  ], ([seed]) =>
    Effect.gen(function*() {
      const rng = mulberry32(seed)
      const lease = new MemoryLease()
      const log: Array<ChildRecord> = []
      const replicas = ["a", "b", "c"].map((id) => ({
        id,
        /** The running incarnation's link: partitions apply to one incarnation. */
        link: { partitionedUntil: 0 },
        fiber: undefined as Fiber.Fiber<number> | undefined,
        downUntil: 0,
        incarnations: 0
      }))
      /** Incarnations replaced while partitioned (a force-deleted pod on a cut-off node): they run on. */
      const stale: Array<Fiber.Fiber<number>> = []
      const now = () => Clock.currentTimeMillis

      const clock = yield* Clock.Clock
      const start = (r: (typeof replicas)[number]) =>
        Effect.gen(function*() {
          const own = { partitionedUntil: 0 }
          r.link = own
          const link: Link = {
            latency: () => (rng() < 0.05 ? 500 + rng() * 3_000 : rng() * 150),
            loseAnswer: () => rng() < 0.05,
            partitioned: () => clock.currentTimeMillisUnsafe() < own.partitionedUntil
          }
          r.incarnations++
          const layer = replica({
            id: r.id,
            incarnation: `${r.id}-${r.incarnations}`,
            lease,
            timing: { ...timing, stopGraceMs },
            link,
            requestTimeoutMs,
            children: { log, stopMs: () => rng() * stopGraceMs }
          })
          r.fiber = yield* Effect.forkChild(
            Effect.gen(function*() {
              const elector = yield* Elector
              return yield* elector.run
            }).pipe(Effect.provide(layer)),
            { startImmediately: true }
          )
        })

      for (const r of replicas) yield* start(r)
      const faults = { partitions: 0, crashes: 0, twins: 0 }
      for (let t = 0; t < simulatedMs; t += stepMs) {
        const roll = rng()
        const r = replicas[Math.floor(rng() * replicas.length)]!
        const current = yield* now()
        if (roll < 0.002) {
          r.link.partitionedUntil = current + rng() * 30_000
          faults.partitions++
        } else if (roll < 0.0025 && r.fiber !== undefined && current < r.link.partitionedUntil) {
          // The same identity comes back elsewhere while the cut-off incarnation still runs.
          stale.push(r.fiber)
          yield* start(r)
          faults.twins++
        } else if (roll < 0.003 && r.fiber !== undefined) {
          // Not awaited: the crashed replica's child takes simulated time to die.
          yield* Effect.forkChild(Fiber.interrupt(r.fiber), { startImmediately: true })
          r.fiber = undefined
          r.downUntil = current + rng() * 20_000
          faults.crashes++
        }
        for (const x of replicas) if (x.fiber === undefined && current >= x.downUntil) yield* start(x)
        yield* TestClock.adjust(stepMs)
      }
      const end = yield* now()
      const stopping = yield* Effect.forkChild(
        Effect.forEach([...replicas.map((r) => r.fiber), ...stale], (f) =>
          f === undefined ? Effect.void : Fiber.interrupt(f), {
          concurrency: "unbounded"
        }),
        { startImmediately: true }
      )
      yield* TestClock.adjust(stopGraceMs + requestTimeoutMs)
      yield* Fiber.join(stopping)
      const found = overlaps(log, end)
      assert.deepStrictEqual(found, [], `seed ${seed}, ${JSON.stringify(faults)}`)
      // The model must also make progress, or "no overlap" would be empty praise.
      assert.isAbove(log.length, 0, `seed ${seed}: no child ever ran`)
    }), { timeout: 120_000, arbitrary: { runs: 12 } })
})
