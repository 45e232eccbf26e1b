/**
 * The machine's lease commands as effects that answer with its events: read,
 * acquire, renew, release. Every write is conditional and built by the pure
 * spec functions of Lease.ts; a conflict is followed by one read, so the
 * machine decides with the current version in hand.
 */
import { Clock, Context, Effect, Layer, Metric, Option, Ref, Schedule } from "effect"
import type { ApiFailure, Event } from "../domain/Election.ts"
import type { LeaseView, Writer } from "../domain/Lease.ts"
import { acquireSpec, isOurs, releaseSpec, renewSpec, withSpec } from "../domain/Lease.ts"
import type { LeaseApiError } from "./LeaseStore.ts"
import { LeaseStore } from "./LeaseStore.ts"
import { renewDuration } from "./Telemetry.ts"

/** A failed call's fields for its log line and span. */
export const apiFields = (e: LeaseApiError) => ({
  verb: e.verb ?? null,
  status: e.status ?? null,
  reason: e.reason ?? null,
  kind: e.kind
})

export interface LeaseCommandsConfig {
  readonly identity: string
  readonly namespace: string
  readonly leaseName: string
  readonly incarnation: string
  readonly leaseDurationMs: number
  readonly retryPeriodMs: number
}

export class LeaseCommands extends Context.Service<LeaseCommands, {
  readonly read: Effect.Effect<Event>
  acquire(base: LeaseView | undefined): Effect.Effect<Event>
  renew(base: LeaseView): Effect.Effect<Event>
  /** Hand the lease back; retried on transient failures and on newer versions still ours, until interrupted. */
  release(base: LeaseView): Effect.Effect<void>
}>()("just-one-init/LeaseCommands") {
  static readonly layer = (config: LeaseCommandsConfig) =>
    Layer.effect(
      LeaseCommands,
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const writer: Writer = {
          identity: config.identity,
          incarnation: config.incarnation,
          durationSeconds: config.leaseDurationMs / 1000
        }
        const lastProblem = yield* Ref.make("")
        /**
         * Every failed call gets a line with its verb, HTTP status and reason; a warning only once until a call
         * succeeds again (repeats are debug lines), so a missing Role does not flood the log.
         */
        const report = (e: LeaseApiError) =>
          Ref.getAndSet(lastProblem, e.message).pipe(
            Effect.flatMap((last) =>
              (last === e.message ? Effect.logDebug(e.message) : Effect.logWarning(e.message)).pipe(
                Effect.annotateLogs(apiFields(e))
              )
            )
          )
        const recovered = Ref.set(lastProblem, "")

        /** A failed write as the machine hears it: on a conflict, with the lease as read right after. */
        const failed = <A extends Event>(
          e: LeaseApiError,
          make: (failure: ApiFailure, current?: LeaseView | undefined) => A
        ): Effect.Effect<A> =>
          e.kind === "conflict"
            ? Effect.logDebug(e.message).pipe(Effect.annotateLogs(apiFields(e)), Effect.andThen(store.get)).pipe(
              Effect.map((current) => make(e.failure, current)),
              Effect.catch(() => Effect.succeed(make({ kind: "transient", message: "conflict, then the read failed" })))
            )
            : Effect.as(report(e), make(e.failure))

        const monotonicMs = Effect.map(Clock.monotonicTimeNanos, (n) => Number(n / 1_000_000n))
        const leaseName = `${config.namespace}/${config.leaseName}`
        /** The span's attributes: the lease the write is based on. */
        const annotateBase = (base: LeaseView | undefined) =>
          Effect.annotateCurrentSpan({
            lease: leaseName,
            identity: config.identity,
            "lease.base.resourceVersion": base?.resourceVersion ?? "",
            "lease.base.holder": base?.holder ?? "",
            "lease.transitions": base?.transitions ?? 0
          })
        /** And what came of it: the machine's event, the failure, the version written. */
        const annotateOutcome = (e: Event) =>
          Effect.annotateCurrentSpan({
            outcome: e._tag,
            ...("failure" in e ? { "failure.kind": e.failure.kind, "failure.message": e.failure.message } : {}),
            ...("lease" in e && e.lease !== undefined
              ? { "lease.resourceVersion": e.lease.resourceVersion, "lease.holder": e.lease.holder }
              : {})
          })

        const read = store.get.pipe(
          Effect.tap(() => recovered),
          Effect.map((lease): Event => ({ _tag: "LeaseSeen", lease })),
          Effect.catch((e: LeaseApiError) => Effect.as(report(e), { _tag: "ReadFailed", failure: e.failure } as const))
        )

        const acquire = Effect.fn("LeaseCommands.acquire")(function*(base: LeaseView | undefined) {
          yield* annotateBase(base)
          const sentAt = yield* monotonicMs
          const spec = acquireSpec(base, writer, yield* Clock.currentTimeMillis)
          return yield* (base === undefined
            ? store.create(spec, config.incarnation)
            : store.replace(withSpec(base, spec, config.incarnation))).pipe(
              Effect.tap(() => recovered),
              Effect.map((lease): Event => ({ _tag: "Acquired", lease, sentAt })),
              Effect.catch((e: LeaseApiError) =>
                failed(e, (failure, current): Event => ({ _tag: "AcquireFailed", failure, current }))
              ),
              Effect.tap(annotateOutcome)
            )
        })

        const renew = Effect.fn("LeaseCommands.renew")(function*(base: LeaseView) {
          yield* annotateBase(base)
          const sentAt = yield* monotonicMs
          const now = yield* Clock.currentTimeMillis
          return yield* store.replace(withSpec(base, renewSpec(base, writer, now), config.incarnation)).pipe(
            Effect.map((lease): Event => ({ _tag: "Renewed", lease, sentAt, baseVersion: base.resourceVersion })),
            Effect.tap(() => recovered),
            Effect.catch((e: LeaseApiError) =>
              failed(e, (failure, current): Event => ({ _tag: "RenewFailed", failure, current }))
            ),
            Effect.tap(annotateOutcome),
            Effect.tap(() => Effect.flatMap(monotonicMs, (now) => Metric.update(renewDuration, (now - sentAt) / 1000)))
          )
        })

        /** One release write: done, or the newer version to retry on when it is still this process's lease. */
        const releaseOnce = (base: LeaseView): Effect.Effect<Option.Option<LeaseView>, LeaseApiError> =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => store.replace(withSpec(base, releaseSpec(base, now)))).pipe(
            Effect.as(Option.none<LeaseView>()),
            // Never release a lease another incarnation of our identity acquired since.
            Effect.catchIf((e) => e.kind === "conflict", () =>
              Effect.map(store.get, (now) => isOurs(now, config) ? Option.some(now!) : Option.none())),
            Effect.tapError(report),
            // Nothing retries faster than the retry period.
            Effect.retry({
              schedule: Schedule.spaced(config.retryPeriodMs),
              while: (e) =>
                e.kind === "transient"
            })
          )

        /** Release on `base`, following at most a few newer versions that are still ours. */
        const releaseFrom = (base: LeaseView, versions: number): Effect.Effect<void, LeaseApiError> =>
          releaseOnce(base).pipe(Effect.flatMap(Option.match({
            onNone: () => Effect.void,
            onSome: (next) => versions < 2 ? releaseFrom(next, versions + 1) : Effect.void
          })))
        const release = (base: LeaseView) =>
          annotateBase(base).pipe(
            Effect.andThen(releaseFrom(base, 0)),
            Effect.tapError((e) =>
              Effect.annotateCurrentSpan(
                Object.fromEntries(Object.entries(apiFields(e)).filter(([, v]) => v !== null))
              )
            ),
            Effect.ignore,
            Effect.withSpan("LeaseCommands.release")
          )

        return LeaseCommands.of({ read, acquire, renew, release })
      })
    )
}
