/**
 * The election machine's vocabulary: its states, the events the runtime feeds it and the commands it
 * gives back. Every transition between them is in Election.ts.
 */
import type { LeaseView, Observation } from "./Lease.ts"
import { takeableAt, unknownHolder } from "./Lease.ts"
import type { Reason } from "./Reasons.ts"
import type { Timing } from "./Timings.ts"

/** Retry-After only ever lengthens a wait, and never beyond this. */
export const maxRetryAfterMs = 30_000

export type State =
  | {
    readonly _tag: "Follower"
    readonly observation: Observation | undefined
    readonly reading: boolean
    /** When to poll next; undefined while the watch keeps us informed. */
    readonly nextReadAt: number | undefined
    /**
     * No read before this: a retry period after the last one was sent (polls are never closer together), or the
     * backoff after a failed one (Retry-After only lengthens it), whatever the watch does meanwhile.
     */
    readonly readAfter: number
    /** No acquire before this time: backoff after a failed attempt. */
    readonly retryAt: number
    /** The backoff waits for news, not for time: a new version of the lease lifts it. */
    readonly retryUntilChange: boolean
    /** No acquire before this time, unless the lease asks for this very replica: it handed over. */
    readonly awayUntil: number
    /** Changes may have been missed (never read, reads failed, or the watch went down): a lease found absent is waited out from then. */
    readonly blind: boolean
  }
  | {
    readonly _tag: "Acquiring"
    readonly observation: Observation | undefined
    /** The version the write is based on; a conflict is judged against it, not against later news. */
    readonly base: LeaseView | undefined
  }
  | {
    readonly _tag: "Leader"
    readonly lease: LeaseView
    /** Send time of the last successful acquire or renew: the deadline counts from here [rule 1]. */
    readonly renewSentAt: number
    readonly nextRenewAt: number
    readonly renewing: boolean
    /** When leadership began, for --reelect-after. */
    readonly since: number
  }
  | {
    readonly _tag: "Releasing"
    /** The lease to hand back once the child is gone; undefined when it is no longer ours. */
    readonly lease: LeaseView | undefined
    readonly childStopped: boolean
    /** When the stop began. */
    readonly since: number
    /** When everything the child started gets SIGKILL (undefined: there was no child to stop); a stop that outlasts it by far is stuck (see Health). */
    readonly killAt: number | undefined
    /** The term ended because the lease asked for a handover: this replica stays away from it for a while (`handedOver`). */
    readonly handover: boolean
  }

export interface Machine {
  readonly state: State
  /** Set once the wrapper must exit after this round (signal, or the child ended on its own). */
  readonly exiting: boolean
  readonly exitCode: number | undefined
  /** Whether a lease watch is delivering changes; polling fills in while it is not. */
  readonly watching: boolean
}

/** Why an API call failed, as far as the algorithm cares. */
export interface ApiFailure {
  readonly kind: "conflict" | "transient" | "denied" | "invalid"
  readonly message: string
  readonly retryAfterMs?: number | undefined
}

export type Event =
  | { readonly _tag: "Wake" }
  | { readonly _tag: "LeaseSeen"; readonly lease: LeaseView | undefined }
  | { readonly _tag: "ReadFailed"; readonly failure: ApiFailure }
  | { readonly _tag: "WatchChanged"; readonly watching: boolean }
  | { readonly _tag: "Acquired"; readonly lease: LeaseView; readonly sentAt: number }
  /** On a conflict `current` is the lease as read right after (undefined: it does not exist). */
  | { readonly _tag: "AcquireFailed"; readonly failure: ApiFailure; readonly current?: LeaseView | undefined }
  /** `baseVersion`: the resourceVersion the renew was written on; an answer with the same one changed nothing. */
  | { readonly _tag: "Renewed"; readonly lease: LeaseView; readonly sentAt: number; readonly baseVersion: string }
  | { readonly _tag: "RenewFailed"; readonly failure: ApiFailure; readonly current?: LeaseView | undefined }
  /** The child and everything it started are gone; `byItself`: it ended before any stop was asked of it. */
  | { readonly _tag: "ChildEnded"; readonly exitCode: number; readonly byItself: boolean }
  | { readonly _tag: "Released" }
  | { readonly _tag: "Signal"; readonly signal: string }

export type Command =
  | { readonly _tag: "Read" }
  /** POST when `base` is undefined, else PUT on base's resourceVersion [rule 5]. */
  | { readonly _tag: "Acquire"; readonly base: LeaseView | undefined }
  | { readonly _tag: "Renew"; readonly base: LeaseView }
  /** `fencingToken`: the lease's transitions as this acquire wrote them, greater than every earlier leader's. */
  | { readonly _tag: "StartChild"; readonly fencingToken: number }
  /** SIGTERM now, SIGKILL to everything the child started at `killAt` (at once when that has passed). */
  | { readonly _tag: "StopChild"; readonly killAt: number }
  | { readonly _tag: "Release"; readonly base: LeaseView }
  | { readonly _tag: "Exit"; readonly exitCode: number }

export interface Step {
  readonly machine: Machine
  readonly commands: ReadonlyArray<Command>
  readonly wakeAt: number | undefined
  /** Why the state changed (or what happened), for the transition log and the metrics. */
  readonly reason: Reason
  /** A wait of more than a second that this step began, for the operator to hear of (once) and /status to show. */
  readonly wait: Wait | undefined
}

/** A wait the operator should hear of: nothing happens until `untilMs` (local monotonic ms), and why. */
export type Wait =
  /** A lease found absent by a replica that may have missed its holder is waited out before it is created. */
  | { readonly _tag: "AbsentLease"; readonly untilMs: number }
  /** After a failure nothing is retried before `untilMs` (the retry period, or longer for Retry-After). */
  | {
    readonly _tag: "Backoff"
    readonly untilMs: number
    readonly after: "read" | "acquire" | "renew"
    readonly failure: ApiFailure
  }

/** Shorter waits go unsaid: they are part of normal operation. */
export const sayWaitsLongerThanMs = 1_000

export const initial: Machine = {
  state: {
    _tag: "Follower",
    observation: undefined,
    reading: true,
    nextReadAt: undefined,
    readAfter: 0,
    retryAt: 0,
    retryUntilChange: false,
    awayUntil: 0,
    blind: true
  },
  exiting: false,
  exitCode: undefined,
  watching: false
}

/** Commands to issue when the machine starts. */
export const start: ReadonlyArray<Command> = [{ _tag: "Read" }]

/** When a Leader must give up: the deadline counts from the last successful send [rule 1]. */
export const deadlineOf = (state: Extract<State, { _tag: "Leader" }>, t: Timing) =>
  state.renewSentAt + t.renewDeadlineMs

/**
 * When a leader's child must be dead by: never later than its last successful renew's send time plus the renew
 * deadline and the grace, the point the timing argument counts on [rule 1]; a stop begun earlier (a signal, a
 * step-down) gets the whole grace. So a wrapper that was frozen or stalled past its deadline (a paused pod, a
 * starved CPU) kills at once when it wakes, instead of starting a graceful stop beside the next leader's child.
 */
export const stopDeadline = (state: Extract<State, { _tag: "Leader" }>, now: number, t: Timing) =>
  Math.min(now + t.stopGraceMs, deadlineOf(state, t) + t.stopGraceMs)

/** How long to wait after a failure: never less than the retry period; Retry-After only lengthens it. */
export const backoffMs = (failure: ApiFailure, t: Timing): number =>
  Math.max(t.retryPeriodMs, Math.min(failure.retryAfterMs ?? 0, maxRetryAfterMs))

/** The wait this step began, if it lasts more than a second. */
export const began = (before: Machine, after: Machine, e: Event, now: number, t: Timing): Wait | undefined => {
  const s = after.state
  const wait = ((): Wait | undefined => {
    if (after.exiting) return undefined
    if (s._tag === "Leader" && e._tag === "RenewFailed" && !s.renewing) {
      return { _tag: "Backoff", untilMs: s.nextRenewAt, after: "renew", failure: e.failure }
    }
    if (s._tag !== "Follower") return undefined
    if (e._tag === "ReadFailed" && s.nextReadAt !== undefined) {
      return { _tag: "Backoff", untilMs: s.nextReadAt, after: "read", failure: e.failure }
    }
    if (e._tag === "AcquireFailed" && e.failure.kind !== "conflict") {
      return { _tag: "Backoff", untilMs: s.retryAt, after: "acquire", failure: e.failure }
    }
    const o = s.observation
    const prev = before.state._tag === "Follower" ? before.state.observation : undefined
    if (o?.lease === undefined && o?.lastHolder === unknownHolder && o.observedAt === now && prev !== o) {
      return { _tag: "AbsentLease", untilMs: takeableAt(o, t.leaseDurationMs, t.identity) }
    }
    return undefined
  })()
  return wait !== undefined && wait.untilMs - now > sayWaitsLongerThanMs ? wait : undefined
}
