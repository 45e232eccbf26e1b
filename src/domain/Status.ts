/**
 * What the wrapper tells about itself on /status and to the probes, as
 * schemas: waiting for gates, electing, or running the command directly. The
 * elector's part is derived from its machine by `electorStatus`, so the
 * machine is kept in one place only. Pure.
 */
import { Schema } from "effect"
import type { LeaseView } from "./Lease.ts"
import { deadlineOf } from "./Machine.ts"
import type { Machine, Wait } from "./Machine.ts"
import type { Timing } from "./Timings.ts"
import { formatDuration } from "./Values.ts"

export const GateStatus = Schema.Struct({
  gate: Schema.String,
  passed: Schema.Boolean,
  /** Why it has not passed yet, as last seen (e.g. "0 ready endpoints"). */
  reason: Schema.NullOr(Schema.String)
})
export type GateStatus = typeof GateStatus.Type

export const ChildStatus = Schema.Struct({
  pid: Schema.Number,
  startedAt: Schema.String,
  /** The JUST_ONE_INIT_FENCING_TOKEN the child was given; null without an election. */
  fencingToken: Schema.NullOr(Schema.Number)
})
export type ChildStatus = typeof ChildStatus.Type

export const ElectorStatus = Schema.Struct({
  state: Schema.Literals(["Follower", "Acquiring", "Leader", "Releasing"]),
  identity: Schema.String,
  lease: Schema.String,
  holder: Schema.NullOr(Schema.String),
  transitions: Schema.NullOr(Schema.Number),
  resourceVersion: Schema.NullOr(Schema.String),
  child: Schema.NullOr(ChildStatus),
  exiting: Schema.Boolean,
  /** A leader past its renew deadline that has not acted on it, or a stop that outlasts its bound: stuck. */
  wedged: Schema.Boolean,
  /** A wait of more than a second under way (an absent lease waited out, a backoff after a failure), and why. */
  waiting: Schema.NullOr(Schema.Struct({ reason: Schema.String, remainingMs: Schema.Number }))
})
export type ElectorStatus = typeof ElectorStatus.Type

export const WrapperStatus = Schema.Union([
  Schema.Struct({ phase: Schema.Literal("starting") }),
  Schema.Struct({ phase: Schema.Literal("waiting"), gates: Schema.Array(GateStatus) }),
  Schema.Struct({ phase: Schema.Literal("election"), elector: ElectorStatus }),
  Schema.Struct({ phase: Schema.Literal("direct"), child: Schema.NullOr(ChildStatus), exiting: Schema.Boolean })
])
export type WrapperStatus = typeof WrapperStatus.Type

/** What the elector knows besides its machine: the last lease seen, its child, the wait under way. */
export interface ElectorView {
  readonly machine: Machine
  readonly lease: LeaseView | undefined
  readonly child: ChildStatus | undefined
  readonly wait: Wait | undefined
}

/** What a step-down may wait for beyond the kill deadline before it counts as stuck. */
export interface StepDownBounds {
  /** After SIGKILL, until everything is reaped. */
  readonly killWaitMs: number
  /** What ends alongside the child (service mode's slice removal), from the start of the stop. */
  readonly alongsideMs: number
}

/** Slack on top of every bound before the wrapper calls itself stuck (/healthz 500). */
const stuckSlackMs = 1_000

/** The elector's status at local monotonic time `now`. */
export const electorStatus = (
  v: ElectorView,
  now: number,
  t: Timing & { readonly lease: string },
  bounds: StepDownBounds
): ElectorStatus => {
  const s = v.machine.state
  const wedged = (s._tag === "Leader" && now >= deadlineOf(s, t) + stuckSlackMs)
    || (s._tag === "Releasing" && !s.childStopped && s.killAt !== undefined
      && now >= Math.max(s.killAt + bounds.killWaitMs, s.since + bounds.alongsideMs) + stuckSlackMs)
  return {
    state: s._tag,
    identity: t.identity,
    lease: t.lease,
    holder: v.lease?.holder ?? null,
    transitions: v.lease?.transitions ?? null,
    resourceVersion: v.lease?.resourceVersion ?? null,
    child: v.child ?? null,
    exiting: v.machine.exiting,
    wedged,
    waiting: v.wait === undefined || v.wait.untilMs <= now
      ? null
      : { reason: waitText(v.wait), remainingMs: v.wait.untilMs - now }
  }
}

/** Why the machine waits, in the operator's words; with `forMs`, as the line that says the wait begins. */
export const waitText = (wait: Wait, forMs?: number): string => {
  const time = forMs === undefined ? "" : ` ${formatDuration(Math.round(forMs))}`
  switch (wait._tag) {
    case "AbsentLease":
      return `lease absent: waiting${time} before creating it, as a holder this replica never saw may still be running `
        + `(a Lease deleted by hand, or lost by an API server restored without it); create the Lease up front `
        + `to skip this wait (k8s/lease.yaml)`
    case "Backoff":
      return `${wait.after} failed: waiting${time} before trying again, as nothing is retried sooner than the `
        + `retry period${
          wait.failure.retryAfterMs === undefined ? "" : " or than the server's Retry-After"
        } (${wait.failure.message})`
  }
}

/** When this replica last saw the lease change (its own renews included), if it knows. */
export const observedAt = (m: Machine): number | undefined => {
  const s = m.state
  if (s._tag === "Leader") return s.renewSentAt
  return s._tag === "Releasing" ? undefined : s.observation?.observedAt
}
