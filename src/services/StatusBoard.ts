/**
 * What the wrapper is doing, for the probes and /status: waiting for gates,
 * electing, or running the command directly (no election). Each phase shows
 * its own report here; the health server reads whichever is current.
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { WrapperStatus } from "../domain/Status.ts"

export class StatusBoard extends Context.Service<StatusBoard, {
  readonly current: Effect.Effect<WrapperStatus>
  /** From now on the status is what `report` answers. */
  show(report: Effect.Effect<WrapperStatus>): Effect.Effect<void>
}>()("just-one-init/StatusBoard") {
  static readonly layer = Layer.effect(
    StatusBoard,
    Effect.gen(function*() {
      const reporter = yield* Ref.make<Effect.Effect<WrapperStatus>>(Effect.succeed({ phase: "starting" }))
      return StatusBoard.of({
        current: Effect.flatten(Ref.get(reporter)),
        show: (report) => Ref.set(reporter, report)
      })
    })
  )
}
