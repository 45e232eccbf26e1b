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
 * milliseconds. The safety argument is in docs/safety.md; the rules it relies
 * on are marked [rule n], numbered as there. The states, events and commands are
 * declared in Machine.ts.
 */
import type { LeaseView, Observation } from "./Lease.ts"
import { handsOver, isFree, isOurs, observe, sameVersion, takeableAt } from "./Lease.ts"
import type { Command, Event, Machine, State, Step } from "./Machine.ts"
import { backoffMs, began, deadlineOf, stopDeadline } from "./Machine.ts"
import type { Reason } from "./Reasons.ts"
import { reason } from "./Reasons.ts"
import type { Timing } from "./Timings.ts"

/** Local time at which the machine next needs a Wake. Leaders always wake by their deadline [rule 2]. */
export const wakeAt = (m: Machine, t: Timing): number | undefined => {
  const s = m.state
  switch (s._tag) {
    case "Follower": {
      const expiry = s.observation === undefined || stale(s)
        ? undefined
        : Math.max(takeableAt(s.observation, t.leaseDurationMs, t.identity), s.retryAt, awayFor(s.observation, s, t))
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

/** A read is on its way to a replica that may have missed changes: what it saw before is no ground to act on. */
const stale = (s: Extract<State, { _tag: "Follower" }>) => s.reading && s.blind

const takeable = (observation: Observation | undefined, now: number, t: Timing) =>
  observation !== undefined && takeableAt(observation, t.leaseDurationMs, t.identity) <= now

/**
 * When to poll next: not while the watch informs us, and not while a takeable lease waits only
 * for a backoff to end (the acquire then is the probe).
 */
const pollAt = (m: Machine, observation: Observation | undefined, readAfter: number, now: number, t: Timing) => {
  if (m.watching || takeable(observation, now, t)) return undefined
  return Math.max(now + t.retryPeriodMs, readAfter)
}

type Result = [Machine, Array<Command>, Reason]

interface Backoff {
  readonly retryAt: number
  readonly retryUntilChange: boolean
  readonly awayUntil: number
}
const noBackoff: Backoff = { retryAt: 0, retryUntilChange: false, awayUntil: 0 }

/** When a replica that handed over may take the lease: at once when the lease asks for it by name. */
const awayFor = (observation: Observation | undefined, b: Pick<Backoff, "awayUntil">, t: Timing) =>
  observation?.lease?.preferredHolder === t.identity ? 0 : b.awayUntil

/** Follower with a new observation: acquire at once when the lease may be taken, else wait. */
const follow = (
  m: Machine,
  observation: Observation | undefined,
  now: number,
  t: Timing,
  said: Reason,
  backoff: Backoff = noBackoff,
  readAfter = 0,
  blind = observation === undefined
): Result => {
  const follower = (reading: boolean, nextReadAt: number | undefined): State => ({
    _tag: "Follower",
    observation,
    reading,
    nextReadAt,
    readAfter: reading ? now + t.retryPeriodMs : readAfter,
    blind,
    ...backoff
  })
  if (m.exiting) {
    return [{ ...m, state: follower(false, undefined) }, [{ _tag: "Exit", exitCode: m.exitCode ?? 0 }], said]
  }
  if (takeable(observation, now, t) && backoff.retryAt <= now && awayFor(observation, backoff, t) <= now) {
    const base = observation!.lease
    const why = reason(base === undefined ? "lease_absent" : isFree(base) ? "lease_free" : "lease_expired")
    return [{ ...m, state: { _tag: "Acquiring", observation, base } }, [{ _tag: "Acquire", base }], why]
  }
  if (observation === undefined) return [{ ...m, state: follower(true, undefined) }, [{ _tag: "Read" }], said]
  return [{ ...m, state: follower(false, pollAt(m, observation, readAfter, now, t)) }, [], said]
}

/** A leader's term ends: stop the child under the stop deadline, release once it is gone (when the lease is still ours). */
const lose = (
  m: Machine,
  s: Extract<State, { _tag: "Leader" }>,
  lease: LeaseView | undefined,
  now: number,
  t: Timing,
  said: Reason
): Result => {
  const killAt = stopDeadline(s, now, t)
  const handover = said.code === "handover"
  return [
    { ...m, state: { _tag: "Releasing", lease, childStopped: false, since: now, killAt, handover } },
    [{ _tag: "StopChild", killAt }],
    said
  ]
}

/** The transition function. Every state change of the elector happens here. */
export const step = (m: Machine, e: Event, now: number, t: Timing): Step => {
  const [machine, commands, reason] = transition(m, e, now, t)
  const wake = wakeAt(machine, t)
  const wait = began(m, machine, e, now, t)
  // Only a backoff that is what holds the machine back: one shorter than a held lease's expiry is no wait. (An
  // absent lease's wait holds it back whatever polls happen meanwhile.)
  const holds = wait?._tag === "AbsentLease" || wait?.untilMs === wake
  return { machine, commands, wakeAt: wake, reason, wait: holds ? wait : undefined }
}

const transition = (m: Machine, e: Event, now: number, t: Timing): Result => {
  const s = m.state
  if (e._tag === "WatchChanged") {
    const next = { ...m, watching: e.watching }
    // Without a watch, changes may be missed (a lease created and lost again): blind until the next reading.
    const blind = s._tag === "Follower" && (s.blind || !e.watching)
    if (s._tag === "Follower" && !s.reading) {
      const nextReadAt = e.watching ? undefined : Math.max(now, s.readAfter)
      return [{ ...next, state: { ...s, blind, nextReadAt } }, [], reason("watch", e.watching ? "up" : "down, polling")]
    }
    if (s._tag === "Follower") {
      return [{ ...next, state: { ...s, blind } }, [], reason("watch", e.watching ? "up" : "down")]
    }
    return [next, [], reason("watch", e.watching ? "up" : "down")]
  }
  switch (s._tag) {
    case "Follower":
      return follower(m, s, e, now, t)
    case "Acquiring":
      return acquiring(m, s, e, now, t)
    case "Leader":
      return leader(m, s, e, now, t)
    case "Releasing":
      return releasing(m, s, e, now, t)
  }
}

const follower = (m: Machine, s: Extract<State, { _tag: "Follower" }>, e: Event, now: number, t: Timing): Result => {
  const backoff = { retryAt: s.retryAt, retryUntilChange: s.retryUntilChange, awayUntil: s.awayUntil }
  switch (e._tag) {
    case "Wake": {
      if (m.exiting) return follow(m, s.observation, now, t, reason("exiting"), backoff, s.readAfter, s.blind)
      const due = wakeAt(m, t)
      if (due !== undefined && now - due > t.retryPeriodMs) {
        // Woken long after it asked (the pod was frozen, the process stalled): whatever happened meanwhile was
        // missed, so the lease is read again before anything is done on what was seen before [rule 6].
        const lateBy = reason("woke_late", `${now - due} ms`)
        if (s.reading) return [{ ...m, state: { ...s, blind: true } }, [], lateBy]
        return [{ ...m, state: { ...s, reading: true, blind: true, readAfter: now + t.retryPeriodMs } }, [{
          _tag: "Read"
        }], lateBy]
      }
      if (stale(s)) return [m, [], reason("waiting")]
      if (takeable(s.observation, now, t) && s.retryAt <= now && awayFor(s.observation, s, t) <= now) {
        return follow(m, s.observation, now, t, reason("lease_expired"), backoff, s.readAfter, s.blind)
      }
      if (s.reading || s.nextReadAt === undefined || s.nextReadAt > now) return [m, [], reason("waiting")]
      return [
        { ...m, state: { ...s, reading: true, readAfter: now + t.retryPeriodMs } },
        [{ _tag: "Read" }],
        reason("poll")
      ]
    }
    case "LeaseSeen": {
      const observation = observe(s.observation, e.lease, now, s.blind)
      const news = s.observation === undefined || observation.observedAt !== s.observation.observedAt
      const lifted = s.retryUntilChange && news ? { ...noBackoff, awayUntil: s.awayUntil } : backoff
      return follow(m, observation, now, t, reason("lease_seen"), lifted, s.readAfter, false)
    }
    case "ReadFailed":
      return [
        {
          ...m,
          state: {
            ...s,
            reading: false,
            blind: true,
            nextReadAt: now + backoffMs(e.failure, t),
            readAfter: now + backoffMs(e.failure, t)
          }
        },
        [],
        reason("read_failed", e.failure.message)
      ]
    case "Signal":
      return follow(
        { ...m, exiting: true },
        s.observation,
        now,
        t,
        reason("signal", e.signal),
        backoff,
        s.readAfter,
        s.blind
      )
    default:
      return [m, [], reason("ignored", e._tag)]
  }
}

const acquiring = (m: Machine, s: Extract<State, { _tag: "Acquiring" }>, e: Event, now: number, t: Timing): Result => {
  switch (e._tag) {
    case "Acquired": {
      // A win that took longer than the deadline gives no right to run the child [rule 3]; nor may it be released,
      // as it was won on a stale reading: whoever held the lease meanwhile may still run, and a free lease invites
      // anyone at once. It stands for its duration, waited out like another's.
      if (now >= e.sentAt + t.renewDeadlineMs) {
        return follow(m, observe(s.observation, e.lease, now, true), now, t, reason("acquired_too_late"))
      }
      if (m.exiting) {
        return [
          {
            ...m,
            state: {
              _tag: "Releasing",
              lease: e.lease,
              childStopped: true,
              since: now,
              killAt: undefined,
              handover: false
            }
          },
          [{ _tag: "Release", base: e.lease }],
          reason("exiting")
        ]
      }
      const leader: State = {
        _tag: "Leader",
        lease: e.lease,
        renewSentAt: e.sentAt,
        nextRenewAt: e.sentAt + t.retryPeriodMs,
        renewing: false,
        since: now
      }
      return [{ ...m, state: leader }, [{ _tag: "StartChild", fencingToken: e.lease.transitions }], reason("acquired")]
    }
    case "AcquireFailed": {
      if (e.failure.kind !== "conflict") {
        const backoff = { ...noBackoff, retryAt: now + backoffMs(e.failure, t) }
        // A failed create says nothing of the lease since it was read absent: it may have been created
        // and lost again (an API server that lost its state). Read it again; absent is waited out anew.
        const observation = s.base === undefined ? undefined : s.observation
        return follow(m, observation, now, t, reason("acquire_failed", e.failure.message), backoff)
      }
      // Someone else wrote first: follow the fresh reading, never retry blindly. Judge the news
      // against the version we wrote on: the watch may have told us of the winner meanwhile.
      // What the winner wrote was never seen: a lease now absent may have been held since.
      const observation = observe(s.observation, e.current, now, true)
      const changed = !sameVersion(s.base, e.current)
      // A lease that reads takeable right after a conflict is retried no sooner than a retry period,
      // unless newer news comes first; one that reads held needs no backoff (its expiry is the wait).
      const backoff = changed && !takeable(observation, now, t)
        ? noBackoff
        : { ...noBackoff, retryAt: now + t.retryPeriodMs, retryUntilChange: true }
      return follow(m, observation, now, t, reason("lost_race"), backoff)
    }
    case "LeaseSeen":
      return [{ ...m, state: { ...s, observation: observe(s.observation, e.lease, now) } }, [], reason("lease_seen")]
    case "Signal":
      return [{ ...m, exiting: true }, [], reason("signal", e.signal)]
    default:
      return [m, [], reason("ignored", e._tag)]
  }
}

const leader = (m: Machine, s: Extract<State, { _tag: "Leader" }>, e: Event, now: number, t: Timing): Result => {
  const deadline = deadlineOf(s, t)
  if (e._tag === "ChildEnded") {
    // The child ended by itself: the wrapper ends with its code, whatever else happened [rule: child exit].
    return [
      {
        ...m,
        exiting: true,
        exitCode: e.exitCode,
        state: { _tag: "Releasing", lease: s.lease, childStopped: true, since: now, killAt: undefined, handover: false }
      },
      [{ _tag: "Release", base: s.lease }],
      reason("child_exited", String(e.exitCode))
    ]
  }
  if (e._tag === "Signal") return lose({ ...m, exiting: true }, s, s.lease, now, t, reason("signal", e.signal))
  if (now >= deadline) return lose(m, s, s.lease, now, t, reason("renew_deadline"))
  switch (e._tag) {
    case "Wake":
      if (t.reelectAfterMs !== undefined && now >= s.since + t.reelectAfterMs) {
        return lose(m, s, s.lease, now, t, reason("reelect"))
      }
      if (!s.renewing && now >= s.nextRenewAt) {
        return [{ ...m, state: { ...s, renewing: true } }, [{ _tag: "Renew", base: s.lease }], reason("renew")]
      }
      return [m, [], reason("waiting")]
    case "Renewed": {
      if (e.lease.resourceVersion === e.baseVersion) {
        // The server stored nothing (an identical object): followers saw no change, so this is no renew.
        const nextRenewAt = Math.min(now + t.retryPeriodMs, deadline)
        return [{ ...m, state: { ...s, renewing: false, nextRenewAt } }, [], reason("renew_unchanged")]
      }
      const renewSentAt = Math.max(s.renewSentAt, e.sentAt)
      if (now >= renewSentAt + t.renewDeadlineMs) {
        return lose(m, { ...s, renewSentAt }, e.lease, now, t, reason("renewed_too_late"))
      }
      return [
        {
          ...m,
          state: { ...s, lease: e.lease, renewSentAt, nextRenewAt: renewSentAt + t.retryPeriodMs, renewing: false }
        },
        [],
        reason("renewed")
      ]
    }
    case "RenewFailed":
      if (e.failure.kind === "conflict") {
        if (isOurs(e.current, t) && handsOver(e.current, t.identity)) {
          return lose(m, s, e.current, now, t, reason("handover", e.current!.preferredHolder))
        }
        if (isOurs(e.current, t)) {
          // Still this process's lease, edited by someone (labels, say): renew on the new version at once.
          const current = e.current!
          return [
            { ...m, state: { ...s, lease: current, renewing: true } },
            [{ _tag: "Renew", base: current }],
            reason("renew_retry_newer")
          ]
        }
        return lose(
          m,
          s,
          undefined,
          now,
          t,
          e.current === undefined ? reason("lease_deleted") : reason("lease_taken", JSON.stringify(e.current.holder))
        )
      }
      return [
        { ...m, state: { ...s, renewing: false, nextRenewAt: Math.min(now + backoffMs(e.failure, t), deadline) } },
        [],
        reason("renew_failed", e.failure.message)
      ]
    case "LeaseSeen": {
      // A reading may be older than our last write, so it only prompts a renew now;
      // the conditional write's answer decides whether the lease is still ours.
      const ours = isOurs(e.lease, t) && e.lease!.uid === s.lease.uid
      // Asked to hand over (`just-one-init handover`, spec.preferredHolder): end the term as on SIGTERM, but
      // stay a follower. The release is written on this newest version, which keeps the request for the others.
      if (ours && handsOver(e.lease, t.identity)) {
        return lose(m, s, e.lease, now, t, reason("handover", e.lease!.preferredHolder))
      }
      if (ours || s.renewing) return [m, [], reason("lease_seen")]
      return [
        { ...m, state: { ...s, renewing: true } },
        [{ _tag: "Renew", base: s.lease }],
        reason("lease_changed")
      ]
    }
    default:
      return [m, [], reason("ignored", e._tag)]
  }
}

/**
 * A replica that handed over stays away for two lease durations, whoever the handover was for: longer than the
 * others leave a lease named for someone else, so that when the preferred holder does not come, another
 * follower takes it, and this one only when there is none.
 */
const handedOver = (s: Extract<State, { _tag: "Releasing" }>, now: number, t: Timing): Backoff =>
  s.handover ? { ...noBackoff, awayUntil: now + 2 * t.leaseDurationMs } : noBackoff

const releasing = (m: Machine, s: Extract<State, { _tag: "Releasing" }>, e: Event, now: number, t: Timing): Result => {
  switch (e._tag) {
    case "ChildEnded": {
      // A child that ended by itself ends the wrapper with its code, even mid-step-down; a stopped
      // child's code is the wrapper's only when a signal asked the wrapper to exit.
      const next = e.byItself
        ? { ...m, exiting: true, exitCode: e.exitCode }
        : { ...m, exitCode: m.exiting && m.exitCode === undefined ? e.exitCode : m.exitCode }
      const why = e.byItself ? reason("child_exited", String(e.exitCode)) : reason("child_stopped")
      // Hand the lease back only now that the child and all it started are gone [rule 4].
      if (s.lease !== undefined) {
        return [{ ...next, state: { ...s, childStopped: true } }, [{ _tag: "Release", base: s.lease }], why]
      }
      return follow(next, undefined, now, t, why, handedOver(s, now, t))
    }
    case "Released":
      return follow(m, undefined, now, t, reason("released"), handedOver(s, now, t))
    case "Renewed":
      return [
        { ...m, state: { ...s, lease: s.lease === undefined ? undefined : e.lease } },
        [],
        reason("late_answer", "renew")
      ]
    case "RenewFailed": {
      // Adopt a newer version only if this very process still holds it (never another incarnation's).
      const lease = e.failure.kind !== "conflict" ? s.lease : isOurs(e.current, t) ? e.current : undefined
      return [{ ...m, state: { ...s, lease } }, [], reason("late_answer", "renew failure")]
    }
    case "Signal":
      return [{ ...m, exiting: true }, [], reason("signal", e.signal)]
    default:
      return [m, [], reason("ignored", e._tag)]
  }
}
