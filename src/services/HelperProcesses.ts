/**
 * The wrapper's own helper processes (exec credential plugins): the one kind
 * of descendant that may outlive a leadership term. Registered in the same
 * tick as their spawn, so no stop can mistake one for the child's leftovers.
 */
import { Context, Effect, Layer, Ref } from "effect"

export class HelperProcesses extends Context.Service<HelperProcesses, {
  /** Synchronous, for the spawn callback. */
  addUnsafe(pid: number): void
  removeUnsafe(pid: number): void
  readonly pids: Effect.Effect<ReadonlySet<number>>
}>()("just-one-init/HelperProcesses") {
  static readonly layer = Layer.sync(HelperProcesses, () => {
    const ref = Ref.makeUnsafe<ReadonlySet<number>>(new Set())
    return HelperProcesses.of({
      addUnsafe: (pid) => Effect.runSync(Ref.update(ref, (s) => new Set(s).add(pid))),
      removeUnsafe: (pid) => Effect.runSync(Ref.update(ref, (s) => new Set([...s].filter((p) => p !== pid)))),
      pids: Ref.get(ref)
    })
  })
}
