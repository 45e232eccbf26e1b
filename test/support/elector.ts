/**
 * One replica's elector for tests under TestClock: the real Elector and its
 * commands and watch, on the in-memory Lease (memory.ts) through a link of its
 * own, with recording children, and signals from the test. The one way the
 * tests wire a replica; they choose only what the case is about.
 */
import { Effect, Layer } from "effect"
import { timing } from "../../src/domain/Timings.ts"
import { electorStack } from "../../src/layers/Live.ts"
import type { Elector } from "../../src/services/Elector.ts"
import { Leadership } from "../../src/services/Leadership.ts"
import type { StopSignal } from "../../src/services/Signals.ts"
import { Signals } from "../../src/services/Signals.ts"
import { StatusBoard } from "../../src/services/StatusBoard.ts"
import { Telemetry } from "../../src/services/Telemetry.ts"
import type { ChildRecord, Link, MemoryLease } from "./memory.ts"
import { childSupervisorRecording, leaseStoreMemory } from "./memory.ts"

export interface ReplicaOptions {
  readonly id: string
  /** Tells incarnations of one identity apart; the id by default. */
  readonly incarnation?: string
  readonly lease: MemoryLease
  readonly timing: {
    readonly leaseDurationMs: number
    readonly renewDeadlineMs: number
    readonly retryPeriodMs: number
    readonly stopGraceMs: number
  }
  /** How its requests fare; none lost, 1 ms each way by default. */
  readonly link?: Link
  readonly requestTimeoutMs?: number
  /** Where its children record their lives, how long each takes to stop, and whether SIGKILL ends them. */
  readonly children: {
    readonly log: Array<ChildRecord>
    readonly stopMs: () => number
    readonly survivesKill?: boolean
  }
  /** Its stop signals; none by default. */
  readonly signals?: Effect.Effect<StopSignal>
}

const instant: Link = { latency: () => 1, loseAnswer: () => false, partitioned: () => false }

export const replica = (o: ReplicaOptions): Layer.Layer<Elector> =>
  electorStack({
    namespace: "ns",
    leaseName: "lease",
    command: ["app"],
    ...timing({ identity: o.id, incarnation: o.incarnation ?? o.id, ...o.timing })
  }).pipe(Layer.provide(Layer.mergeAll(
    leaseStoreMemory(o.lease, o.link ?? instant, o.requestTimeoutMs ?? 1_000),
    Leadership.layer.pipe(Layer.provide(
      childSupervisorRecording(o.id, o.children.log, o.children.stopMs, {
        stopGraceMs: o.timing.stopGraceMs,
        survivesKill: o.children.survivesKill ?? false
      })
    )),
    StatusBoard.layer,
    Telemetry.layer,
    Layer.succeed(Signals, Signals.of({ next: o.signals ?? Effect.never }))
  )))
