/**
 * PID-1 duty: reap orphans. As PID 1 in a container (or as a child subreaper
 * elsewhere), processes that the child leaves behind are re-parented to us and
 * become zombies unless someone waits for them. Node only waits for processes
 * it spawned, so a tiny Node-API addon (native/reaper.c) supplies waitpid() on
 * a given pid. It is never waitpid(-1): that would race libuv for Node's own
 * children and steal their exit status.
 *
 * Not every zombie child of ours is an orphan, though: a child that Node
 * spawned (the child, or an exec credential plugin) is a zombie from its
 * exit until libuv's SIGCHLD handler waits for it, and reaping it in that gap
 * loses its 'exit' event for good. So a zombie is reaped only once it has
 * stayed a zombie across an event-loop poll phase (where libuv handles SIGCHLD)
 * and for at least `graceMs`: by then libuv has taken it if it was Node's.
 */
import { Context, Effect, Layer } from "effect"
import { createRequire } from "node:module"
import { performance } from "node:perf_hooks"
import { withAsset } from "./Assets.ts"
import { childrenOf, statOf } from "./ProcessTree.ts"

interface Addon {
  reap(pid: number): { pid: number; status: number } | null
  subreaper(): boolean
}

/** Where the addon is: beside the bundle (dist/reaper.node), or where node-gyp built it. */
const candidates = ["./reaper.node", "../build/Release/reaper.node", "../../build/Release/reaper.node"]

/**
 * In the single executable the addon is an embedded asset, and dlopen needs a file: it goes to a
 * private temp dir (TMPDIR or /tmp, writable and not noexec), which is removed once it is loaded.
 */
const fromExecutable = (): Addon | undefined =>
  withAsset("reaper.node", (path) => {
    const module = { exports: {} }
    process.dlopen(module, path)
    return module.exports as Addon
  })

export const loadAddon = (base: string = import.meta.url): Addon | undefined => {
  if (process.getBuiltinModule("node:sea").isSea()) return fromExecutable()
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

/** A table that cannot be read now is read again at the next sweep: nothing is reaped on a guess. */
const readable = <A>(read: () => A): A | undefined => {
  try {
    return read()
  } catch {
    return undefined
  }
}

/** A zombie must outlive a poll phase and this long before it counts as an orphan. */
const graceMs = 100
/** Sweeps also run this often, in case a SIGCHLD was missed (or zombies predate us). */
const sweepEveryMs = 500

export class Reaper extends Context.Service<Reaper, {
  /** False when the addon could not be loaded: nothing is reaped. */
  readonly active: boolean
  /**
   * A child that Node spawned and waits for itself, never to be reaped here even if libuv is slow.
   * Synchronous, so it can be called in the same tick as spawn(), before any sweep runs.
   */
  protectUnsafe(pid: number): void
  unprotect(pid: number): Effect.Effect<void>
  /**
   * Reap a zombie orphan now, without the grace period: for processes the stop itself killed,
   * which are known orphans (never a process Node spawned). False when it is not one to reap.
   */
  reapNow(pid: number): Effect.Effect<boolean>
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
          reapNow: (pid: number) =>
            Effect.sync(() => {
              const stat = readable(() => statOf(pid))
              if (addon === undefined || protectedPids.has(pid) || stat?.state !== "Z" || stat.ppid !== process.pid) {
                return false
              }
              const done = addon.reap(pid) !== null
              if (done) reaped++
              return done
            }),
          reaped: Effect.sync(() => reaped)
        })
      if (addon === undefined) {
        if (process.pid === 1) {
          yield* Effect.logWarning(
            "running as PID 1 without the reaper addon (dist/reaper.node; the single executable writes it to TMPDIR or /tmp, which must be writable and not noexec): orphaned processes will not be reaped"
          )
        }
        return service(false)
      }
      // Not PID 1 (a pod sharing its process namespace, a laptop): collect our own orphans anyway.
      if (process.pid !== 1) addon.subreaper()

      /** Zombie children ("pid:start") and when a sweep first saw them. */
      const zombieSince = new Map<string, number>()
      let followUp: NodeJS.Timeout | undefined
      const sweep = () => {
        const now = performance.now()
        const current = new Set<string>()
        for (const pid of readable(() => childrenOf(process.pid)) ?? []) {
          const stat = protectedPids.has(pid) ? undefined : readable(() => statOf(pid))
          if (stat?.state !== "Z") continue
          const key = `${pid}:${stat.start}`
          const since = zombieSince.get(key) ?? now
          if (now - since >= graceMs) {
            if (addon.reap(pid) !== null) reaped++
          } else {
            zombieSince.set(key, since)
            current.add(key)
          }
        }
        for (const key of zombieSince.keys()) if (!current.has(key)) zombieSince.delete(key)
        // Zombies wait for a second look; come back for them rather than at the next periodic sweep.
        if (current.size > 0 && followUp === undefined) {
          followUp = setTimeout(() => {
            followUp = undefined
            requestSweep()
          }, graceMs).unref()
        }
      }
      // Every sweep runs from the check phase, at most one per loop turn: a poll phase (where libuv
      // waits for Node's children) always lies between the first look at a zombie and the reaping one.
      let scheduled: NodeJS.Immediate | undefined
      const requestSweep = () => {
        scheduled ??= setImmediate(() => {
          scheduled = undefined
          sweep()
        })
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.on("SIGCHLD", requestSweep)
          const timer = setInterval(requestSweep, sweepEveryMs).unref()
          requestSweep()
          return timer
        }),
        (timer) =>
          Effect.sync(() => {
            process.off("SIGCHLD", requestSweep)
            clearInterval(timer)
            clearTimeout(followUp)
            clearImmediate(scheduled)
          })
      )
      return service(true)
    })
  )
}
