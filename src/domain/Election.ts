/**
 * The whole leader-election algorithm: one pure transition function.
 *
 *   Follower ──(lease free or expired)──▶ Acquiring ──(conditional write won)──▶ Leader
 *      ▲                                      │                                     │
 *      │◀────────────(lost the race)──────────┘                                     │
 *      │                                                  (deadline / lost / signal / child exit)
 *      └──────────────(child reaped, lease released)◀──── Releasing ◀───────────────┘
 *
 * `step(machine, event, now)` returns the next machine, the commands for the
 * effectful runtime to carry out (each answers with an event), and the local
 * time at which the machine wants a `Wake`. Times are local monotonic
 * milliseconds. The safety argument is in ../../README.md ("Why two children
 * never run at once"); the rules it relies on are marked [rule n].
 */
import type { LeaseView, Observation } from "./Lease.ts"
import { isFree, observe, takeableAt } from "./Lease.ts"

export interface Timing {
  readonly identity: string
  readonly leaseDurationMs: number
  readonly renewDeadlineMs: number
  readonly retryPeriodMs: number
  /** Step down after leading this long, so that the others get a turn (the original --reelect-after). */
  readonly reelectAfterMs?: number | undefined
  /**
   * Reproduce client-go's polling instead (for the benchmark's baseline): followers
   * learn of changes only at jittered retry ticks and act on expiry only there.
   */
  readonly baseline?: boolean | undefined
}

/** Timing plus this step's random draw in [0, 1), which only the baseline's jitter uses. */
type Ctx = Timing & { readonly random: number }

export type State =
  | {
    readonly _tag: "Follower"
    readonly observation: Observation | undefined
    readonly reading: boolean
    /** When to poll next; undefined while the watch keeps us informed. */
    readonly nextReadAt: number | undefined
    /** No acquire before this time: backoff after a failed attempt. */
    readonly retryAt: number
  }
  | { readonly _tag: "Acquiring"; readonly observation: Observation | undefined }
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
  | { readonly _tag: "Renewed"; readonly lease: LeaseView; readonly sentAt: number }
  | { readonly _tag: "RenewFailed"; readonly failure: ApiFailure; readonly current?: LeaseView | undefined }
  | { readonly _tag: "ChildExited"; readonly exitCode: number }
  | { readonly _tag: "ChildStopped"; readonly exitCode: number }
  | { readonly _tag: "Released" }
  | { readonly _tag: "Signal"; readonly signal: string }

export type Command =
  | { readonly _tag: "Read" }
  /** POST when `base` is undefined, else PUT on base's resourceVersion [rule 5]. */
  | { readonly _tag: "Acquire"; readonly base: LeaseView | undefined }
  | { readonly _tag: "Renew"; readonly base: LeaseView }
  | { readonly _tag: "StartChild" }
  | { readonly _tag: "StopChild" }
  | { readonly _tag: "Release"; readonly base: LeaseView }
  | { readonly _tag: "Exit"; readonly exitCode: number }

export interface Step {
  readonly machine: Machine
  readonly commands: ReadonlyArray<Command>
  readonly wakeAt: number | undefined
  /** Why the state changed (or what happened), for the transition log. */
  readonly reason: string
}

export const initial: Machine = {
  state: { _tag: "Follower", observation: undefined, reading: true, nextReadAt: undefined, retryAt: 0 },
  exiting: false,
  exitCode: undefined,
  watching: false
}

/** Commands to issue when the machine starts. */
export const start: ReadonlyArray<Command> = [{ _tag: "Read" }]

/** When a Leader must give up: the deadline counts from the last successful send [rule 1]. */
export const deadlineOf = (state: Extract<State, { _tag: "Leader" }>, t: Timing) =>
  state.renewSentAt + t.renewDeadlineMs

/** Local time at which the machine next needs a Wake. Leaders always wake by their deadline [rule 2]. */
export const wakeAt = (m: Machine, t: Timing): number | undefined => {
  const s = m.state
  switch (s._tag) {
    case "Follower": {
      const expiry = s.observation === undefined || t.baseline
        ? undefined
        : Math.max(takeableAt(s.observation, t.leaseDurationMs), s.retryAt)
      const candidates = [expiry, s.reading ? undefined : s.nextReadAt].filter((x): x is number => x !== undefined)
      return candidates.length === 0 ? undefined : Math.max(0, Math.min(...candidates))
    }
    case "Leader": {
      const next = s.renewing ? deadlineOf(s, t) : Math.min(s.nextRenewAt, deadlineOf(s, t))
      return t.reelectAfterMs === undefined ? next : Math.min(next, s.since + t.reelectAfterMs)
    }
    case "Acquiring":
    case "Releasing":
      return undefined
  }
}

/** client-go waits RetryPeriod × (1 + 1.2·random) between attempts (wait.JitterUntil, JitterFactor 1.2). */
const pollAt = (m: Machine, now: number, t: Ctx) =>
  m.watching ? undefined : now + (t.baseline ? Math.round(t.retryPeriodMs * (1 + 1.2 * t.random)) : t.retryPeriodMs)

/** Follower with a new observation: acquire at once when the lease may be taken, else wait. */
const follow = (
  m: Machine,
  observation: Observation | undefined,
  now: number,
  t: Ctx,
  reason: string,
  retryAt = 0
): [Machine, Array<Command>, string] => {
  if (m.exiting) {
    return [{ ...m, state: { _tag: "Follower", observation, reading: false, nextReadAt: undefined, retryAt } }, [{
      _tag: "Exit",
      exitCode: m.exitCode ?? 0
    }], reason]
  }
  if (observation !== undefined && takeableAt(observation, t.leaseDurationMs) <= now && retryAt <= now) {
    const why = observation.lease === undefined
      ? "lease absent"
      : isFree(observation.lease)
      ? "lease free"
      : "lease expired"
    return [{ ...m, state: { _tag: "Acquiring", observation } }, [{ _tag: "Acquire", base: observation.lease }], why]
  }
  if (observation === undefined) {
    return [{ ...m, state: { _tag: "Follower", observation, reading: true, nextReadAt: undefined, retryAt } }, [{
      _tag: "Read"
    }], reason]
  }
  return [
    { ...m, state: { _tag: "Follower", observation, reading: false, nextReadAt: pollAt(m, now, t), retryAt } },
    [],
    reason
  ]
}

const lose = (m: Machine, lease: LeaseView | undefined, reason: string): [Machine, Array<Command>, string] => [
  { ...m, state: { _tag: "Releasing", lease, childStopped: false } },
  [{ _tag: "StopChild" }],
  reason
]

/** The transition function. Every state change of the elector happens here. */
export const step = (m: Machine, e: Event, now: number, t: Timing, random = 0): Step => {
  const [machine, commands, reason] = transition(m, e, now, { ...t, random })
  return { machine, commands, wakeAt: wakeAt(machine, t), reason }
}

const transition = (m: Machine, e: Event, now: number, t: Ctx): [Machine, Array<Command>, string] => {
  const s = m.state
  if (e._tag === "WatchChanged") {
    const next = { ...m, watching: e.watching }
    if (s._tag === "Follower" && !e.watching && !s.reading) {
      return [{ ...next, state: { ...s, nextReadAt: now } }, [], "watch down, polling"]
    }
    return [next, [], e.watching ? "watch up" : "watch down"]
  }
  switch (s._tag) {
    case "Follower":
      switch (e._tag) {
        case "Wake": {
          if (m.exiting) return follow(m, s.observation, now, t, "exiting")
          if (
            !t.baseline && s.observation !== undefined && takeableAt(s.observation, t.leaseDurationMs) <= now
            && s.retryAt <= now
          ) {
            return follow(m, s.observation, now, t, "expired")
          }
          if (s.reading || s.nextReadAt === undefined || s.nextReadAt > now) return [m, [], "waiting"]
          return [{ ...m, state: { ...s, reading: true } }, [{ _tag: "Read" }], "poll"]
        }
        case "LeaseSeen":
          return follow(m, observe(s.observation, e.lease, now), now, t, "lease seen", s.retryAt)
        case "ReadFailed":
          return [
            { ...m, state: { ...s, reading: false, nextReadAt: now + (e.failure.retryAfterMs ?? t.retryPeriodMs) } },
            [],
            `read failed: ${e.failure.message}`
          ]
        case "Signal":
          return follow({ ...m, exiting: true }, s.observation, now, t, `signal ${e.signal}`, s.retryAt)
        default:
          return [m, [], `ignored ${e._tag}`]
      }
    case "Acquiring":
      switch (e._tag) {
        case "Acquired": {
          const leader: State = {
            _tag: "Leader",
            lease: e.lease,
            renewSentAt: e.sentAt,
            nextRenewAt: e.sentAt + t.retryPeriodMs,
            renewing: false,
            since: now
          }
          // A win that took longer than the deadline gives no right to run the child [rule 3].
          if (m.exiting || now >= e.sentAt + t.renewDeadlineMs) {
            return [{ ...m, state: { _tag: "Releasing", lease: e.lease, childStopped: true } }, [{
              _tag: "Release",
              base: e.lease
            }], m.exiting ? "acquired while exiting" : "acquired too late"]
          }
          return [{ ...m, state: leader }, [{ _tag: "StartChild" }], "acquired"]
        }
        case "AcquireFailed": {
          if (e.failure.kind === "conflict") {
            // Someone else wrote first: back to following with the fresh reading (never retry blindly).
            const observation = observe(s.observation, e.current, now)
            const unchanged = observation.lease?.resourceVersion === s.observation?.lease?.resourceVersion
            return follow(m, observation, now, t, "lost the race", unchanged ? now + t.retryPeriodMs : 0)
          }
          return follow(
            m,
            s.observation,
            now,
            t,
            `acquire failed: ${e.failure.message}`,
            now + (e.failure.retryAfterMs ?? t.retryPeriodMs)
          )
        }
        case "LeaseSeen":
          return [{ ...m, state: { ...s, observation: observe(s.observation, e.lease, now) } }, [], "lease seen"]
        case "Signal":
          return [{ ...m, exiting: true }, [], `signal ${e.signal}`]
        default:
          return [m, [], `ignored ${e._tag}`]
      }
    case "Leader": {
      const deadline = deadlineOf(s, t)
      if (now >= deadline && e._tag !== "ChildExited" && e._tag !== "Signal") {
        return lose(m, s.lease, "renew deadline passed")
      }
      switch (e._tag) {
        case "Wake":
          if (t.reelectAfterMs !== undefined && now >= s.since + t.reelectAfterMs) {
            return lose(m, s.lease, "re-election due")
          }
          if (!s.renewing && now >= s.nextRenewAt) {
            return [{ ...m, state: { ...s, renewing: true } }, [{ _tag: "Renew", base: s.lease }], "renew"]
          }
          return [m, [], "waiting"]
        case "Renewed": {
          const renewSentAt = Math.max(s.renewSentAt, e.sentAt)
          if (now >= renewSentAt + t.renewDeadlineMs) return lose(m, e.lease, "renewed too late")
          return [
            {
              ...m,
              state: { ...s, lease: e.lease, renewSentAt, nextRenewAt: renewSentAt + t.retryPeriodMs, renewing: false }
            },
            [],
            "renewed"
          ]
        }
        case "RenewFailed":
          if (e.failure.kind === "conflict") {
            if (e.current !== undefined && e.current.holder === t.identity) {
              // Our lease, edited by someone (labels, say): renew on the new version at once.
              return [
                { ...m, state: { ...s, lease: e.current, renewing: true } },
                [{ _tag: "Renew", base: e.current }],
                "renew on newer version"
              ]
            }
            return lose(
              m,
              undefined,
              e.current === undefined ? "lease deleted" : `lease taken by ${JSON.stringify(e.current.holder)}`
            )
          }
          return [
            {
              ...m,
              state: {
                ...s,
                renewing: false,
                nextRenewAt: Math.min(now + (e.failure.retryAfterMs ?? t.retryPeriodMs), deadline)
              }
            },
            [],
            `renew failed: ${e.failure.message}`
          ]
        case "LeaseSeen": {
          // A reading may be older than our last write, so it only prompts a renew now;
          // the conditional write's answer decides whether the lease is still ours.
          const ours = e.lease !== undefined && e.lease.holder === t.identity && e.lease.uid === s.lease.uid
          if (ours || s.renewing) return [m, [], "lease seen"]
          return [
            { ...m, state: { ...s, renewing: true } },
            [{ _tag: "Renew", base: s.lease }],
            "lease changed elsewhere, checking"
          ]
        }
        case "ChildExited":
          return [
            {
              ...m,
              exiting: true,
              exitCode: e.exitCode,
              state: { _tag: "Releasing", lease: s.lease, childStopped: true }
            },
            [{ _tag: "Release", base: s.lease }],
            `child exited with ${e.exitCode}`
          ]
        case "Signal":
          return lose({ ...m, exiting: true }, s.lease, `signal ${e.signal}`)
        default:
          return [m, [], `ignored ${e._tag}`]
      }
    }
    case "Releasing":
      switch (e._tag) {
        case "ChildStopped": {
          const next = { ...m, exitCode: m.exiting && m.exitCode === undefined ? e.exitCode : m.exitCode }
          // Hand the lease back only now that the child is reaped [rule 4].
          if (s.lease !== undefined) {
            return [
              { ...next, state: { ...s, childStopped: true } },
              [{ _tag: "Release", base: s.lease }],
              "child stopped"
            ]
          }
          return follow(next, undefined, now, t, "child stopped")
        }
        case "Released":
          return follow(m, undefined, now, t, "released")
        case "Renewed":
          return [{ ...m, state: { ...s, lease: s.lease === undefined ? undefined : e.lease } }, [], "late renew"]
        case "RenewFailed":
          return [
            {
              ...m,
              state: {
                ...s,
                lease: e.failure.kind === "conflict"
                  ? (e.current?.holder === t.identity ? e.current : undefined)
                  : s.lease
              }
            },
            [],
            "late renew failure"
          ]
        case "Signal":
          return [{ ...m, exiting: true }, [], `signal ${e.signal}`]
        default:
          return [m, [], `ignored ${e._tag}`]
      }
  }
}
