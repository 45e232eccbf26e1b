/**
 * The vocabulary of the model: the world around the replicas (a lease store,
 * requests in flight, children, clocks, faults) as one immutable state, the
 * transitions between states, and the settings that bound them. model.ts
 * gives the transitions their meaning.
 */
import type { LeaseView, Machine, ModelTiming } from "./adapter.ts"
import { stateTag } from "./adapter.ts"

export interface Faults {
  /** An answer lost (the request applied or not). */
  readonly lose: boolean
  readonly partition: boolean
  readonly crash: boolean
  readonly freeze: boolean
  readonly signal: boolean
  /** The child exits by itself. */
  readonly childExit: boolean
  /** Reads (and the read after a conflict) answer the previous version. */
  readonly stale: boolean
  /** The watch goes down and comes back. */
  readonly watch: boolean
}

export const allFaults: Faults = {
  lose: true,
  partition: true,
  crash: true,
  freeze: true,
  signal: true,
  childExit: true,
  stale: true,
  watch: true
}

export const noFaults: Faults = {
  lose: false,
  partition: false,
  crash: false,
  freeze: false,
  signal: false,
  childExit: false,
  stale: false,
  watch: false
}

export type Invariant = "never two children" | "releasing ends" | "progress" | "exit codes" | "no hot loop"

export const invariants: ReadonlyArray<Invariant> = [
  "never two children",
  "releasing ends",
  "progress",
  "exit codes",
  "no hot loop"
]

export type InitialLease = "absent" | "held" | "free"

export interface Settings {
  readonly replicas: number
  readonly timing: ModelTiming
  /** Every request is answered (or its answer lost) within this many steps: the runtime's request timeout. */
  readonly requestTimeout: number
  /** A read may answer the version the store had up to this many steps ago. */
  readonly staleness: number
  /** How many times the store may lose its state. */
  readonly losses: number
  /** Let the store lose its state at any moment, a holder just written included (see settledAfter). */
  readonly lossAnytime: boolean
  /**
   * How many drift ticks (one clock gains or loses a step on all the others) any window of a
   * lease duration and a step may hold: how far two clocks may drift apart over the longest
   * interval a replica measures (from ρ).
   */
  readonly drift: number
  /** How many faults a run may have (store losses aside): the search's bound on failures. */
  readonly faultBudget: number
  readonly faults: Faults
  readonly initialLeases: ReadonlyArray<InitialLease>
  readonly check: ReadonlySet<Invariant>
  readonly symmetry: boolean
}

export const ReqKind = { Read: 0, Acquire: 1, Renew: 2 } as const
export type ReqKind = typeof ReqKind[keyof typeof ReqKind]

export interface Req {
  readonly kind: ReqKind
  readonly base: LeaseView | undefined
  /** Local ms at which it was sent: the `sentAt` of its answer. */
  readonly at: number
  /** 0 sent, 1 applied (result), 2 refused by a conflict (a read follows). */
  readonly phase: 0 | 1 | 2
  readonly result: LeaseView | undefined
  /** Sent by an incarnation that has ended: the server may still apply it; nobody hears the answer. */
  readonly orphan: boolean
  readonly inc: number
}

/** The runtime's release: retried until it succeeds or a renew deadline has passed, then Released. */
export interface ReleaseJob {
  readonly base: LeaseView
  readonly follows: number
  readonly at: number
}

export interface Child {
  /** 1 running, 2 stopping (or ended by itself with what it started still going). */
  readonly kind: 1 | 2
  readonly byItself: boolean
  /** Local ms by which it and all it started are dead. */
  readonly deadline: number
}

export interface Replica {
  readonly up: boolean
  readonly inc: number
  readonly clock: number
  readonly machine: Machine
  readonly wakeAt: number | undefined
  readonly frozen: boolean
  /** Still frozen while the thawed wrapper acts on what is overdue. */
  readonly childFrozen: boolean
  /**
   * Thawed in this step: what its watch delivered during the freeze is taken before a wake due now (a process
   * stopped in its poll reads the socket before it runs timers, and the Elector takes a queued event before a
   * timeout); a wake overdue by more is step's to notice (a late wake reads the lease again).
   */
  readonly thawing: boolean
  readonly partitioned: boolean
  readonly signalled: boolean
  readonly watchUp: boolean
  /** The watch went down by a fault: it reconnects whenever it likes (else at once). */
  readonly watchOut: boolean
  /** The changes the watch has yet to deliver, in order (a session never skips one). */
  readonly watchQueue: ReadonlyArray<LeaseView>
  /** The API server lost its state under the session: it ends (what was sent may still arrive). */
  readonly watchBroken: boolean
  readonly reqs: ReadonlyArray<Req>
  readonly release: ReleaseJob | undefined
  readonly child: Child | undefined
  /** The code of a child that ended by itself: the wrapper must end with it. */
  readonly selfCode: number | undefined
  /** True steps spent in Releasing, not frozen. */
  readonly releasing: number
}

/** A replica with nothing going on around it: not frozen, not cut off, no watch, no child, nothing pending. */
export const quiet = {
  wakeAt: undefined,
  frozen: false,
  thawing: false,
  childFrozen: false,
  partitioned: false,
  signalled: false,
  watchUp: false,
  watchOut: false,
  watchQueue: [],
  watchBroken: false,
  release: undefined,
  child: undefined,
  selfCode: undefined,
  releasing: 0
} satisfies Partial<Replica>

export interface Store {
  readonly cur: LeaseView | undefined
  /** The version before `cur`, readable while `prevAge` ≤ staleness; null: none. */
  readonly prev: LeaseView | undefined | null
  readonly prevAge: number
  /** True steps since `cur` was written (up to the lease duration). */
  readonly age: number
  /** True steps since the holder last changed (up to `Model.settledAfter`). */
  readonly holderAge: number
  readonly losses: number
}

export interface World {
  readonly store: Store
  readonly replicas: ReadonlyArray<Replica>
  /** True steps the lease has been takeable with a healthy store; -1: not timed. */
  readonly progress: number
  /** Replicas that have been healthy followers since timing began (bits). */
  readonly healthy: number
  readonly nextRv: number
  readonly nextUid: number
  readonly faultsLeft: number
  readonly driftLeft: number
  /** Steps since the first drift tick of the current window; -1: no window open. */
  readonly driftSince: number
}

export const names = ["a", "b", "c", "d"]
/** A holder that is none of the replicas: a replica long gone. */
export const outsider = "x"
export const selfExitCode = 3
/** Where every replica's clock stands in a decoded state (any offset would do). */
export const baseSteps = 1_000_000

export const incarnationName = (i: number, inc: number) => `${names[i]}#${inc}`

export type Transition =
  | { readonly _tag: "restart"; readonly i: number }
  | { readonly _tag: "orphanApply"; readonly i: number; readonly j: number }
  | { readonly _tag: "freeze"; readonly i: number }
  | { readonly _tag: "thaw"; readonly i: number }
  | { readonly _tag: "crash"; readonly i: number }
  | { readonly _tag: "partition"; readonly i: number }
  | { readonly _tag: "heal"; readonly i: number }
  | { readonly _tag: "signal"; readonly i: number }
  | { readonly _tag: "wake"; readonly i: number }
  | { readonly _tag: "childResume"; readonly i: number }
  | { readonly _tag: "childExit"; readonly i: number }
  | { readonly _tag: "childGone"; readonly i: number }
  | { readonly _tag: "read"; readonly i: number; readonly j: number; readonly stale: boolean }
  /** A write applied (or refused) and answered at once; a refusal's read may be stale. */
  | { readonly _tag: "roundTrip"; readonly i: number; readonly j: number; readonly stale: boolean }
  /** A write applied (or refused) whose answer is lost. */
  | { readonly _tag: "applyLost"; readonly i: number; readonly j: number }
  /** A write of a frozen replica applied (or refused); the answer waits for the thaw. */
  | { readonly _tag: "apply"; readonly i: number; readonly j: number }
  | { readonly _tag: "answer"; readonly i: number; readonly j: number; readonly stale: boolean }
  /** No answer: the request was not applied (or, after a frozen apply, its answer is lost). */
  | { readonly _tag: "lose"; readonly i: number; readonly j: number }
  | { readonly _tag: "releaseWrite"; readonly i: number }
  | { readonly _tag: "releaseTimeout"; readonly i: number }
  | { readonly _tag: "watchUp"; readonly i: number }
  | { readonly _tag: "watchDown"; readonly i: number }
  | { readonly _tag: "watchEvent"; readonly i: number }
  | { readonly _tag: "storeLoss" }
  /**
   * True time passes one step: every clock moves one step, but `gain`'s moves two (gain ≥ 0),
   * or that of replica -2 - gain none (gain ≤ -2: it loses a step on the others). With two
   * replicas, one losing is the same as the other gaining.
   */
  | { readonly _tag: "tick"; readonly gain: number }

/** What happened, for the trace and the timeline. */
export type Record =
  | {
    readonly _tag: "step"
    readonly i: number
    readonly event: string
    readonly from: string
    readonly to: string
    readonly reason: string
    readonly commands: string
  }
  | { readonly _tag: "childStarted"; readonly i: number }
  | {
    readonly _tag: "childEnded"
    readonly i: number
    readonly exitCode: number
    readonly signal: string | undefined
  }
  /** Something of the world, of replica `i` when given. */
  | { readonly _tag: "env"; readonly i: number | undefined; readonly text: string }

export interface Violation {
  readonly invariant: Invariant
  readonly detail: string
}

export class ModelError extends Error {}

export interface Outcome {
  readonly world: World
  readonly violation: Violation | undefined
}

export const sameVersion = (a: LeaseView | undefined, b: LeaseView | undefined) =>
  a === undefined || b === undefined ? a === b : a.resourceVersion === b.resourceVersion && a.uid === b.uid

export const tagOf = (r: Replica) => (r.up ? stateTag(r.machine) : "down")
