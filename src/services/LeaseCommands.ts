/**
 * The machine's lease commands as effects that answer with its events: read,
 * acquire, renew, release. Every write is conditional and built by the pure
 * spec functions of Lease.ts; a conflict is followed by one read, so the
 * machine decides with the current version in hand.
 */
import { Clock, Context, Effect, Layer, Metric, Option, Schedule } from "effect"
import type { LeaseView, Writer } from "../domain/Lease.ts"
import { acquireSpec, isOurs, releaseSpec, renewSpec, withSpec } from "../domain/Lease.ts"
import type { ApiFailure, Event } from "../domain/Machine.ts"
import { monotonicMs } from "../domain/Time.ts"
import type { KubeError } from "../kube/KubeError.ts"
import { isTransient, kubeFields } from "../kube/KubeError.ts"
import { sayOnce } from "../kube/SayOnce.ts"
import { LeaseStore } from "./LeaseStore.ts"
import { renewDuration } from "./Telemetry.ts"

/** A failed call as the machine hears it. */
export const failureOf = (e: KubeError): ApiFailure => {
  switch (e.reason._tag) {
    case "Conflict":
      return { kind: "conflict", message: e.message }
    case "Throttled":
      return { kind: "transient", message: e.message, retryAfterMs: e.reason.retryAfterMs }
    case "Unavailable":
      return { kind: "transient", message: e.message }
    case "Unauthorized":
    case "Forbidden":
    case "NamespaceMissing":
      return { kind: "denied", message: e.message }
    case "NotFound":
    case "Invalid":
      return { kind: "invalid", message: e.message }
  }
}

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
        /**
         * Every failed call gets a line with its verb, HTTP status and reason; a warning only once until a call
         * succeeds again (repeats are debug lines), so a missing Role does not flood the log.
         */
        const say = yield* sayOnce
        const report = (e: KubeError) => say.problem(e.message, e.message, kubeFields(e))
        const recovered = Effect.asVoid(say.ok)

        /** A failed write as the machine hears it: on a conflict, with the lease as read right after. */
        const failed = <A extends Event>(
          e: KubeError,
          make: (failure: ApiFailure, current?: LeaseView | undefined) => A
        ): Effect.Effect<A> =>
          e.reason._tag === "Conflict"
            ? Effect.logDebug(e.message).pipe(Effect.annotateLogs(kubeFields(e)), Effect.andThen(store.get)).pipe(
              Effect.map((current) => make(failureOf(e), current)),
              Effect.catch(() => Effect.succeed(make({ kind: "transient", message: "conflict, then the read failed" })))
            )
            : Effect.as(report(e), make(failureOf(e)))

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
          Effect.catch((e: KubeError) => Effect.as(report(e), { _tag: "ReadFailed", failure: failureOf(e) } as const))
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
              Effect.catch((e: KubeError) =>
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
            Effect.catch((e: KubeError) =>
              failed(e, (failure, current): Event => ({ _tag: "RenewFailed", failure, current }))
            ),
            Effect.tap(annotateOutcome),
            Effect.tap(() => Effect.flatMap(monotonicMs, (now) => Metric.update(renewDuration, (now - sentAt) / 1000)))
          )
        })

        /** One release write: done, or the newer version to retry on when it is still this process's lease. */
        const releaseOnce = (base: LeaseView): Effect.Effect<Option.Option<LeaseView>, KubeError> =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => store.replace(withSpec(base, releaseSpec(base, now)))).pipe(
            Effect.as(Option.none<LeaseView>()),
            // Never release a lease another incarnation of our identity acquired since.
            Effect.catchReason("KubeError", "Conflict", () =>
              Effect.map(store.get, (now) =>
                isOurs(now, config) ? Option.some(now!) : Option.none())),
            Effect.tapError(report),
            // Nothing retries faster than the retry period.
            Effect.retry({
              schedule: Schedule.spaced(config.retryPeriodMs),
              while: isTransient
            })
          )

        /** Release on `base`, following at most a few newer versions that are still ours. */
        const releaseFrom = (base: LeaseView, versions: number): Effect.Effect<void, KubeError> =>
          releaseOnce(base).pipe(Effect.flatMap(Option.match({
            onNone: () =>
              Effect.void,
            onSome: (next) => versions < 2 ? releaseFrom(next, versions + 1) : Effect.void
          })))
        const release = (base: LeaseView) =>
          annotateBase(base).pipe(
            Effect.andThen(releaseFrom(base, 0)),
            Effect.tapError((e) =>
              Effect.annotateCurrentSpan(
                Object.fromEntries(Object.entries(kubeFields(e)).filter(([, v]) => v !== null))
              )
            ),
            Effect.ignore,
            Effect.withSpan("LeaseCommands.release")
          )

        return LeaseCommands.of({ read, acquire, renew, release })
      })
    )
}
