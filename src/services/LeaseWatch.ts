/**
 * The lease watch: the Lease's changes as the machine's observations
 * (LeaseSeen, and WatchChanged as the watch goes up and down). It is an
 * optimisation only; safety never waits on it [rule 7, docs/safety.md].
 * Pacing (backoff, minimum session, 410) is the informer's, behind
 * LeaseStore.changes.
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { Event } from "../domain/Machine.ts"
import { kubeFields } from "../kube/KubeError.ts"
import { LeaseStore } from "./LeaseStore.ts"

export class LeaseWatch extends Context.Service<LeaseWatch, {
  /** Feed the machine with LeaseSeen and WatchChanged events, until interrupted. */
  run(post: (e: Event) => Effect.Effect<void>): Effect.Effect<never>
}>()("just-one-init/LeaseWatch") {
  static readonly layer = Layer.effect(
    LeaseWatch,
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const run = Effect.fn("LeaseWatch.run")(function*(post: (e: Event) => Effect.Effect<void>) {
        yield* Stream.runForEach(store.changes, (c) => {
          switch (c._tag) {
            case "Listed":
              // One name: the list holds the Lease, or nothing.
              return post({ _tag: "LeaseSeen", lease: c.objects[0] })
            case "Put":
              return post({ _tag: "LeaseSeen", lease: c.object })
            case "Deleted":
              return post({ _tag: "LeaseSeen", lease: undefined })
            case "Watching":
              return post({ _tag: "WatchChanged", watching: c.watching })
            case "Failed":
              // Reads say what is wrong with the API; the watch's own failures are only debug lines.
              return Effect.logDebug(`lease watch: ${c.error.message}`).pipe(Effect.annotateLogs(kubeFields(c.error)))
          }
        })
        return yield* Effect.never
      })
      return LeaseWatch.of({ run })
    })
  )
}
