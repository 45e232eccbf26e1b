/**
 * The lease watch: an optimisation that only feeds observations to the
 * machine; safety never waits on it [rule 7]. Sessions are paced so that no
 * answer of the server makes it hammer the API: after a session that ends
 * well, a retry period's pause; after one that fails (an error, a watch ERROR
 * event, a 410, or a clean end within `minSessionMs`), exponential backoff
 * from the retry period up to `maxBackoffMs`.
 */
import { Clock, Context, Effect, Layer, Ref, Schedule, Schema, Stream } from "effect"
import type { Event } from "../domain/Election.ts"
import { LeaseStore } from "./LeaseStore.ts"

/** A session shorter than this that ends "cleanly" counts as a failure (real servers keep watches for minutes). */
export const minSessionMs = 10_000
/** Reconnect backoff cap. */
export const maxBackoffMs = 30_000

class SessionFailed extends Schema.TaggedError<SessionFailed>()("SessionFailed", { message: Schema.String }) {}

export class LeaseWatch extends Context.Service<LeaseWatch, {
  /** Feed the machine with LeaseSeen and WatchChanged events, until interrupted. */
  run(post: (e: Event) => Effect.Effect<void>): Effect.Effect<never>
}>()("just-one-init/LeaseWatch") {
  static readonly layer = (config: { readonly retryPeriodMs: number }) =>
    Layer.effect(
      LeaseWatch,
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const run = Effect.fn("LeaseWatch.run")(function*(post: (e: Event) => Effect.Effect<void>) {
          /** Where the last session left off: "" = start from the current state. */
          const position = yield* Ref.make("")
          const session = Effect.gen(function*() {
            const began = yield* Clock.currentTimeMillis
            const from = yield* Ref.get(position)
            yield* Effect.annotateCurrentSpan({ "watch.resourceVersion": from })
            const stream = yield* store.watch(from)
            yield* post({ _tag: "WatchChanged", watching: true })
            yield* Stream.runForEach(stream, (e): Effect.Effect<void, SessionFailed> => {
              switch (e._tag) {
                case "Changed":
                  return Ref.set(position, e.lease.resourceVersion).pipe(
                    Effect.andThen(post({ _tag: "LeaseSeen", lease: e.lease }))
                  )
                case "Deleted":
                  return post({ _tag: "LeaseSeen", lease: undefined })
                case "Bookmark":
                  return Ref.set(position, e.resourceVersion)
                case "Expired":
                  // The server forgot our place: the next session starts again from the current state.
                  return Ref.set(position, "").pipe(Effect.andThen(new SessionFailed({ message: "410 Expired" })))
                case "Error":
                  return new SessionFailed({ message: e.message })
              }
            })
            if ((yield* Clock.currentTimeMillis) - began < minSessionMs) {
              return yield* new SessionFailed({ message: "the watch ended at once" })
            }
          }).pipe(
            Effect.scoped,
            Effect.ensuring(post({ _tag: "WatchChanged", watching: false })),
            Effect.tapError((e) =>
              Effect.logDebug(`lease watch: ${e.message}`).pipe(Effect.annotateLogs({ verb: "watch" }))
            ),
            Effect.withSpan("LeaseWatch.session")
          )
          return yield* session.pipe(
            Effect.retry(Schedule.min([Schedule.exponential(config.retryPeriodMs), Schedule.spaced(maxBackoffMs)])),
            // The retry never gives up; this only tells the types so.
            Effect.ignore,
            Effect.andThen(Effect.sleep(config.retryPeriodMs)),
            Effect.forever
          )
        })
        return LeaseWatch.of({ run })
      })
    )
}
