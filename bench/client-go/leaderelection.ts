/**
 * A port of client-go's leader election, for the benchmark's baseline: `tools/leaderelection/leaderelection.go`
 * (LeaderElector: acquire, renew, release, tryAcquireOrRenew), `resourcelock/leaselock.go` (LeaseLock) and the
 * three `wait` loops they run on (JitterUntil, Until, PollImmediateUntil), on @kubernetes/client-node's
 * generated CoordinationV1Api. It follows the Go line by line, so each function carries its Go name; a Go
 * context is an AbortSignal here, and klog a `log` function. Not ported: OnNewLeader's goroutine (called
 * inline), metrics, events, the coordinated ("end of term") mode and the healthz adaptor.
 */
import { ApiException, Observable, V1MicroTime } from "@kubernetes/client-node"
import type { CoordinationV1Api, RequestContext, ResponseContext, V1Lease, V1LeaseSpec } from "@kubernetes/client-node"

export const JitterFactor = 1.2

export type Log = (level: "INFO" | "ERROR", message: string, annotations?: Record<string, unknown>) => void

/** resourcelock.LeaderElectionRecord: times are wall-clock (they go into the Lease); nothing compares them. */
export interface LeaderElectionRecord {
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number
  readonly acquireTime: Date
  readonly renewTime: Date
  readonly leaderTransitions: number
}

// ---- wait (k8s.io/apimachinery/pkg/util/wait) ----

/** Resolves after `ms`, or at once when `signal` is aborted (a Go select on the timer and ctx.Done()). */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => (clearTimeout(timer), signal.removeEventListener("abort", done), resolve())
    const timer = setTimeout(done, ms)
    signal.addEventListener("abort", done)
  })

/** wait.JitterUntil with sliding = true: run `f`, then wait period × (1 + jitter·random), until `signal`. */
const jitterUntil = async (f: () => Promise<void>, periodMs: number, jitterFactor: number, signal: AbortSignal) => {
  while (!signal.aborted) {
    await f()
    await sleep(jitterFactor > 0 ? periodMs * (1 + Math.random() * jitterFactor) : periodMs, signal)
  }
}

/** wait.PollImmediateUntil: `condition` now, then on each tick of an `intervalMs` ticker; false once `signal` ends it. */
const pollImmediateUntil = async (intervalMs: number, condition: () => Promise<boolean>, signal: AbortSignal) => {
  const start = performance.now()
  while (!signal.aborted) {
    if (await condition()) return true
    // A ticker: the next tick after now (ticks missed during a slow condition are dropped, as Go's are).
    await sleep(intervalMs - ((performance.now() - start) % intervalMs), signal)
  }
  return false
}

// ---- resourcelock.LeaseLock ----

/** A call option that gives one request a Go context (client-node's middlewares speak its own Observable). */
const withSignal = (signal: AbortSignal) => ({
  middleware: [{
    pre: (c: RequestContext) => (c.setSignal(signal), new Observable(Promise.resolve(c))),
    post: (r: ResponseContext) => new Observable(Promise.resolve(r))
  }],
  middlewareMergeStrategy: "append" as const
})

const microTime = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t))

/** LeaseSpecToLeaderElectionRecord: a nil field reads as zero. */
const specToRecord = (spec: V1LeaseSpec | undefined): LeaderElectionRecord => ({
  holderIdentity: spec?.holderIdentity ?? "",
  leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
  acquireTime: microTime(spec?.acquireTime) ?? new Date(0),
  renewTime: microTime(spec?.renewTime) ?? new Date(0),
  leaderTransitions: spec?.leaseTransitions ?? 0
})

/** LeaderElectionRecordToLeaseSpec: every field, every time; MicroTime with 6 digits. */
const recordToSpec = (r: LeaderElectionRecord): V1LeaseSpec => ({
  holderIdentity: r.holderIdentity,
  leaseDurationSeconds: r.leaseDurationSeconds,
  acquireTime: new V1MicroTime(r.acquireTime.getTime()),
  renewTime: new V1MicroTime(r.renewTime.getTime()),
  leaseTransitions: r.leaderTransitions
})

/** json.Marshal of the record, as LeaseLock.Get returns it: metav1.Time marshals whole seconds. */
const rawRecord = (r: LeaderElectionRecord) =>
  JSON.stringify({
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: `${r.acquireTime.toISOString().slice(0, 19)}Z`,
    renewTime: `${r.renewTime.toISOString().slice(0, 19)}Z`,
    leaderTransitions: r.leaderTransitions
  })

export class LeaseLock {
  private lease: V1Lease | undefined
  readonly api: CoordinationV1Api
  readonly namespace: string
  readonly name: string
  readonly identity: string

  constructor(api: CoordinationV1Api, namespace: string, name: string, identity: string) {
    this.api = api
    this.namespace = namespace
    this.name = name
    this.identity = identity
  }

  describe() {
    return `${this.namespace}/${this.name}`
  }

  async get(signal: AbortSignal): Promise<{ record: LeaderElectionRecord; raw: string }> {
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }, withSignal(signal))
    this.lease = lease
    const record = specToRecord(lease.spec)
    return { record, raw: rawRecord(record) }
  }

  async create(ler: LeaderElectionRecord, signal: AbortSignal) {
    this.lease = await this.api.createNamespacedLease({
      namespace: this.namespace,
      body: { metadata: { name: this.name, namespace: this.namespace }, spec: recordToSpec(ler) }
    }, withSignal(signal))
  }

  /** PUT the last lease seen (its resourceVersion makes the write conditional) with the spec replaced. */
  async update(ler: LeaderElectionRecord, signal: AbortSignal) {
    if (this.lease === undefined) throw new Error("lease not initialized, call get or create first")
    this.lease.spec = recordToSpec(ler)
    this.lease = await this.api.replaceNamespacedLease(
      { name: this.name, namespace: this.namespace, body: this.lease },
      withSignal(signal)
    )
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiException && e.code === 404

/** One line for klog: the status code and the API's message, not client-node's multi-line dump. */
export const describeError = (e: unknown): string => {
  if (e instanceof ApiException) {
    const body = typeof e.body === "string" ? e.body : ""
    const message = /"message":"((?:[^"\\]|\\.)*)"/.exec(body)?.[1]
    return `HTTP ${e.code}${message === undefined ? "" : `: ${message}`}`
  }
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

// ---- leaderelection.LeaderElector ----

export interface LeaderCallbacks {
  /** Called (not awaited, as Go runs it in a goroutine) once leading; `signal` ends when leading ends. */
  readonly onStartedLeading: (signal: AbortSignal) => void
  /** Called when `run` ends, leading or not (Go's deferred call): `run` returns after it. */
  readonly onStoppedLeading: () => Promise<void>
  readonly onNewLeader?: (identity: string) => void
}

export interface LeaderElectionConfig {
  readonly lock: LeaseLock
  readonly leaseDurationMs: number
  readonly renewDeadlineMs: number
  readonly retryPeriodMs: number
  readonly callbacks: LeaderCallbacks
  readonly releaseOnCancel: boolean
  readonly log: Log
}

/** NewLeaderElector's checks: the message of the first that fails, else undefined. */
export const invalidConfig = (c: Omit<LeaderElectionConfig, "lock" | "callbacks" | "log">): string | undefined =>
  c.leaseDurationMs <= c.renewDeadlineMs
    ? "leaseDuration must be greater than renewDeadline"
    : c.renewDeadlineMs <= JitterFactor * c.retryPeriodMs
    ? "renewDeadline must be greater than retryPeriod*JitterFactor"
    : c.retryPeriodMs < 1
    ? "retryPeriod must be greater than zero"
    : undefined

export class LeaderElector {
  private readonly config: LeaderElectionConfig
  private observedRecord: LeaderElectionRecord | undefined
  private observedRawRecord: string | undefined
  /** Local monotonic time at which observedRecord was last set: the only clock expiry is judged by. */
  private observedTime = 0
  private reportedLeader = ""

  constructor(config: LeaderElectionConfig) {
    this.config = config
  }

  /** Run: acquire, then renew until that fails or `signal` ends; OnStoppedLeading last, in every case. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      if (!(await this.acquire(signal))) return
      const leading = new AbortController()
      try {
        this.config.callbacks.onStartedLeading(AbortSignal.any([signal, leading.signal]))
        await this.renew(AbortSignal.any([signal, leading.signal]))
      } finally {
        leading.abort()
      }
    } finally {
      await this.config.callbacks.onStoppedLeading()
    }
  }

  getLeader() {
    return this.observedRecord?.holderIdentity ?? ""
  }

  isLeader() {
    return this.observedRecord?.holderIdentity === this.config.lock.identity
  }

  /** Loops tryAcquireOrRenew every RetryPeriod × (1 + 1.2·random) until it succeeds; false if `signal` ended first. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    const acquired = new AbortController()
    const ctx = AbortSignal.any([signal, acquired.signal])
    let succeeded = false
    const desc = this.config.lock.describe()
    this.config.log("INFO", `attempting to acquire leader lease ${desc}...`)
    await jitterUntil(
      async () => {
        succeeded = await this.tryAcquireOrRenew(ctx)
        this.maybeReportTransition()
        if (!succeeded) return
        this.config.log("INFO", `successfully acquired lease ${desc}`)
        acquired.abort()
      },
      this.config.retryPeriodMs,
      JitterFactor,
      ctx
    )
    return succeeded
  }

  /** Every RetryPeriod, retry tryAcquireOrRenew for up to RenewDeadline; when that fails, stop (and release). */
  private async renew(signal: AbortSignal): Promise<void> {
    const failed = new AbortController()
    const ctx = AbortSignal.any([signal, failed.signal])
    await jitterUntil(
      async () => {
        const timeoutCtx = AbortSignal.any([ctx, AbortSignal.timeout(this.config.renewDeadlineMs)])
        const renewed = await pollImmediateUntil(
          this.config.retryPeriodMs,
          () => this.tryAcquireOrRenew(timeoutCtx),
          timeoutCtx
        )
        this.maybeReportTransition()
        if (renewed) return
        if (!signal.aborted) {
          this.config.log(
            "INFO",
            `failed to renew lease ${this.config.lock.describe()}: timed out waiting for the condition`
          )
        }
        failed.abort()
      },
      this.config.retryPeriodMs,
      0,
      ctx
    )
    if (this.config.releaseOnCancel) await this.release()
  }

  /** Give the lease up if we hold it: holder "", 1 s, transitions unchanged; one try, bounded by RenewDeadline. */
  private async release(): Promise<boolean> {
    const timeoutCtx = AbortSignal.timeout(this.config.renewDeadlineMs)
    let old: LeaderElectionRecord
    try {
      old = (await this.config.lock.get(timeoutCtx)).record // refreshes the resourceVersion
    } catch (e) {
      this.config.log(
        "ERROR",
        isNotFound(e)
          ? `lease lock not found: ${this.config.lock.describe()}`
          : `error retrieving resource lock ${this.config.lock.describe()}: ${describeError(e)}`
      )
      return false
    }
    if (!this.isLeader()) return true
    const now = new Date()
    const record: LeaderElectionRecord = {
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaderTransitions: old.leaderTransitions
    }
    try {
      await this.config.lock.update(record, timeoutCtx)
    } catch (e) {
      this.config.log("ERROR", `Failed to release lease ${this.config.lock.describe()}: ${describeError(e)}`)
      return false
    }
    this.setObservedRecord(record)
    return true
  }

  private async tryAcquireOrRenew(ctx: AbortSignal): Promise<boolean> {
    const now = new Date()
    const nowMono = performance.now()
    let record: LeaderElectionRecord = {
      holderIdentity: this.config.lock.identity,
      leaseDurationSeconds: Math.trunc(this.config.leaseDurationMs / 1000),
      renewTime: now,
      acquireTime: now,
      leaderTransitions: 0
    }

    // 1. fast path for the leader to update optimistically assuming that the record observed
    // last time is the current version.
    if (this.isLeader() && this.isLeaseValid(nowMono)) {
      const old = this.observedRecord!
      record = { ...record, acquireTime: old.acquireTime, leaderTransitions: old.leaderTransitions }
      try {
        await this.config.lock.update(record, ctx)
        this.setObservedRecord(record)
        return true
      } catch (e) {
        this.config.log("ERROR", `Failed to update lock optimistically: ${describeError(e)}, falling back to slow path`)
      }
    }

    // 2. obtain or create the ElectionRecord
    let old: { record: LeaderElectionRecord; raw: string }
    try {
      old = await this.config.lock.get(ctx)
    } catch (e) {
      if (!isNotFound(e)) {
        this.config.log("ERROR", `error retrieving resource lock ${this.config.lock.describe()}: ${describeError(e)}`)
        return false
      }
      try {
        await this.config.lock.create(record, ctx)
      } catch (e) {
        this.config.log("ERROR", `error initially creating leader election record: ${describeError(e)}`)
        return false
      }
      this.setObservedRecord(record)
      return true
    }

    // 3. Record obtained, check the Identity & Time
    if (this.observedRawRecord !== old.raw) {
      this.setObservedRecord(old.record)
      this.observedRawRecord = old.raw
    }
    if (old.record.holderIdentity.length > 0 && this.isLeaseValid(nowMono) && !this.isLeader()) {
      return false // held by someone else and not yet expired (klog.V(4))
    }

    // 4. We're going to try to update. The record is set to its default here; correct it before updating.
    record = this.isLeader()
      ? { ...record, acquireTime: old.record.acquireTime, leaderTransitions: old.record.leaderTransitions }
      : { ...record, leaderTransitions: old.record.leaderTransitions + 1 }

    try {
      await this.config.lock.update(record, ctx)
    } catch (e) {
      this.config.log("ERROR", `Failed to update lock: ${describeError(e)}`)
      return false
    }
    this.setObservedRecord(record)
    return true
  }

  private maybeReportTransition() {
    const holder = this.getLeader()
    if (holder === this.reportedLeader) return
    this.reportedLeader = holder
    this.config.callbacks.onNewLeader?.(holder)
  }

  /** observedTime + the observed record's leaseDurationSeconds is still ahead of `nowMono`. */
  private isLeaseValid(nowMono: number) {
    return this.observedTime + (this.observedRecord?.leaseDurationSeconds ?? 0) * 1000 > nowMono
  }

  private setObservedRecord(record: LeaderElectionRecord) {
    this.observedRecord = record
    this.observedTime = performance.now()
  }
}
