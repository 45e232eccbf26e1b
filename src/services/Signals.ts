/**
 * SIGTERM and SIGINT as a stream of requests to stop. As PID 1 in a container
 * the kernel ignores signals that have no handler, so they are handled here
 * explicitly; the elector decides what a stop means in each state.
 */
import { Context, Effect, Layer, Queue } from "effect"

export type StopSignal = "SIGTERM" | "SIGINT"

export class Signals extends Context.Service<Signals, {
  /** The next stop signal received. */
  readonly next: Effect.Effect<StopSignal>
}>()("just-one-init/Signals") {
  static readonly layer = Layer.effect(
    Signals,
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<StopSignal>()
      const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
        const handler = () => Queue.offerUnsafe(queue, signal)
        process.on(signal, handler)
        return [signal, handler] as const
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => handlers.forEach(([s, h]) => process.off(s, h))))
      return Signals.of({ next: Queue.take(queue) })
    })
  )
}
