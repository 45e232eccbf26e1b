/**
 * What the wrapper tells about itself, besides the probes: the transition log
 * line, the metrics (served as Prometheus text on /metrics), the last 100
 * transitions (/debug/transitions), and a feed of transitions for whoever
 * records them elsewhere (Kubernetes Events). The elector reports every step
 * here, and lends the machine it keeps for what a scrape derives from it; this
 * keeps only the history. The metric definitions below are the ones every
 * service updates.
 */
import { Clock, Context, Effect, Layer, Metric, PubSub, Ref } from "effect"
import type { Scope } from "effect"
import type { LeaseView } from "../domain/Lease.ts"
import type { Machine } from "../domain/Machine.ts"
import type { ReasonCode } from "../domain/Reasons.ts"
import type { Reason } from "../domain/Reasons.ts"
import { reasonText } from "../domain/Reasons.ts"
import { observedAt } from "../domain/Status.ts"
import { monotonicMs } from "../domain/Time.ts"

export type StateTag = Machine["state"]["_tag"]
const states: ReadonlyArray<StateTag> = ["Follower", "Acquiring", "Leader", "Releasing"]

const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const isLeader = Metric.gauge("just_one_init_is_leader", { description: "1 while this replica leads, else 0" })
const stateGauge = Metric.gauge("just_one_init_state", { description: "1 for the elector's current state" })
const transitionsTotal = Metric.counter("just_one_init_transitions_total", {
  description: "Elector state transitions, by from, to and reason code",
  incremental: true
})
export const apiRequests = Metric.counter("just_one_init_api_requests_total", {
  description: "Kubernetes API requests, by verb and HTTP status code (<error>: no answer)",
  incremental: true
})
export const renewDuration = Metric.histogram("just_one_init_renew_duration_seconds", {
  description: "Time a lease renew took, from sending to the answer",
  boundaries: Metric.boundariesFromIterable(seconds)
})
export const childStarts = Metric.counter("just_one_init_child_starts_total", {
  description: "Children started",
  incremental: true
})
export const childStopDuration = Metric.histogram("just_one_init_child_stop_duration_seconds", {
  description: "From asking the child to stop until it and everything it started were gone",
  boundaries: Metric.boundariesFromIterable([...seconds, 20, 40])
})
const leaseObservedAge = Metric.gauge("just_one_init_lease_observed_age_seconds", {
  description: "Time since this replica last saw the lease change (its own renews included)"
})

/** Each dependency gate's wait is one span, named the same for every kind so that one query finds them all. */
export const gateSpan = (gate: string, kind: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.withSpan(self, "Gate.wait", { attributes: { gate, "gate.kind": kind } })

/** One transition, as the log line, /debug/transitions and the Events recorder see it. */
export interface Transition {
  /** Wall-clock time, ISO 8601. */
  readonly time: string
  readonly from: StateTag
  readonly to: StateTag
  readonly reason: string
  readonly reasonCode: ReasonCode
  readonly lease: string
  /** The holder in the last lease seen. */
  readonly holder: string | null
  readonly resourceVersion: string | null
  /** For Events on the Lease; not logged. */
  readonly leaseUid: string | null
  /** Since the send of the last successful acquire or renew of the term that begins or ends; null otherwise. */
  readonly sinceRenewMs: number | null
}

/** A step of the elector, as it reports it. Times are its monotonic milliseconds. */
export interface Stepped {
  readonly before: Machine
  readonly after: Machine
  readonly reason: Reason
  readonly lease: string
  readonly seen: LeaseView | undefined
  readonly now: number
}

export interface Page {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const historyLength = 100

/** The leader's state on either side of a step: the term a transition begins or ends. */
const leaderOf = (after: Machine, before: Machine) =>
  after.state._tag === "Leader" ? after.state : before.state._tag === "Leader" ? before.state : undefined

export class Telemetry extends Context.Service<Telemetry, {
  /** The election begins, with the machine as the elector keeps it: the state gauges start out as a follower's. */
  electing(machine: Effect.Effect<Machine>): Effect.Effect<void>
  /** Every step of the machine; a change of state is a transition. */
  stepped(s: Stepped): Effect.Effect<void>
  /** The transitions from now on (bounded: a slow reader loses the oldest). */
  readonly subscribe: Effect.Effect<PubSub.Subscription<Transition>, never, Scope.Scope>
  /** /metrics and /debug/transitions; undefined for any other path. */
  page(path: string): Effect.Effect<Page | undefined>
}>()("just-one-init/Telemetry") {
  static readonly layer = Layer.effect(
    Telemetry,
    Effect.gen(function*() {
      const history = yield* Ref.make<ReadonlyArray<Transition>>([])
      const machine = yield* Ref.make<Effect.Effect<Machine | undefined>>(Effect.succeed(undefined))
      const feed = yield* PubSub.sliding<Transition>(64)

      const showState = (current: StateTag) =>
        Effect.forEach(
          states,
          (s) => Metric.update(Metric.withAttributes(stateGauge, { state: s }), s === current ? 1 : 0),
          { discard: true }
        ).pipe(Effect.andThen(Metric.update(isLeader, current === "Leader" ? 1 : 0)))

      const stepped = (s: Stepped) =>
        Effect.gen(function*() {
          const from = s.before.state._tag
          const term = leaderOf(s.after, s.before)
          const to = s.after.state._tag
          if (s.reason.code === "woke_late") {
            yield* Effect.logWarning(
              `${
                reasonText(s.reason)
              } (frozen or stalled): reading the lease again before acting on what was seen before`
            ).pipe(Effect.annotateLogs({ lease: s.lease }))
          }
          if (from === to) return
          const t: Transition = {
            time: new Date(yield* Clock.currentTimeMillis).toISOString(),
            from,
            to,
            reason: reasonText(s.reason),
            reasonCode: s.reason.code,
            lease: s.lease,
            holder: s.seen?.holder ?? null,
            resourceVersion: s.seen?.resourceVersion ?? null,
            leaseUid: s.seen?.uid ?? null,
            sinceRenewMs: term === undefined ? null : s.now - term.renewSentAt
          }
          yield* Ref.update(history, (h) => [...h, t].slice(-historyLength))
          const { leaseUid: _, time: __, ...fields } = t
          yield* Effect.logInfo("transition").pipe(Effect.annotateLogs(fields))
          yield* Metric.update(Metric.withAttributes(transitionsTotal, { from, to, reason: t.reasonCode }), 1)
          yield* showState(to)
          yield* PubSub.publish(feed, t)
        })

      const metrics = Effect.gen(function*() {
        const current = yield* Effect.flatten(Ref.get(machine))
        const seen = current === undefined ? undefined : observedAt(current)
        if (seen !== undefined) yield* Metric.update(leaseObservedAge, ((yield* monotonicMs) - seen) / 1000)
        const prometheus = yield* Effect.promise(() => import("./Prometheus.ts"))
        return yield* prometheus.format()
      })

      const page = (path: string): Effect.Effect<Page | undefined> => {
        switch (path) {
          case "/metrics":
            return Effect.map(metrics, (body) => ({
              status: 200,
              contentType: "text/plain; version=0.0.4; charset=utf-8",
              body
            }))
          case "/debug/transitions":
            return Effect.map(Ref.get(history), (h) => ({
              status: 200,
              contentType: "application/json",
              body: JSON.stringify(h)
            }))
          default:
            return Effect.succeed(undefined)
        }
      }

      return Telemetry.of({
        electing: (current) => Effect.andThen(Ref.set(machine, current), showState("Follower")),
        stepped,
        subscribe: PubSub.subscribe(feed),
        page
      })
    })
  )
}
