/**
 * The command without an election (--no-election, ELECTION=off, or
 * k8s-await-election's pass-through when it is not enabled): one term, still
 * supervised. Signals are forwarded, orphans reaped, a stop signal stops it
 * under the same deadline as a leader's child, and its code is the wrapper's.
 */
import { Context, Effect, Layer } from "effect"
import { Leadership } from "./Leadership.ts"
import { Signals } from "./Signals.ts"
import { StatusBoard } from "./StatusBoard.ts"

export class Direct extends Context.Service<Direct, {
  run(command: ReadonlyArray<string>): Effect.Effect<number>
}>()("just-one-init/Direct") {
  static readonly layer = Layer.effect(
    Direct,
    Effect.gen(function*() {
      const leadership = yield* Leadership
      const signals = yield* Signals
      const board = yield* StatusBoard
      const run = Effect.fn("Direct.run")(function*(command: ReadonlyArray<string>) {
        const term = yield* leadership.begin(command)
        // Read when shown: a start that is retried has no pid yet.
        const child = () =>
          term.child.pid === -1
            ? null
            : { pid: term.child.pid, startedAt: new Date(term.child.startedAt).toISOString(), fencingToken: null }
        yield* board.show(Effect.sync(() => ({ phase: "direct", child: child(), exiting: false })))
        yield* Effect.forkScoped(Effect.gen(function*() {
          const signal = yield* signals.next
          yield* Effect.logInfo("stopping the child").pipe(Effect.annotateLogs({ signal }))
          yield* board.show(Effect.sync(() => ({ phase: "direct", child: child(), exiting: true })))
          yield* term.stop()
        }))
        return (yield* term.ended).exit.code
      }, Effect.scoped)
      return Direct.of({ run })
    })
  )
}
