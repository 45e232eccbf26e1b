/**
 * The wrapped command as a scoped resource. `start` spawns it in its own
 * process group; closing the scope is the one way it is stopped, under one
 * deadline for everything it started:
 *
 *   t0            SIGTERM to the child's process group
 *   (group gone)  SIGTERM to every other descendant of the wrapper (what left the group: setsid, daemons)
 *   killAt        SIGKILL to everything that is left, whatever happened in between
 *   then          wait until all of it is reaped (a bounded wait is logged, and waiting goes on)
 *
 * `killAt` is t0 + grace, or the earlier deadline set with `stopBy` (a leader's counts from its last
 * renew). A stop that begins at or past it sends SIGKILL at once and says why: the wrapper was frozen or
 * stalled past the point where the next leader may start.
 *
 * The command runs under child-init where there is one (ChildInit.ts): it leads the group, and
 * ends as the command does.
 *
 * The wrapper's own helper processes (exec credential plugins) are never touched.
 */
import { Context, Deferred, Effect, Layer, MutableRef, Option, Ref, Result } from "effect"
import type { Scope } from "effect"
import { constants } from "node:os"
import { cappedBackoff, monotonicMs } from "../domain/Time.ts"
import { launch, locateChildInit, prepare } from "./ChildInit.ts"
import type { Launched, NotLaunched, Warm } from "./ChildInit.ts"
import { HelperProcesses } from "./HelperProcesses.ts"
import { ProcessTree } from "./ProcessTree.ts"
import { Reaper } from "./Reaper.ts"
import { stopAll } from "./StopTree.ts"

export interface ChildExit {
  /** The exit code, 128+n when killed by signal n, 126/127 when it could not be started. */
  readonly code: number
  readonly signal: string | null
  /** Why it could not be started (an errno code such as ENOENT), if so. */
  readonly startError: string | null
}

export interface RunningChild {
  /** The command's own pid; -1 while its start is retried, and for good when it could not be started. */
  readonly pid: number
  /** Wall-clock ms at which it was spawned. */
  readonly startedAt: number
  /**
   * Completes once the command runs (true), or could not be started (false: `exit` says why). Until then a
   * spawn that failed for want of resources (EMFILE, EAGAIN …) is retried, until the child's scope closes.
   */
  readonly started: Effect.Effect<boolean>
  /** Whether its start is still being retried. */
  readonly starting: Effect.Effect<boolean>
  /** Completes once the child itself has ended. */
  readonly exit: Effect.Effect<ChildExit>
  /** Whether it has ended already: its exit was seen, or it is a zombie Node has not reaped yet. */
  readonly hasExited: Effect.Effect<boolean>
  /** The stop that closing its scope makes kills everything left at `killAt` (monotonic ms) at the latest; the first call counts. */
  stopBy(killAt: number): Effect.Effect<void>
}

/** Signals that are passed through to the child's process group while it runs. */
export const forwardedSignals: ReadonlyArray<NodeJS.Signals> = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGWINCH"]

export { killWaitMs } from "./StopTree.ts"

export class ChildSupervisor extends Context.Service<ChildSupervisor, {
  /** Start the command with the wrapper's environment plus `env`. */
  start(
    command: ReadonlyArray<string>,
    env?: Readonly<Record<string, string>>
  ): Effect.Effect<RunningChild, never, Scope.Scope>
}>()("just-one-init/ChildSupervisor") {
  /** `ahead`: the command to keep a child-init spawned ahead for (the elected child), so a start is a write, not a fork. */
  static readonly layer = (options: { readonly stopGraceMs: number; readonly ahead?: ReadonlyArray<string> }) =>
    Layer.effect(
      ChildSupervisor,
      Effect.gen(function*() {
        const reaper = yield* Reaper
        const tree = yield* ProcessTree
        const helpers = yield* HelperProcesses
        const stop = stopAll(tree, reaper, helpers)
        const init = locateChildInit()
        if (init === undefined && process.pid !== 1) {
          yield* Effect.logWarning(
            "child-init was not found or cannot be run (dist/child-init; the single executable writes it to TMPDIR or /tmp, which must be writable and not noexec): the command runs without it, and if this wrapper is killed, what the command started is left running"
          )
        }
        const { ahead } = options
        const ready = yield* Ref.make<Warm | undefined>(undefined)
        /** A child-init for `ahead`, waiting: one of the wrapper's helpers until it is told to go. */
        const spawnAhead = Effect.gen(function*() {
          if (init === undefined || ahead === undefined) return
          const made = prepare(ahead, { init, env: process.env, onSpawn: (leader) => reaper.protectUnsafe(leader) })
          if (made === undefined) return
          helpers.trackUnsafe(made.proc)
          made.proc.once("exit", () => Effect.runSync(reaper.unprotect(made.warm.leader)))
          ;(yield* Ref.getAndSet(ready, made.warm))?.dismiss()
        })
        const layerScope = yield* Effect.scope
        yield* spawnAhead
        yield* Effect.addFinalizer(() => Effect.map(Ref.get(ready), (w) => w?.dismiss()))
        /** The one spawned ahead, if it is for `command`: taken (a helper no more), and another spawned a while later. */
        const take = (command: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            if (ahead === undefined || command.join("\0") !== ahead.join("\0")) return undefined
            const warm = yield* Ref.getAndSet(ready, undefined)
            if (warm === undefined) return undefined
            helpers.untrackUnsafe(warm.leader)
            // Out of the way of the start it serves: a fork of the wrapper takes milliseconds.
            yield* Effect.forkIn(Effect.delay(spawnAhead, "1 second"), layerScope)
            return warm
          })
        return ChildSupervisor.of({
          start: (command, env = {}) =>
            spawnScoped(command, env, init, take(command), reaper, tree, stop, options.stopGraceMs)
        })
      })
    )
}

/** A failure to start ends like a shell reports it: 127 not found, 126 otherwise. */
const notStarted = (error: string): ChildExit => ({
  code: error === "ENOENT" ? 127 : 126,
  signal: null,
  startError: error
})

/** Failures for want of resources, which pass: retried. Any other (ENOENT, EACCES, ENOTDIR …) is about the command: final. */
const transient = new Set(["EMFILE", "ENFILE", "EAGAIN", "ENOMEM"])
const retryFloorMs = 250
const retryMaxMs = 2_000
const retrySchedule = cappedBackoff(retryFloorMs, retryMaxMs)

interface Running {
  readonly pid: number
  readonly leader: number
  readonly startedAt: number
  readonly forward: (signal: NodeJS.Signals) => void
}

const spawnScoped = Effect.fn("ChildSupervisor.start")(
  function*(
    command: ReadonlyArray<string>,
    env: Readonly<Record<string, string>>,
    init: string | undefined,
    ahead: Effect.Effect<Warm | undefined>,
    reaper: Reaper["Service"],
    tree: ProcessTree["Service"],
    stop: (pid: number, exited: Deferred.Deferred<ChildExit>, killAt: number) => Effect.Effect<void>,
    graceMs: number
  ) {
    const exited = yield* Deferred.make<ChildExit>()
    const deadline = yield* Deferred.make<number>()
    const started = yield* Deferred.make<boolean>()
    // Written once, by the attempt that starts the command, before anyone can interrupt it; read synchronously (pid).
    const running = MutableRef.make<Running | undefined>(undefined)
    const lastError = MutableRef.make("")
    const firstAttemptAt = Date.now()

    /** One start, uninterruptible: a process it spawned is always known to the stop below. */
    const attempt = Effect.flatMap(ahead, (warm) =>
      Effect.callback<Running, NotLaunched>((resume) => {
        const startedAt = Date.now()
        // A signal that comes while the command is being started is held, and sent once it has started.
        const held: Array<NodeJS.Signals> = []
        const hold = (signal: NodeJS.Signals) => void held.push(signal)
        for (const s of forwardedSignals) process.on(s, hold)
        const handlers = {
          onExit: (code: number | null, signal: NodeJS.Signals | null) =>
            Deferred.doneUnsafe(
              exited,
              Effect.succeed({
                code: code ?? 128 + (signal === null ? 0 : constants.signals[signal] ?? 0),
                signal,
                startError: null
              })
            ),
          onStart: (outcome: Launched | NotLaunched) => {
            for (const s of forwardedSignals) process.off(s, hold)
            if ("error" in outcome) {
              if (outcome.leader !== undefined) Effect.runSync(reaper.unprotect(outcome.leader))
              MutableRef.set(lastError, outcome.error)
              return resume(Effect.fail(outcome))
            }
            // The group's leader is Node's child (child-init, or the command itself): signals go to its group.
            const forward = (signal: NodeJS.Signals) => Effect.runSync(tree.signalGroup(outcome.leader, signal))
            for (const s of forwardedSignals) process.on(s, forward)
            for (const s of held) forward(s)
            const r = { ...outcome, startedAt, forward }
            MutableRef.set(running, r)
            resume(Effect.succeed(r))
          }
        }
        // Spawned ahead where there is one for this command (a write); else spawned now (a fork of the wrapper).
        if (warm?.go(env, handlers) !== true) {
          launch(command, {
            init,
            env: { ...process.env, ...env },
            onSpawn: (leader) => reaper.protectUnsafe(leader),
            ...handlers
          })
        }
      })).pipe(Effect.uninterruptible)
    const settle = (result: Result.Result<Running, NotLaunched>) =>
      Result.isSuccess(result)
        ? Deferred.succeed(started, true)
        // `started` first: whoever announces the start hears of it before anyone hears of the ending.
        : Effect.andThen(Deferred.succeed(started, false), Deferred.succeed(exited, notStarted(result.failure.error)))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const r = MutableRef.get(running)
        // Stopped before it could be started (a retry was under way): it ends as it last failed.
        if (r === undefined) return yield* Deferred.succeed(exited, notStarted(MutableRef.get(lastError)))
        for (const s of forwardedSignals) process.off(s, r.forward)
        const set = yield* Deferred.poll(deadline)
        const killAt = Option.isSome(set) ? yield* set.value : (yield* monotonicMs) + graceMs
        yield* stop(r.leader, exited, killAt)
        yield* reaper.unprotect(r.leader)
      })
    )
    const starting = Effect.gen(function*() {
      const first = yield* Effect.result(attempt)
      if (Result.isFailure(first) && transient.has(first.failure.error)) {
        yield* Effect.logWarning(
          `cannot start ${
            JSON.stringify(command[0])
          }: ${first.failure.error}; retrying (from ${retryFloorMs} ms, backing off to ${retryMaxMs} ms) until it starts or the term ends`
        )
        yield* Effect.sleep(retryFloorMs).pipe(
          Effect.andThen(attempt),
          Effect.retry({ schedule: retrySchedule, while: (e) => transient.has(e.error) }),
          Effect.result,
          Effect.flatMap(settle)
        )
      } else yield* settle(first)
    })
    // The spawn (or the go to the child-init spawned ahead) happens now; its report comes later, and the caller
    // (the election's loop) does not wait for it. Forked after the stop's finalizer was added: closing the scope
    // ends the start (and its retries) first, then stops what it started.
    yield* Effect.forkScoped(starting, { startImmediately: true })

    return {
      get pid() {
        return MutableRef.get(running)?.pid ?? -1
      },
      get startedAt() {
        return MutableRef.get(running)?.startedAt ?? firstAttemptAt
      },
      started: Deferred.await(started),
      starting: Effect.map(Deferred.isDone(started), (done) => !done),
      exit: Deferred.await(exited),
      hasExited: Effect.gen(function*() {
        if (yield* Deferred.isDone(exited)) return true
        const leader = MutableRef.get(running)?.leader
        // A table that cannot be read says nothing: still running, as far as anyone can tell.
        const stat = leader === undefined
          ? undefined
          : yield* tree.stat(leader).pipe(Effect.orElseSucceed(() => undefined))
        return stat?.state === "Z"
      }),
      stopBy: (killAt) => Effect.asVoid(Deferred.succeed(deadline, killAt))
    } satisfies RunningChild
  }
)
