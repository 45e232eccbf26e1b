/**
 * Runs the pure state machine of ../domain/Election.ts: one fiber takes events
 * in order, asks `step` what to do, and carries the commands out as forked
 * fibers that answer with events. The child lives in a leadership scope that
 * is opened on becoming Leader; closing that scope is the only way it stops.
 */
import {
  Clock,
  Context,
  Deferred,
  Effect,
  Exit,
  Layer,
  Option,
  Queue,
  Schedule,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import type { Command, Event, Machine, Timing } from "../domain/Election.ts"
import { deadlineOf, initial, start, step } from "../domain/Election.ts"
import type { LeaseView } from "../domain/Lease.ts"
import { microTime, withSpec } from "../domain/Lease.ts"
import type { RunningChild } from "./ChildSupervisor.ts"
import { ChildSupervisor } from "./ChildSupervisor.ts"
import { LeaseApiError, LeaseStore } from "./LeaseStore.ts"
import { Signals } from "./Signals.ts"

export interface ElectorConfig extends Timing {
  readonly namespace: string
  readonly leaseName: string
  readonly command: ReadonlyArray<string>
}

export interface ElectorStatus {
  readonly state: Machine["state"]["_tag"]
  readonly identity: string
  readonly lease: string
  readonly holder: string | null
  readonly transitions: number | null
  readonly resourceVersion: string | null
  readonly child: { readonly pid: number; readonly startedAt: string } | null
  readonly exiting: boolean
  /** A leader past its renew deadline that has not acted on it: the elector is stuck. */
  readonly wedged: boolean
}

/** The open leadership scope and the child in it. */
interface Leadership {
  readonly scope: Scope.Closeable
  readonly child: RunningChild
  readonly stopped: Deferred.Deferred<number>
  stopping: boolean
  /** The machine asked for the stop, so it expects ChildStopped rather than ChildExited. */
  stopRequested: boolean
}

interface Snapshot {
  readonly machine: Machine
  readonly lease: LeaseView | undefined
  readonly child: RunningChild | undefined
}

export class Elector extends Context.Service<Elector, {
  /** Contend, lead, follow; completes with the wrapper's exit code. */
  readonly run: Effect.Effect<number>
  readonly status: Effect.Effect<ElectorStatus>
}>()("just-one-init/Elector") {
  static readonly layer = (config: ElectorConfig) =>
    Layer.effect(
      Elector,
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const supervisor = yield* ChildSupervisor
        const signals = yield* Signals
        const snapshot = yield* SubscriptionRef.make<Snapshot>({ machine: initial, lease: undefined, child: undefined })

        const status = Effect.gen(function*() {
          const { child, lease, machine } = yield* SubscriptionRef.get(snapshot)
          const now = yield* monotonicMs
          const s = machine.state
          return {
            state: s._tag,
            identity: config.identity,
            lease: `${config.namespace}/${config.leaseName}`,
            holder: lease?.holder ?? null,
            transitions: lease?.transitions ?? null,
            resourceVersion: lease?.resourceVersion ?? null,
            child: child === undefined ? null : { pid: child.pid, startedAt: new Date(child.startedAt).toISOString() },
            exiting: machine.exiting,
            wedged: s._tag === "Leader" && now >= deadlineOf(s, config) + 1000
          } satisfies ElectorStatus
        })

        const run = Effect.gen(function*() {
          const events = yield* Queue.unbounded<Event>()
          const post = (e: Event) => Queue.offer(events, e)
          // In-flight API calls, the watch and the leadership scope all live here, so any way out of run stops them.
          const work = yield* Effect.acquireRelease(Scope.make(), (scope, exit) => Scope.close(scope, exit))
          let leadership: Leadership | undefined
          let lastChildExit = 0

          /** Close the leadership scope once (the supervisor stops the child's whole group); everyone else awaits that. */
          const stopOnce = (l: Leadership): Effect.Effect<number> =>
            Effect.suspend(() => {
              if (l.stopping) return Deferred.await(l.stopped)
              l.stopping = true
              return Scope.close(l.scope, Exit.void).pipe(
                Effect.andThen(l.child.exitCode),
                Effect.tap((exitCode) =>
                  Effect.gen(function*() {
                    lastChildExit = exitCode
                    if (leadership === l) leadership = undefined
                    yield* SubscriptionRef.update(snapshot, (s) => ({ ...s, child: undefined }))
                    yield* Deferred.succeed(l.stopped, exitCode)
                  })
                )
              )
            })
          let lastProblem = ""

          /** Log an API failure once until a write succeeds again, so a missing Role does not flood the log. */
          const report = (e: LeaseApiError) =>
            e.message === lastProblem
              ? Effect.void
              : Effect.sync(() => (lastProblem = e.message)).pipe(Effect.andThen(Effect.logWarning(e.message)))
          const recovered = Effect.sync(() => (lastProblem = ""))

          const readAfterConflict = store.get.pipe(Effect.option)

          const write = (base: LeaseView | undefined, takeover: boolean) =>
            Effect.gen(function*() {
              const sentAt = yield* monotonicMs
              const wall = yield* Clock.currentTimeMillis
              const now = microTime(wall)
              const spec = {
                holderIdentity: config.identity,
                leaseDurationSeconds: config.leaseDurationMs / 1000,
                acquireTime: takeover || base === undefined
                  ? now
                  : String((base.raw as { spec?: { acquireTime?: unknown } }).spec?.acquireTime ?? now),
                renewTime: now,
                // Transitions count holder changes only, as client-go counts them.
                leaseTransitions: base === undefined ? 0 : base.transitions + (base.holder === config.identity ? 0 : 1)
              }
              const lease = yield* (base === undefined ? store.create(spec) : store.replace(withSpec(base, spec)))
              return { lease, sentAt }
            })

          /** client-go's renew, for the baseline: GET, then PUT on what was read if it is still ours. */
          const readThenWrite = (base: LeaseView) =>
            store.get.pipe(Effect.flatMap((current) =>
              current !== undefined && current.holder === config.identity && current.uid === base.uid
                ? write(current, false)
                : Effect.fail(new LeaseApiError({ kind: "conflict", message: "lease no longer ours" }))
            ))

          const answer = (
            attempt: Effect.Effect<{ lease: LeaseView; sentAt: number }, LeaseApiError>,
            ok: (r: { lease: LeaseView; sentAt: number }) => Event,
            failed: (failure: LeaseApiError["failure"], current?: LeaseView | undefined) => Event
          ) =>
            attempt.pipe(
              Effect.flatMap((r) =>
                recovered.pipe(Effect.andThen(post(ok(r))))
              ),
              Effect.catch((e: LeaseApiError) =>
                e.kind === "conflict"
                  ? readAfterConflict.pipe(Effect.flatMap((current) =>
                    post(
                      Option.isSome(current)
                        ? failed(e.failure, current.value)
                        : failed({ kind: "transient", message: "conflict, then the read failed" })
                    )
                  ))
                  : report(e).pipe(Effect.andThen(post(failed(e.failure))))
              )
            )

          /** One release write; answers the newer version to retry on when ours was stale but still ours. */
          const releaseOnce = (base: LeaseView) =>
            Effect.gen(function*() {
              const now = microTime(yield* Clock.currentTimeMillis)
              yield* store.replace(
                withSpec(base, {
                  holderIdentity: "",
                  leaseDurationSeconds: 1,
                  acquireTime: now,
                  renewTime: now,
                  leaseTransitions: base.transitions
                })
              )
              return undefined
            }).pipe(
              Effect.catchIf((e) => e.kind === "conflict", () =>
                store.get.pipe(
                  Effect.map((current) =>
                    current !== undefined && current.holder === config.identity ? current : undefined
                  )
                )),
              Effect.tapError(report),
              Effect.retry(Schedule.spaced(config.retryPeriodMs / 4).pipe(Schedule.upTo({ times: 3 })))
            )

          const release = (base: LeaseView) =>
            Effect.gen(function*() {
              let next: LeaseView | undefined = base
              for (let i = 0; next !== undefined && i < 3; i++) next = yield* releaseOnce(next)
            })

          const fork = (effect: Effect.Effect<unknown>) => Effect.forkIn(effect, work, { startImmediately: true })

          const execute = (command: Command): Effect.Effect<unknown> => {
            switch (command._tag) {
              case "Read":
                return fork(store.get.pipe(
                  Effect.flatMap((lease) => post({ _tag: "LeaseSeen", lease })),
                  Effect.catch((e: LeaseApiError) =>
                    report(e).pipe(Effect.andThen(post({ _tag: "ReadFailed", failure: e.failure })))
                  )
                ))
              case "Acquire":
                return fork(answer(
                  write(command.base, true),
                  ({ lease, sentAt }) => ({ _tag: "Acquired", lease, sentAt }),
                  (failure, current) => ({ _tag: "AcquireFailed", failure, current })
                ))
              case "Renew":
                return fork(answer(
                  config.baseline ? readThenWrite(command.base) : write(command.base, false),
                  ({ lease, sentAt }) => ({ _tag: "Renewed", lease, sentAt }),
                  (failure, current) => ({ _tag: "RenewFailed", failure, current })
                ))
              case "StartChild":
                return Effect.gen(function*() {
                  const scope = yield* Scope.fork(work)
                  const child = yield* supervisor.start(config.command).pipe(Scope.provide(scope))
                  const current: Leadership = {
                    scope,
                    child,
                    stopped: yield* Deferred.make<number>(),
                    stopping: false,
                    stopRequested: false
                  }
                  leadership = current
                  yield* SubscriptionRef.update(snapshot, (s) => ({ ...s, child }))
                  // The child ended by itself: close its scope too (leftovers of its group are stopped) before saying so.
                  yield* fork(child.exitCode.pipe(
                    Effect.andThen(() =>
                      current.stopRequested
                        ? Effect.void
                        : stopOnce(current).pipe(Effect.flatMap((exitCode) => post({ _tag: "ChildExited", exitCode })))
                    )
                  ))
                })
              case "StopChild": {
                const current = leadership
                if (current === undefined) return post({ _tag: "ChildStopped", exitCode: lastChildExit })
                current.stopRequested = true
                return fork(
                  stopOnce(current).pipe(Effect.flatMap((exitCode) => post({ _tag: "ChildStopped", exitCode })))
                )
              }
              case "Release":
                // Once the child is gone, handing the lease back only saves the others a wait: bounded, never required.
                return fork(
                  release(command.base).pipe(
                    Effect.timeoutOption(config.renewDeadlineMs),
                    Effect.ignore,
                    Effect.andThen(post({ _tag: "Released" }))
                  )
                )
              case "Exit":
                return Effect.void
            }
          }

          // The lease watch: an optimisation that only feeds observations; safety never waits on it.
          const watchOnce = (position: { rv: string }) =>
            Effect.scoped(Effect.gen(function*() {
              const stream = yield* store.watch(position.rv)
              yield* post({ _tag: "WatchChanged", watching: true })
              yield* Stream.runForEach(stream, (e): Effect.Effect<unknown> => {
                switch (e._tag) {
                  case "Changed":
                    position.rv = e.lease.resourceVersion
                    return post({ _tag: "LeaseSeen", lease: e.lease })
                  case "Deleted":
                    return post({ _tag: "LeaseSeen", lease: undefined })
                  case "Bookmark":
                    position.rv = e.resourceVersion
                    return Effect.void
                  case "Expired":
                    // The server forgot our place: start again from the current state.
                    position.rv = ""
                    return Effect.void
                }
              })
            })).pipe(Effect.ensuring(post({ _tag: "WatchChanged", watching: false })))
          if (!config.baseline) {
            yield* fork(
              watchOnce({ rv: "" }).pipe(
                // Reconnect at once after a clean end, with capped backoff after a failure.
                Effect.retry(Schedule.min([Schedule.exponential(250), Schedule.spaced(config.retryPeriodMs)])),
                Effect.ignore,
                Effect.forever
              )
            )
          }
          yield* fork(signals.next.pipe(Effect.flatMap((signal) => post({ _tag: "Signal", signal })), Effect.forever))

          let machine = initial
          let wake: number | undefined
          for (const c of start) yield* execute(c)
          while (true) {
            const now0 = yield* monotonicMs
            const next = wake === undefined
              ? Option.some(yield* Queue.take(events))
              : yield* Queue.take(events).pipe(Effect.timeoutOption(Math.max(0, wake - now0)))
            const event: Event = Option.isSome(next) ? next.value : { _tag: "Wake" }
            const now = yield* monotonicMs
            const result = step(machine, event, now, config, Math.random())
            const from = machine.state._tag
            machine = result.machine
            wake = result.wakeAt
            const lease = leaseOf(event)
            yield* SubscriptionRef.update(snapshot, (s) => ({ ...s, machine, lease: lease ?? s.lease }))
            if (from !== machine.state._tag) {
              yield* Effect.logInfo("transition").pipe(Effect.annotateLogs({
                from,
                to: machine.state._tag,
                reason: result.reason,
                lease: `${config.namespace}/${config.leaseName}`,
                resourceVersion: (lease ?? (yield* SubscriptionRef.get(snapshot)).lease)?.resourceVersion ?? null
              }))
            }
            for (const c of result.commands) {
              if (c._tag === "Exit") return c.exitCode
              yield* execute(c)
            }
          }
        }).pipe(Effect.scoped, Effect.withSpan("Elector.run"))

        return Elector.of({ run, status })
      })
    )
}

const monotonicMs = Clock.monotonicTimeNanos.pipe(Effect.map((n) => Number(n / 1_000_000n)))

const leaseOf = (e: Event): LeaseView | undefined => {
  switch (e._tag) {
    case "LeaseSeen":
    case "Acquired":
    case "Renewed":
      return e.lease
    case "AcquireFailed":
    case "RenewFailed":
      return e.current
    default:
      return undefined
  }
}
