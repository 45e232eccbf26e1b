/**
 * The wrapper's own helper processes (today: kubeconfig exec credential
 * plugins), as opposed to the child and its tree. Whoever kills our other
 * descendants asks here first. A helper is registered synchronously, in the
 * tick that spawned it, so no one can see its pid before it is known, and it
 * leaves the set when Node has reaped it ('exit'), not before. Helpers are
 * spawned detached: each leads its own process group (group id = its pid), so
 * a helper's own children are the members of that group.
 */
import { Context, Effect, Layer } from "effect"
import type { ChildProcess } from "node:child_process"

export class HelperProcesses extends Context.Service<HelperProcesses, {
  /** Call in the same tick as spawn(): `child` counts as a helper from now until its 'exit'. */
  trackUnsafe(child: ChildProcess): void
  /** Synchronous: `pid` is a helper no more (child-init spawned ahead, now the child's). */
  untrackUnsafe(pid: number): void
  has(pid: number): Effect.Effect<boolean>
  /** A snapshot of the helpers alive now. */
  readonly pids: Effect.Effect<ReadonlySet<number>>
}>()("just-one-init/HelperProcesses") {
  static readonly layer = Layer.sync(HelperProcesses, () => {
    const pids = new Set<number>()
    return HelperProcesses.of({
      trackUnsafe: (child) => {
        const pid = child.pid
        // No pid: the spawn failed and 'error' follows; there is no process to know.
        if (pid === undefined) return
        pids.add(pid)
        child.once("exit", () => pids.delete(pid))
      },
      untrackUnsafe: (pid) => void pids.delete(pid),
      has: (pid) => Effect.sync(() => pids.has(pid)),
      pids: Effect.sync(() => new Set(pids))
    })
  })
}
