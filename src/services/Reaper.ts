/**
 * PID-1 duty: reap orphans. As PID 1 in a container (or as a child subreaper
 * elsewhere), processes that the child leaves behind are re-parented to us and
 * become zombies unless someone waits for them. Node only waits for processes
 * it spawned, so a tiny Node-API addon (native/reaper.c) supplies waitpid();
 * on every SIGCHLD, and every second as a safety net, each of our children
 * that Node does not own is reaped if it has exited.
 */
import { readdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { Context, Effect, Layer } from "effect"

interface Addon {
  reap(pid: number): { pid: number; status: number } | null
  subreaper(): boolean
}

/** Where the addon is: beside the bundle (dist/reaper.node), or where node-gyp built it. */
const candidates = ["./reaper.node", "../build/Release/reaper.node", "../../build/Release/reaper.node"]

export const loadAddon = (base: string = import.meta.url): Addon | undefined => {
  const require = createRequire(base)
  for (const path of candidates) {
    try {
      return require(path) as Addon
    } catch {
      // Try the next place.
    }
  }
  return undefined
}

/** Our children, from the kernel's own list per thread. */
const childrenOf = (pid: number): Array<number> => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter((s) => s !== "").map(Number)
    )
  } catch {
    return []
  }
}

export class Reaper extends Context.Service<Reaper, {
  /** False when the addon could not be loaded: nothing is reaped. */
  readonly active: boolean
  /**
   * A child that Node spawned and waits for itself; reaping it would steal its exit status.
   * Synchronous, so it can be called in the same tick as spawn(), before any SIGCHLD is handled.
   */
  protectUnsafe(pid: number): void
  unprotect(pid: number): Effect.Effect<void>
  /** How many orphans were reaped so far. */
  readonly reaped: Effect.Effect<number>
}>()("just-one-init/Reaper") {
  static readonly layer = Layer.effect(
    Reaper,
    Effect.gen(function*() {
      const protectedPids = new Set<number>()
      let reaped = 0
      const addon = loadAddon()
      const service = (active: boolean) =>
        Reaper.of({
          active,
          protectUnsafe: (pid: number) => {
            protectedPids.add(pid)
          },
          unprotect: Effect.fn("Reaper.unprotect")(function*(pid: number) {
            protectedPids.delete(pid)
          }),
          reaped: Effect.sync(() => reaped)
        })
      if (addon === undefined) {
        if (process.pid === 1) yield* Effect.logWarning("running as PID 1 without the reaper addon (dist/reaper.node): orphaned processes will not be reaped")
        return service(false)
      }
      // Not PID 1 (a pod sharing its process namespace, a laptop): collect our own orphans anyway.
      if (process.pid !== 1) addon.subreaper()
      const sweep = () => {
        for (const pid of childrenOf(process.pid)) {
          if (!protectedPids.has(pid) && addon.reap(pid) !== null) reaped++
        }
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.on("SIGCHLD", sweep)
          const timer = setInterval(sweep, 1000)
          timer.unref()
          return timer
        }),
        (timer) => Effect.sync(() => {
          process.off("SIGCHLD", sweep)
          clearInterval(timer)
        })
      )
      return service(true)
    })
  )
}
