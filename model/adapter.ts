/**
 * The one module of the checker that knows the API of `step` (src/domain/Election.ts):
 * the events it takes, the commands it gives, its timing, its reasons, the lease view,
 * and which fields of its machine are times. When that API changes, this is the
 * file to adapt; the rest of the checker speaks only the small vocabulary below.
 */
import type { LeaseView } from "../src/domain/Lease.ts"
import type { Command, Event, Machine, Step } from "../src/domain/Machine.ts"
import { reasonText } from "../src/domain/Reasons.ts"
import type { Timing } from "../src/domain/Timings.ts"
import { timing } from "../src/domain/Timings.ts"

export type { LeaseView, Machine }

/** What the checker needs of an election module: the real one, or a mutated copy of it. */
export interface ElectionModule {
  readonly step: (m: Machine, e: Event, now: number, t: Timing) => Step
  readonly initial: Machine
  readonly start: ReadonlyArray<Command>
}

export const loadElection = async (url?: string): Promise<ElectionModule> => {
  // A mutant is a copy of the domain's modules in one folder: its Machine.ts sits beside its Election.ts.
  const { step } = (url === undefined
    ? await import("../src/domain/Election.ts")
    : await import(url)) as Pick<ElectionModule, "step">
  const { initial, start } = (url === undefined
    ? await import("../src/domain/Machine.ts")
    : await import(new URL("./Machine.ts", url).href)) as Omit<ElectionModule, "step">
  return { step, initial, start }
}

/** The model's timing, in steps of `unitMs` (a fraction of the retry period). */
export interface ModelTiming {
  readonly unitMs: number
  /** Retry period, renew deadline, stop grace, lease duration: in steps. */
  readonly retry: number
  readonly renewDeadline: number
  readonly stopGrace: number
  readonly leaseDuration: number
  /** The duration a release writes (client-go's one second): the smallest step. */
  readonly releaseDuration: number
}

/** The runtime's timing for one incarnation of a replica. */
export const timingOf = (t: ModelTiming, identity: string, incarnation: string): Timing =>
  timing({
    identity,
    incarnation,
    leaseDurationMs: t.leaseDuration * t.unitMs,
    renewDeadlineMs: t.renewDeadline * t.unitMs,
    retryPeriodMs: t.retry * t.unitMs,
    stopGraceMs: t.stopGrace * t.unitMs
  })

export interface Stepped {
  readonly machine: Machine
  readonly commands: ReadonlyArray<Command>
  readonly wakeAt: number | undefined
  readonly reason: string
}

/** One call of step. */
export const callStep = (mod: ElectionModule, m: Machine, e: Event, now: number, t: Timing): Stepped => {
  const r = mod.step(m, e, now, t)
  return { machine: r.machine, commands: r.commands, wakeAt: r.wakeAt, reason: reasonText(r.reason) }
}

/** Commands as the checker's environment carries them out. */
export type Action =
  | { readonly _tag: "read" }
  | { readonly _tag: "acquire"; readonly base: LeaseView | undefined }
  | { readonly _tag: "renew"; readonly base: LeaseView }
  | { readonly _tag: "release"; readonly base: LeaseView }
  | { readonly _tag: "start" }
  /** SIGTERM now; everything the child started is dead by `killAt` (local ms). */
  | { readonly _tag: "stop"; readonly killAt: number }
  | { readonly _tag: "exit"; readonly code: number }

export const actionOf = (c: Command): Action => {
  switch (c._tag) {
    case "Read":
      return { _tag: "read" }
    case "Acquire":
      return { _tag: "acquire", base: c.base }
    case "Renew":
      return { _tag: "renew", base: c.base }
    case "Release":
      return { _tag: "release", base: c.base }
    case "StartChild":
      return { _tag: "start" }
    case "StopChild":
      return { _tag: "stop", killAt: c.killAt }
    case "Exit":
      return { _tag: "exit", code: c.exitCode }
  }
}

const transient = { kind: "transient", message: "no answer" } as const

export const events = {
  wake: { _tag: "Wake" } as Event,
  leaseSeen: (lease: LeaseView | undefined): Event => ({ _tag: "LeaseSeen", lease }),
  readFailed: { _tag: "ReadFailed", failure: transient } as Event,
  watchChanged: (watching: boolean): Event => ({ _tag: "WatchChanged", watching }),
  acquired: (lease: LeaseView, sentAt: number): Event => ({ _tag: "Acquired", lease, sentAt }),
  acquireConflict: (current: LeaseView | undefined): Event => ({
    _tag: "AcquireFailed",
    failure: { kind: "conflict", message: "conflict" },
    current
  }),
  acquireFailed: { _tag: "AcquireFailed", failure: transient } as Event,
  renewed: (lease: LeaseView, sentAt: number, base: LeaseView): Event => ({
    _tag: "Renewed",
    lease,
    sentAt,
    baseVersion: base.resourceVersion
  }),
  renewConflict: (current: LeaseView | undefined): Event => ({
    _tag: "RenewFailed",
    failure: { kind: "conflict", message: "conflict" },
    current
  }),
  renewFailed: { _tag: "RenewFailed", failure: transient } as Event,
  childEnded: (exitCode: number, byItself: boolean): Event => ({ _tag: "ChildEnded", exitCode, byItself }),
  released: { _tag: "Released" } as Event,
  signal: { _tag: "Signal", signal: "SIGTERM" } as Event
}

/** A short name of an event for the trace. */
export const eventText = (e: Event): string => {
  switch (e._tag) {
    case "LeaseSeen":
      return `LeaseSeen(${viewText(e.lease)})`
    case "Acquired":
    case "Renewed":
      return `${e._tag}(${viewText(e.lease)})`
    case "AcquireFailed":
    case "RenewFailed":
      return e.failure.kind === "conflict" ? `${e._tag}(conflict, now ${viewText(e.current)})` : `${e._tag}(no answer)`
    case "WatchChanged":
      return `WatchChanged(${e.watching ? "up" : "down"})`
    case "ChildEnded":
      return `ChildEnded(${e.exitCode}${e.byItself ? ", by itself" : ""})`
    default:
      return e._tag
  }
}

export const viewText = (v: LeaseView | undefined): string =>
  v === undefined
    ? "absent"
    : `v${v.resourceVersion} ${v.holder === "" ? "free" : `held by ${JSON.stringify(v.holder)}`}`

/** A lease as the store holds it. Nobody asks for a handover in the model (model/README.md). */
export const leaseView = (
  fields: {
    readonly resourceVersion: string
    readonly uid: string
    readonly holder: string
    readonly durationMs: number
    readonly incarnation: string | undefined
  }
): LeaseView => ({
  ...fields,
  transitions: 0,
  preferredHolder: undefined,
  acquireTime: undefined,
  renewTime: undefined,
  raw: {}
})

export const isLeaseView = (x: object): x is LeaseView => "resourceVersion" in x

/**
 * The view's fields the store's versions are told apart by (codec.ts: uid, holder, incarnation,
 * durationMs) and those step never reads. Any other field with a value stops the check: a new
 * field step reads must be encoded by codec.ts and written by world.ts: so a preferredHolder stops it, as
 * nobody asks for a handover in the model.
 */
export const viewFields: ReadonlySet<string> = new Set([
  "resourceVersion",
  "uid",
  "holder",
  "durationMs",
  "incarnation",
  "transitions",
  "acquireTime",
  "renewTime",
  "raw"
])

export const stateTag = (m: Machine): string => m.state._tag
export const isExiting = (m: Machine): boolean => m.exiting
/** Contending for the lease: what the progress invariant counts as a follower. */
export const isContending = (m: Machine): boolean => m.state._tag === "Follower" || m.state._tag === "Acquiring"
export const isReleasing = (m: Machine): boolean => m.state._tag === "Releasing"

/**
 * The machine's fields that are local times, each with the oldest value (in steps before
 * now) that can still make a difference: anything older is clamped to it before states are
 * compared. Each bound follows from how step uses the field; the self-check test
 * (test/model-check.test.ts) confirms that clamping changes no step it takes on random runs.
 */
export const timeFields: Readonly<Record<string, (t: ModelTiming) => number>> = {
  // A follower's Wake compares the wake it asked for (wakeAt) with now: more than a retry period late is a late
  // wake (step reads again first), so a time that feeds wakeAt matters down to P + 1 steps before now.
  // takeableAt: observedAt + a duration (at most the lease duration), and a wake time.
  observedAt: (t) => -(Math.max(t.leaseDuration, t.releaseDuration) + t.retry + 1),
  // A wake time.
  nextReadAt: (t) => -(t.retry + 1),
  // max(now, readAfter) and max(now + retry period, readAfter): anything past is now.
  readAfter: () => 0,
  // Wake times, and compared with now.
  awayUntil: (t) => -(t.retry + 1),
  retryAt: (t) => -(t.retry + 1),
  // A Releasing one is for the runtime's kill and /healthz alone; step never reads it.
  killAt: () => 0,
  // The deadline (+ renew deadline) and the stop's kill time (+ renew deadline + stop grace).
  renewSentAt: (t) => -(t.renewDeadline + t.stopGrace),
  nextRenewAt: () => 0,
  // Only --reelect-after (not modelled) reads a Leader's; a Releasing one is for /healthz alone.
  since: () => 0
}

/** Numbers in the machine that are durations in ms (all multiples of the step). */
export const durationFields: ReadonlySet<string> = new Set(["lastDurationMs"])

/** Numbers in the machine that are neither times nor durations. */
export const plainFields: ReadonlySet<string> = new Set(["exitCode"])
