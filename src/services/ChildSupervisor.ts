/**
 * The wrapped command as a scoped resource. `start` spawns it in its own
 * process group; closing the scope is the one way it is stopped: SIGTERM to
 * the group, SIGKILL to the group after the grace period, then wait until the
 * child is reaped and no process of its group is left.
 */
import { Context, Deferred, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import { constants } from "node:os"
import { Reaper } from "./Reaper.ts"

export interface RunningChild {
  readonly pid: number
  /** Wall-clock ms at which it was spawned. */
  readonly startedAt: number
  /** Completes with the exit code once the child has ended (128+n when killed by signal n). */
  readonly exitCode: Effect.Effect<number>
}

/** Signals that are passed through to the child's process group while it runs. */
export const forwardedSignals: ReadonlyArray<NodeJS.Signals> = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGWINCH"]

export class ChildSupervisor extends Context.Service<ChildSupervisor, {
  start(command: ReadonlyArray<string>): Effect.Effect<RunningChild, never, Scope.Scope>
}>()("just-one-init/ChildSupervisor") {
  static readonly layer = (options: { readonly stopGraceMs: number }) =>
    Layer.effect(
      ChildSupervisor,
      Effect.gen(function*() {
        const reaper = yield* Reaper
        return ChildSupervisor.of({ start: (command) => spawnScoped(command, options.stopGraceMs, reaper) })
      })
    )
}

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))

const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the group is already gone.
  }
}

const spawnScoped = Effect.fn("ChildSupervisor.start")(
  function*(command: ReadonlyArray<string>, stopGraceMs: number, reaper: Reaper["Service"]) {
    const exited = yield* Deferred.make<number>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const [file, ...args] = command as [string, ...Array<string>]
        // Own process group (detached) so that stopping it reaches grandchildren too.
        const proc = spawn(file, args, { stdio: "inherit", detached: true, env: process.env })
        if (proc.pid !== undefined) reaper.protectUnsafe(proc.pid)
        proc.once("exit", (code, signal) => Deferred.doneUnsafe(exited, Effect.succeed(exitCodeOf(code, signal))))
        // A command that cannot be started (not found, not executable) ends like a shell would report it.
        proc.once("error", (err: NodeJS.ErrnoException) => {
          process.stderr.write(
            `${
              JSON.stringify({
                level: "ERROR",
                message: `cannot start ${JSON.stringify(file)}: ${err.code ?? err.message}`
              })
            }\n`
          )
          Deferred.doneUnsafe(exited, Effect.succeed(err.code === "ENOENT" ? 127 : 126))
        })
        const forward = (signal: NodeJS.Signals) => {
          if (proc.pid !== undefined) signalGroup(proc.pid, signal)
        }
        for (const s of forwardedSignals) process.on(s, forward)
        return { proc, forward, startedAt: Date.now() }
      }),
      ({ forward, proc }) =>
        Effect.gen(function*() {
          for (const s of forwardedSignals) process.off(s, forward)
          const pid = proc.pid
          if (pid === undefined) return
          if (!(yield* Deferred.isDone(exited))) {
            signalGroup(pid, "SIGTERM")
            const stopped = yield* Deferred.await(exited).pipe(Effect.timeoutOption(stopGraceMs))
            if (stopped._tag === "None") {
              signalGroup(pid, "SIGKILL")
              yield* Deferred.await(exited)
            }
          }
          yield* reaper.unprotect(pid)
          // The child is reaped; anything left in its group is still "the child running".
          if (groupAlive(pid)) {
            signalGroup(pid, "SIGTERM")
            yield* waitGroupGone(pid, stopGraceMs)
          }
        })
    )
    return {
      pid: child.proc.pid ?? -1,
      startedAt: child.startedAt,
      exitCode: Deferred.await(exited)
    } satisfies RunningChild
  }
)

/** Poll until no process of the group is left, escalating to SIGKILL after the grace period. */
const waitGroupGone = (pgid: number, graceMs: number) =>
  Effect.gen(function*() {
    let waited = 0
    let killed = false
    while (groupAlive(pgid)) {
      if (!killed && waited >= graceMs) {
        signalGroup(pgid, "SIGKILL")
        killed = true
      }
      yield* Effect.sleep(20)
      waited += 20
      if (killed && waited >= graceMs + 2000) return
    }
  })
