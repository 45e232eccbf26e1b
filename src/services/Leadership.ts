/**
 * One leadership term: the child started in a scope of its own, stopped at
 * most once, and exactly one report of how the term ended. Whether the child
 * ended by itself or was stopped is decided here once, by whichever comes
 * first (its own exit, or a stop that finds it still running); what that
 * means for the wrapper is the pure machine's rule (Election.ts, ChildEnded).
 * What runs alongside the child (service mode's endpoints) lives in a scope
 * of its own in the term's, and ends with it, concurrently with the child's
 * stop and before the ending is reported.
 */
import { Clock, Context, Deferred, Effect, Exit, Layer, Metric, Scope } from "effect"
import type { ChildExit, RunningChild } from "./ChildSupervisor.ts"
import { ChildSupervisor } from "./ChildSupervisor.ts"
import { childStarts, childStopDuration } from "./Telemetry.ts"

export interface Ending {
  readonly exit: ChildExit
  /** It ended before any stop was asked of it (or was already exiting when one was). */
  readonly byItself: boolean
  /** From the start of the stop until everything the child started was gone. */
  readonly stopMs: number
}

/** What a term adds to the command: service mode's endpoints, and the fencing token of an elected one. */
export interface TermOptions {
  /** Acquired in the term once the child has started; it must not wait (fork what takes time). */
  readonly alongside?: Effect.Effect<void, never, Scope.Scope> | undefined
  /** Given to the child as JUST_ONE_INIT_FENCING_TOKEN, and shown with it (log line, span, /status). */
  readonly fencingToken?: number | undefined
}

/** The child's environment variable with the fencing token. */
export const fencingTokenVariable = "JUST_ONE_INIT_FENCING_TOKEN"

export interface Term {
  readonly child: RunningChild
  readonly fencingToken: number | undefined
  /**
   * End the term: stop the child and all it started, everything dead by `killAt` (monotonic ms; by default
   * a grace from now). Idempotent; completes with the one ending.
   */
  stop(killAt?: number): Effect.Effect<Ending>
  /** Completes with the one ending, however the term ended. */
  readonly ended: Effect.Effect<Ending>
}

export class Leadership extends Context.Service<Leadership, {
  /** Start a term; it lives in a scope forked from the caller's, so closing that scope ends it too. */
  begin(command: ReadonlyArray<string>, options?: TermOptions): Effect.Effect<Term, never, Scope.Scope>
}>()("just-one-init/Leadership") {
  static readonly layer = Layer.effect(
    Leadership,
    Effect.gen(function*() {
      const supervisor = yield* ChildSupervisor
      const begin = Effect.fn("Leadership.begin")(function*(command: ReadonlyArray<string>, options: TermOptions = {}) {
        const { alongside, fencingToken } = options
        const parent = yield* Effect.scope
        // Closed in parallel: an API call alongside (up to a request deadline) must never delay the child's stop,
        // which the lease's timing counts on.
        const scope = yield* Scope.fork(parent, "parallel")
        const childScope = yield* Scope.fork(scope)
        // Runs last in the child's scope: when everything the child started is gone, whatever else the term still does.
        const childGone = yield* Deferred.make<number>()
        yield* Scope.addFinalizer(
          childScope,
          Effect.flatMap(Clock.currentTimeMillis, (t) => Deferred.succeed(childGone, t))
        )
        const env = fencingToken === undefined ? {} : { [fencingTokenVariable]: String(fencingToken) }
        const child = yield* supervisor.start(command, env).pipe(Scope.provide(childScope))
        // The child's whole life is one span, ended with how it ended.
        const span = yield* Effect.makeSpan("Leadership.term", {
          attributes: { command: command[0], ...(fencingToken === undefined ? {} : { "fencing.token": fencingToken }) }
        })
        // Said whole once the outcome is known, even if the term then ends at once (a command that cannot start).
        const announce = Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            if (yield* restore(child.started)) {
              span.attribute("pid", child.pid)
              yield* Effect.logInfo("child started").pipe(
                Effect.annotateLogs(fencingToken === undefined ? { pid: child.pid } : { pid: child.pid, fencingToken })
              )
              yield* Metric.update(childStarts, 1)
              if (alongside !== undefined) yield* alongside.pipe(Scope.provide(yield* Scope.fork(scope)))
            } else {
              const exit = yield* child.exit
              yield* Effect.logError(`cannot start ${JSON.stringify(command[0])}: ${exit.startError}`)
            }
          })
        )
        // Announced when the exec is reported (or a start retried for want of resources comes): the caller (the
        // election's loop) goes on meanwhile, to its log line and its renews.
        yield* Effect.forkIn(announce, scope, { startImmediately: true })
        const firstCause = yield* Deferred.make<"self" | "stop">()
        const ending = yield* Deferred.make<Ending>()
        const finish = (cause: "self" | "stop") =>
          Effect.uninterruptible(Effect.gen(function*() {
            if (!(yield* Deferred.succeed(firstCause, cause))) return yield* Deferred.await(ending)
            const t0 = yield* Clock.currentTimeMillis
            yield* Scope.close(scope, Exit.void)
            const exit = yield* child.exit
            const result: Ending = { exit, byItself: cause === "self", stopMs: (yield* Deferred.await(childGone)) - t0 }
            const fields = {
              pid: child.pid,
              exitCode: exit.code,
              signal: exit.signal,
              byItself: result.byItself,
              stopMs: result.stopMs
            }
            if (child.pid !== -1) {
              yield* Effect.logInfo("child ended").pipe(Effect.annotateLogs(fields))
              if (!result.byItself) yield* Metric.update(childStopDuration, result.stopMs / 1000)
            }
            for (const [k, v] of Object.entries(fields)) if (v !== null) span.attribute(k, v)
            span.end(yield* Clock.currentTimeNanos, Exit.void)
            yield* Deferred.succeed(ending, result)
            return result
          }))
        // The child ending by itself also closes its scope: what it left behind is stopped before anyone hears of it.
        yield* Effect.forkIn(Effect.andThen(child.exit, finish("self")), parent, { startImmediately: true })
        return {
          child,
          fencingToken,
          stop: (killAt) =>
            Effect.andThen(
              killAt === undefined ? Effect.void : child.stopBy(killAt),
              Effect.flatMap(child.hasExited, (exited) => finish(exited ? "self" : "stop"))
            ),
          ended: Deferred.await(ending)
        } satisfies Term
      })
      return Leadership.of({ begin })
    })
  )
}
