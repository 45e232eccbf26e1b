/**
 * SIGTERM and SIGINT as a stream of requests to stop. As PID 1 in a container
 * the kernel ignores signals that have no handler, so they are handled here
 * explicitly, from the first thing the wrapper does: a signal that arrives
 * while it is still starting waits in the queue, and the machine decides what
 * a stop means in whatever state it then finds itself.
 */
import { Context, Effect, Layer, Queue } from "effect"

export type StopSignal = "SIGTERM" | "SIGINT"

export class Signals extends Context.Service<Signals, {
  /** The next stop signal received. */
  readonly next: Effect.Effect<StopSignal>
}>()("just-one-init/Signals") {
  /** Install the handlers now (for the process's whole life) and answer the layer that reads them. */
  static readonly install = (): Layer.Layer<Signals> => {
    const queue = Effect.runSync(Queue.unbounded<StopSignal>())
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => Queue.offerUnsafe(queue, signal))
    return Layer.succeed(Signals, Signals.of({ next: Queue.take(queue) }))
  }
}
