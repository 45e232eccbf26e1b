/**
 * The dependency gates: what the app needs before this replica contends for
 * the lease (or, with the election off, runs the command). Every gate is
 * checked at once, each until it passes; a passed gate is not checked again.
 * While waiting, the status board shows each gate with its state and reason,
 * and the log has one line as waiting starts, one as each gate passes, and
 * every 10 s the gates still pending with their reasons. A stop signal ends
 * the wait (no child, no lease: exit 0); `--wait-timeout` ends it with
 * GatesTimedOut, naming every gate still pending.
 */
import { Clock, Context, Effect, Layer, Option, Ref, Schedule, Schema } from "effect"
import type { Progress } from "../domain/GateRules.ts"
import { needsApi } from "../domain/GateRules.ts"
import type { Gate } from "../domain/Gates.ts"
import type { GateStatus } from "../domain/Status.ts"
import { formatDuration } from "../domain/Values.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import { sayOnce } from "../kube/SayOnce.ts"
import type { Self } from "./GatesKube.ts"
import { checkApiGate } from "./GatesKube.ts"
import { checkLocalGate } from "./GatesLocal.ts"
import type { StopSignal } from "./Signals.ts"
import { Signals } from "./Signals.ts"
import { StatusBoard } from "./StatusBoard.ts"
import { gateSpan } from "./Telemetry.ts"

/** `--wait-timeout` ran out: the message names every gate still pending, with its reason. */
export class GatesTimedOut extends Schema.TaggedError<GatesTimedOut>()("GatesTimedOut", {
  message: Schema.String
}) {}

/** The exit code when `--wait-timeout` runs out: GNU timeout's, and used by nothing else here. */
export const waitTimeoutExitCode = 124

/** How often the gates still pending are logged. */
const summaryEveryMs = 10_000

export interface GatesConfig {
  readonly gates: ReadonlyArray<Gate>
  /** null: wait for ever. */
  readonly waitTimeoutMs: number | null
  /** This pod, for gates bound to it or to its node. */
  readonly self: Self
  /** Deadline of each API request. */
  readonly requestTimeoutMs: number
}

export class Gates extends Context.Service<Gates, {
  /** Wait until every gate has passed ("Passed") or a stop signal came ("Stopped"). */
  readonly wait: Effect.Effect<"Passed" | "Stopped", GatesTimedOut>
}>()("just-one-init/Gates") {
  /** The API gates use the KubeClient, which the wiring provides exactly when one of them needs it. */
  static readonly layer = (config: GatesConfig) =>
    Layer.effect(
      Gates,
      Effect.gen(function*() {
        const board = yield* StatusBoard
        const signals = yield* Signals
        const kube = yield* Effect.serviceOption(KubeClient)
        const checkApi = Option.map(kube, (k) =>
          checkApiGate({ kube: k, requestTimeoutMs: config.requestTimeoutMs }, config.self))
        const check = (gate: Gate, progress: Progress): Effect.Effect<void> =>
          !needsApi(gate)
            ? checkLocalGate(gate, progress)
            : Option.match(checkApi, {
              onNone: () =>
                Effect.die(new Error(`${gate.label}: no Kubernetes client was built for an API gate`)),
              onSome: (c) => c(gate, progress)
            })

        const wait = Effect.gen(function*() {
          const { gates, waitTimeoutMs } = config
          if (gates.length === 0) return "Passed" as const
          const started = yield* Clock.currentTimeMillis
          const states = yield* Ref.make<ReadonlyArray<GateStatus>>(
            gates.map((g) => ({ gate: g.label, passed: false, reason: null }))
          )
          // A gate's warnings are said once each, for as long as the wait lasts.
          const warnings = yield* Effect.forEach(gates, () => sayOnce)
          const stop = yield* Ref.make<StopSignal | null>(null)
          const update = (i: number, f: (s: GateStatus) => GateStatus) =>
            Ref.update(states, (all) => all.map((s, j) => (j === i ? f(s) : s)))
          const progress = (i: number, gate: Gate): Progress => ({
            pending: (reason) => update(i, (s) => ({ ...s, reason })),
            warn: (key, message) => warnings[i]!.problem(key, message, { gate: gate.label })
          })
          const pending = Effect.map(
            Ref.get(states),
            (all) => all.filter((s) => !s.passed).map((s) => (s.reason === null ? s.gate : `${s.gate}: ${s.reason}`))
          )
          const sinceStart = Effect.map(Clock.currentTimeMillis, (now) => now - started)

          yield* board.show(Effect.map(Ref.get(states), (all) => ({ phase: "waiting", gates: all })))
          yield* Effect.logInfo("waiting for gates").pipe(Effect.annotateLogs({
            gates: gates.map((g) => g.label),
            timeout: waitTimeoutMs === null ? null : formatDuration(waitTimeoutMs)
          }))
          yield* Effect.forkScoped(
            pending.pipe(
              Effect.flatMap((still) => Effect.logInfo("gates pending").pipe(Effect.annotateLogs({ pending: still }))),
              Effect.schedule(Schedule.spaced(summaryEveryMs))
            )
          )

          const one = (gate: Gate, i: number) =>
            check(gate, progress(i, gate)).pipe(
              Effect.andThen(update(i, (s) => ({ ...s, passed: true, reason: null }))),
              Effect.andThen(sinceStart),
              Effect.flatMap((waitedMs) =>
                Effect.logInfo("gate passed").pipe(
                  Effect.annotateLogs({ gate: gate.label, kind: gate._tag, waitedMs })
                )
              ),
              gateSpan(gate.label, gate._tag)
            )
          const all = Effect.forEach(gates, one, { concurrency: "unbounded", discard: true })
          const bounded = waitTimeoutMs === null ? all : all.pipe(Effect.timeoutOrElse({
            duration: waitTimeoutMs,
            orElse: () =>
              Effect.flatMap(pending, (still) =>
                Effect.fail(
                  new GatesTimedOut({
                    message: `--wait-timeout (${formatDuration(waitTimeoutMs)}) ran out; still pending: ${
                      still.join("; ")
                    }`
                  })
                ))
          }))
          // A signal taken from the queue is recorded before anything may interrupt, so none is lost in a tie.
          const stopped = Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(signals.next), (signal) => Ref.set(stop, signal))
          )
          yield* Effect.raceFirst(bounded, stopped)

          const signal = yield* Ref.get(stop)
          if (signal !== null) {
            yield* Effect.logInfo("stopped while waiting for gates").pipe(Effect.annotateLogs({ signal }))
            return "Stopped" as const
          }
          yield* Effect.logInfo("gates passed").pipe(Effect.annotateLogs({ waitedMs: yield* sinceStart }))
          return "Passed" as const
        }).pipe(Effect.scoped, Effect.withSpan("Gates.wait"))

        return Gates.of({ wait })
      })
    )
}
