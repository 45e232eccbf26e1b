/**
 * The event loop that runs the pure machine (domain/Election.ts): one fiber
 * takes events in order, steps the machine, logs transitions and carries out
 * its commands. Lease calls, the watch, signals and the leadership term run
 * in forked fibers that only ever answer with events. The machine lives in one
 * Ref, which the loop alone writes; /status derives from it (domain/Status.ts).
 */
import { Context, Effect, Layer, Option, Queue, Ref, Scope } from "effect"
import { step } from "../domain/Election.ts"
import type { LeaseView } from "../domain/Lease.ts"
import { initial, start } from "../domain/Machine.ts"
import type { Command, Event } from "../domain/Machine.ts"
import type { ElectorStatus, ElectorView } from "../domain/Status.ts"
import { electorStatus, waitText } from "../domain/Status.ts"
import { monotonicMs } from "../domain/Time.ts"
import type { Timing } from "../domain/Timings.ts"
import { killWaitMs } from "./ChildSupervisor.ts"
import type { Term } from "./Leadership.ts"
import { Leadership } from "./Leadership.ts"
import { LeaseCommands } from "./LeaseCommands.ts"
import { LeaseWatch } from "./LeaseWatch.ts"
import { ServiceEndpoints } from "./ServiceEndpoints.ts"
import { Signals } from "./Signals.ts"
import { StatusBoard } from "./StatusBoard.ts"
import { Telemetry } from "./Telemetry.ts"

export interface ElectorConfig extends Timing {
  readonly namespace: string
  readonly leaseName: string
  readonly command: ReadonlyArray<string>
}

/** What the loop keeps: the machine and what it saw, and the term under way (to stop it). */
interface Snapshot extends Omit<ElectorView, "child"> {
  readonly term: Term | undefined
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
        const commands = yield* LeaseCommands
        const watch = yield* LeaseWatch
        const leadership = yield* Leadership
        const signals = yield* Signals
        const board = yield* StatusBoard
        const telemetry = yield* Telemetry
        // Service mode: the Service's endpoints follow the leader, published as part of each term.
        const endpoints = Option.getOrUndefined(yield* Effect.serviceOption(ServiceEndpoints))
        const lease = `${config.namespace}/${config.leaseName}`
        const snapshot = yield* Ref.make<Snapshot>({
          machine: initial,
          lease: undefined,
          term: undefined,
          wait: undefined
        })

        const status = Effect.gen(function*() {
          const { term, ...view } = yield* Ref.get(snapshot)
          const child = term === undefined || term.child.pid === -1 ? undefined : {
            pid: term.child.pid,
            startedAt: new Date(term.child.startedAt).toISOString(),
            fencingToken: term.fencingToken ?? null
          }
          return electorStatus({ ...view, child }, yield* monotonicMs, { ...config, lease }, {
            killWaitMs,
            alongsideMs: endpoints?.removalBoundMs ?? 0
          })
        })

        const run = Effect.gen(function*() {
          const events = yield* Queue.unbounded<Event>()
          const post = (e: Event) => Effect.asVoid(Queue.offer(events, e))
          // In-flight calls, the watch and the term live in this scope: any way out of run stops them.
          const work = yield* Effect.scope
          const fork = <A>(effect: Effect.Effect<A>) => Effect.forkIn(effect, work, { startImmediately: true })
          const answer = (effect: Effect.Effect<Event>) => fork(Effect.flatMap(effect, post))

          const execute = (command: Command): Effect.Effect<unknown> => {
            switch (command._tag) {
              case "Read":
                return answer(commands.read)
              case "Acquire":
                return answer(commands.acquire(command.base))
              case "Renew":
                return answer(commands.renew(command.base))
              case "StartChild":
                return Effect.gen(function*() {
                  const term = yield* leadership.begin(config.command, {
                    alongside: endpoints?.publish,
                    fencingToken: command.fencingToken
                  }).pipe(Scope.provide(work))
                  yield* Ref.update(snapshot, (s) => ({ ...s, term }))
                  yield* fork(term.ended.pipe(Effect.flatMap((ending) =>
                    Ref.update(snapshot, (s) => ({ ...s, term: undefined })).pipe(
                      Effect.andThen(
                        post({ _tag: "ChildEnded", exitCode: ending.exit.code, byItself: ending.byItself })
                      )
                    )
                  )))
                })
              case "StopChild":
                // The term's own watcher reports the ending; a term that already ended answers at once.
                return Effect.flatMap(
                  Ref.get(snapshot),
                  ({ term }) =>
                    term === undefined ? Effect.void : fork(term.stop(command.killAt))
                )
              case "Release":
                // Once the child is gone, handing the lease back only saves the others a wait: bounded, never required.
                return answer(
                  commands.release(command.base).pipe(
                    Effect.timeoutOption(config.renewDeadlineMs),
                    Effect.as<Event>({ _tag: "Released" })
                  )
                )
              case "Exit":
                return Effect.void
            }
          }

          yield* board.show(Effect.map(status, (elector) => ({ phase: "election", elector })))
          yield* telemetry.electing(Effect.map(Ref.get(snapshot), (s) => s.machine))
          yield* fork(watch.run(post))
          yield* fork(Effect.forever(Effect.flatMap(signals.next, (signal) => post({ _tag: "Signal", signal }))))
          for (const c of start) yield* execute(c)
          return yield* loop(events, snapshot, config, lease, execute, telemetry)
        }).pipe(Effect.scoped, Effect.withSpan("Elector.run"))

        return Elector.of({ run, status })
      })
    )
}

/** The one fiber that owns the machine: take an event (or wake when it asked to), step, log, execute. */
const loop = (
  events: Queue.Queue<Event>,
  snapshot: Ref.Ref<Snapshot>,
  config: ElectorConfig,
  lease: string,
  execute: (c: Command) => Effect.Effect<unknown>,
  telemetry: Telemetry["Service"]
) =>
  Effect.gen(function*() {
    let wake: number | undefined
    /** The backoff said last, so that a failure that repeats is said once, until something succeeds. */
    let said: string | undefined
    while (true) {
      const waitMs = wake === undefined ? undefined : Math.max(0, wake - (yield* monotonicMs))
      const next = waitMs === undefined
        ? Option.some(yield* Queue.take(events))
        : yield* Queue.take(events).pipe(Effect.timeoutOption(waitMs))
      const event: Event = Option.isSome(next) ? next.value : { _tag: "Wake" }
      const now = yield* monotonicMs
      const before = yield* Ref.get(snapshot)
      const result = step(before.machine, event, now, config)
      wake = result.wakeAt
      const { wait } = result
      const after = yield* Ref.updateAndGet(snapshot, (s) => ({
        ...s,
        machine: result.machine,
        lease: leaseOf(event) ?? s.lease,
        // A wait is over once the state moves on.
        wait: wait ?? (result.machine.state._tag === before.machine.state._tag ? s.wait : undefined)
      }))
      // The commands first: a handover's release, acquire or spawn never waits for a log line or a metric.
      for (const c of result.commands) if (c._tag !== "Exit") yield* execute(c)
      if (succeeded(event)) said = undefined
      if (wait !== undefined) {
        const key = wait._tag === "Backoff" ? `${wait.after} ${wait.failure.message}` : undefined
        if (key === undefined || key !== said) {
          yield* Effect.logInfo(waitText(wait, wait.untilMs - now)).pipe(
            Effect.annotateLogs({ waitMs: wait.untilMs - now, lease })
          )
        }
        said = key ?? said
      }
      yield* telemetry.stepped({
        before: before.machine,
        after: result.machine,
        reason: result.reason,
        lease,
        seen: after.lease,
        now
      })
      const exit = result.commands.find((c) => c._tag === "Exit")
      if (exit !== undefined) return exit.exitCode
    }
  })

/** An answer that ends a streak of failures. */
const succeeded = (e: Event) => e._tag === "LeaseSeen" || e._tag === "Acquired" || e._tag === "Renewed"

/** The lease an event carries, if any: what /status reports as last seen. */
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
