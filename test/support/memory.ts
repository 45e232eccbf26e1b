/**
 * Test wiring: an in-memory Lease with the API server's optimistic
 * concurrency, reached through per-replica faults (latency, lost answers,
 * partitions), and a child supervisor that records when children run. Time
 * comes from the Clock, so whole clusters run under TestClock.
 */
import { Clock, Deferred, Effect, Layer, Option, PubSub, Stream } from "effect"
import type { LeaseView, SpecFields } from "../../src/domain/Lease.ts"
import { fromJson, incarnationAnnotation } from "../../src/domain/Lease.ts"
import type { Change } from "../../src/kube/Informer.ts"
import { Conflict, KubeError, Unavailable } from "../../src/kube/KubeError.ts"
import type { ChildExit, RunningChild } from "../../src/services/ChildSupervisor.ts"
import { ChildSupervisor } from "../../src/services/ChildSupervisor.ts"
import { LeaseStore } from "../../src/services/LeaseStore.ts"

type Raw = Record<string, unknown> & { metadata: Record<string, unknown>; spec: Record<string, unknown> }

/** One Lease held the way the API server holds it: a global resourceVersion, uid preconditions, 409 on a stale write. */
export class MemoryLease {
  private rv = 0
  private uidCounter = 0
  object: Raw | undefined
  /** Every write as a watch would see it: the object, and whether it was deleted. */
  readonly changes = Effect.runSync(PubSub.unbounded<{ readonly raw: Raw; readonly deleted: boolean }>())

  private publish(raw: Raw | undefined = this.object, deleted = false) {
    if (raw !== undefined) Effect.runSync(PubSub.publish(this.changes, { raw: structuredClone(raw), deleted }))
  }

  create(spec: SpecFields, incarnation?: string, annotations: unknown = undefined): Raw | "conflict" {
    if (this.object !== undefined) return "conflict"
    const kept = annotations ?? (incarnation === undefined ? undefined : { [incarnationAnnotation]: incarnation })
    this.object = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: "lease",
        resourceVersion: String(++this.rv),
        uid: `uid-${++this.uidCounter}`,
        ...(kept === undefined ? {} : { annotations: kept })
      },
      spec: { ...spec }
    }
    this.publish()
    return structuredClone(this.object)
  }

  replace(body: Record<string, unknown>): Raw | "conflict" {
    const meta = (body["metadata"] ?? {}) as Record<string, unknown>
    if (this.object === undefined) {
      if (meta["uid"] !== undefined) return "conflict"
      return this.create(body["spec"] as SpecFields, undefined, meta["annotations"])
    }
    if (
      meta["resourceVersion"] !== this.object.metadata["resourceVersion"]
      || (meta["uid"] !== undefined && meta["uid"] !== this.object.metadata["uid"])
    ) {
      return "conflict"
    }
    const { annotations, labels } = meta
    const next = { ...(body as Raw), metadata: { ...this.object.metadata, annotations, labels } }
    // As kube-apiserver: an update that changes nothing is not written (same resourceVersion, no event).
    if (JSON.stringify(next) === JSON.stringify(this.object)) return structuredClone(this.object)
    this.object = { ...next, metadata: { ...next.metadata, resourceVersion: String(++this.rv) } }
    this.publish()
    return structuredClone(this.object)
  }

  /** Another writer sets the spec (kubectl edit, a Go client, a human). */
  overwrite(spec: Record<string, unknown>) {
    if (this.object === undefined) return
    this.object = {
      ...this.object,
      metadata: { ...this.object.metadata, resourceVersion: String(++this.rv) },
      spec: { ...this.object.spec, ...spec }
    }
    this.publish()
  }

  delete() {
    const gone = this.object
    this.object = undefined
    this.publish(gone, true)
  }
}

/** How one replica's requests fare on the way to the API server and back. */
export interface Link {
  /** One-way latency in ms for the next message. */
  readonly latency: () => number
  /** Whether the answer to this request is lost (the write may still have happened). */
  readonly loseAnswer: () => boolean
  /** Whether the replica is cut off: requests and watch events never arrive. */
  readonly partitioned: () => boolean
}

export const leaseStoreMemory = (lease: MemoryLease, link: Link, requestTimeoutMs: number) => {
  const call = <A>(apply: () => A | "conflict") =>
    Effect.gen(function*() {
      yield* Effect.sleep(link.latency())
      if (link.partitioned()) return yield* Effect.never
      const result = apply()
      yield* Effect.sleep(link.latency())
      if (link.loseAnswer() || link.partitioned()) return yield* Effect.never
      if (result === "conflict") {
        return yield* new KubeError({ reason: new Conflict(), verb: "update", message: "conflict" })
      }
      return result
    }).pipe(
      Effect.timeoutOrElse({
        duration: requestTimeoutMs,
        orElse: () => Effect.fail(new KubeError({ reason: new Unavailable(), verb: "update", message: "timeout" }))
      })
    )
  const view = (raw: Raw) => fromJson(raw)!
  return Layer.succeed(
    LeaseStore,
    LeaseStore.of({
      get: call(() => lease.object === undefined ? undefined : structuredClone(lease.object)).pipe(
        Effect.map((r) => r === undefined ? undefined : view(r))
      ),
      create: (spec, incarnation) => call(() => lease.create(spec, incarnation)).pipe(Effect.map(view)),
      replace: (object) => call(() => lease.replace(object)).pipe(Effect.map(view)),
      // The watch is up from the start; under a partition its events never arrive.
      changes: Stream.unwrap(Effect.map(PubSub.subscribe(lease.changes), (sub) =>
        Stream.concat(
          Stream.succeed<Change<LeaseView>>({ _tag: "Watching", watching: true }),
          Stream.fromSubscription(sub).pipe(
            Stream.mapEffect(({ deleted, raw }) =>
              Effect.gen(function*() {
                yield* Effect.sleep(link.latency())
                if (link.partitioned()) return yield* Effect.never
                return { _tag: deleted ? "Deleted" as const : "Put" as const, object: view(raw) }
              })
            )
          )
        )))
    })
  )
}

export interface ChildRecord {
  readonly replica: string
  readonly startedAt: number
  stoppedAt: number | undefined
}

/**
 * Children that run until their scope closes, then take `stopMs()` to die, or die at their kill deadline if
 * that comes first (unless `survivesKill`: stuck in the kernel), each recorded in `log`.
 */
export const childSupervisorRecording = (
  replica: string,
  log: Array<ChildRecord>,
  stopMs: () => number,
  options: { readonly stopGraceMs?: number; readonly survivesKill?: boolean } = {}
) =>
  Layer.succeed(
    ChildSupervisor,
    ChildSupervisor.of({
      start: () =>
        Effect.gen(function*() {
          const exited = yield* Deferred.make<ChildExit>()
          const deadline = yield* Deferred.make<number>()
          const record = yield* Effect.acquireRelease(
            Clock.currentTimeMillis.pipe(Effect.map((startedAt) => {
              const r: ChildRecord = { replica, startedAt, stoppedAt: undefined }
              log.push(r)
              return r
            })),
            (r) =>
              Effect.gen(function*() {
                const now = Number((yield* Clock.monotonicTimeNanos) / 1_000_000n)
                const set = yield* Deferred.poll(deadline)
                const killAt = Option.isSome(set) ? yield* set.value : now + (options.stopGraceMs ?? Infinity)
                const ms = stopMs()
                yield* Effect.sleep(options.survivesKill === true ? ms : Math.max(0, Math.min(ms, killAt - now)))
                r.stoppedAt = yield* Clock.currentTimeMillis
                yield* Deferred.succeed(exited, { code: 143, signal: "SIGTERM", startError: null })
              })
          )
          return {
            pid: log.length,
            startedAt: record.startedAt,
            started: Effect.succeed(true),
            starting: Effect.succeed(false),
            exit: Deferred.await(exited),
            hasExited: Deferred.isDone(exited),
            stopBy: (killAt) => Effect.asVoid(Deferred.succeed(deadline, killAt))
          } satisfies RunningChild
        })
    })
  )
