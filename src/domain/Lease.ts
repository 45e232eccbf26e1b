/**
 * The Lease as this elector sees it, the arithmetic on it, and the spec each
 * write sends. Pure. Decoding is lenient (see Wire.ts) and falls back to the
 * conservative reading: an unreadable duration counts as our own.
 */
import { decodeLease, unreadableHolder } from "./Wire.ts"

export { unreadableHolder }

/**
 * Annotation naming the process, not just the identity, that acquired the lease. Two
 * incarnations can share one identity (a StatefulSet pod force-deleted on a partitioned
 * node comes back under the same name), so "our identity is the holder" is not enough
 * to release or adopt a lease: only a lease carrying our own incarnation is ours.
 */
export const incarnationAnnotation = "just-one-init/incarnation"

/**
 * Handover on demand: whom the holder should step down for, as `spec.preferredHolder` says it where the API
 * server keeps that field (Kubernetes 1.31+ with the CoordinatedLeaderElection gate, and only beside a
 * `spec.strategy`) and as this annotation says it everywhere (servers without the gate drop the field
 * silently). `anyone` asks the holder to step down for whoever comes first.
 */
export const preferredHolderAnnotation = "just-one-init/preferred-holder"
export const anyone = "*"

export interface LeaseView {
  readonly resourceVersion: string
  readonly uid: string | undefined
  /** "" when free. */
  readonly holder: string
  /** The record's duration in ms, or undefined when missing or nonsensical. */
  readonly durationMs: number | undefined
  readonly transitions: number
  readonly acquireTime: string | undefined
  readonly renewTime: string | undefined
  readonly incarnation: string | undefined
  /** Whom the holder should hand over to (`anyone`: whoever comes first); undefined when nobody is preferred. */
  readonly preferredHolder: string | undefined
  /** The object as the server sent it, so a write can carry every field we do not manage. */
  readonly raw: Readonly<Record<string, unknown>>
}

/** Read a Lease object from the API. Undefined when it is not a Lease at all. */
export const fromJson = (json: unknown): LeaseView | undefined => {
  const wire = decodeLease(json)
  if (wire._tag === "None") return undefined
  const { metadata, spec } = wire.value
  const d = spec?.leaseDurationSeconds
  return {
    resourceVersion: metadata.resourceVersion,
    uid: metadata.uid,
    holder: spec?.holderIdentity ?? "",
    durationMs: d === undefined ? undefined : d * 1000,
    transitions: spec?.leaseTransitions ?? 0,
    acquireTime: spec?.acquireTime,
    renewTime: spec?.renewTime,
    incarnation: metadata.annotations?.[incarnationAnnotation],
    preferredHolder: nonEmpty(spec?.preferredHolder) ?? nonEmpty(metadata.annotations?.[preferredHolderAnnotation]),
    raw: json as Record<string, unknown>
  }
}

const nonEmpty = (s: string | undefined) => (s === undefined || s === "" ? undefined : s)

export const isFree = (lease: LeaseView): boolean => lease.holder === ""

/** The lease asks its holder `identity` to hand over to someone else. */
export const handsOver = (lease: LeaseView | undefined, identity: string): boolean =>
  lease?.preferredHolder !== undefined && lease.preferredHolder !== identity

/** Held by this very process: our identity and our incarnation (never only the identity). */
export const isOurs = (lease: LeaseView | undefined, self: { identity: string; incarnation: string }): boolean =>
  lease !== undefined && lease.holder === self.identity && lease.incarnation === self.incarnation

/** Kubernetes MicroTime from epoch microseconds: RFC 3339 in UTC with exactly six fractional digits. */
export const formatMicros = (micros: number): string => {
  const ms = Math.floor(micros / 1000)
  return `${new Date(ms).toISOString().slice(0, 19)}.${
    String(micros - Math.floor(ms / 1000) * 1_000_000).padStart(6, "0")
  }Z`
}

export const microTime = (epochMs: number): string => formatMicros(epochMs * 1000)

/** Epoch microseconds of an RFC 3339 time with 0 to 9 fractional digits and any offset; undefined if unreadable. */
export const parseMicros = (text: string | undefined): number | undefined => {
  const m = text === undefined
    ? null
    : /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text)
  if (m === null) return undefined
  const seconds = Date.parse(`${m[1]}${m[3]}`)
  return Number.isNaN(seconds) ? undefined : seconds * 1000 + Number((m[2] ?? "").padEnd(6, "0").slice(0, 6))
}

export interface SpecFields {
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number
  readonly acquireTime: string
  readonly renewTime: string
  readonly leaseTransitions: number
}

/** Who writes: the identity, this process's incarnation, and the duration it claims. */
export interface Writer {
  readonly identity: string
  readonly incarnation: string
  readonly durationSeconds: number
}

/**
 * An acquire: ours from now. Every acquisition counts one more transition, even by our own identity (client-go
 * counts only a change of holder): the count is the child's fencing token, which must be greater than every
 * earlier leader's of this Lease object, a crashed incarnation of this very pod's included.
 */
export const acquireSpec = (base: LeaseView | undefined, w: Writer, nowMs: number): SpecFields => ({
  holderIdentity: w.identity,
  leaseDurationSeconds: w.durationSeconds,
  acquireTime: microTime(nowMs),
  renewTime: microTime(nowMs),
  leaseTransitions: base === undefined ? 0 : base.transitions + 1
})

/**
 * A renew keeps acquireTime and the transitions, and writes a renewTime strictly later than
 * the stored one: were the wall clock stepped back or frozen, an identical object would be a
 * write the API server drops (same resourceVersion, no change for followers to observe).
 */
export const renewSpec = (base: LeaseView, w: Writer, nowMs: number): SpecFields => {
  const previous = parseMicros(base.renewTime)
  return {
    holderIdentity: w.identity,
    leaseDurationSeconds: w.durationSeconds,
    acquireTime: base.acquireTime ?? microTime(nowMs),
    renewTime: formatMicros(previous === undefined ? nowMs * 1000 : Math.max(nowMs * 1000, previous + 1)),
    leaseTransitions: base.transitions
  }
}

/** A release, as client-go writes it: no holder, a one-second duration, the transitions kept. */
export const releaseSpec = (base: LeaseView, nowMs: number): SpecFields => ({
  holderIdentity: "",
  leaseDurationSeconds: 1,
  acquireTime: microTime(nowMs),
  renewTime: microTime(nowMs),
  leaseTransitions: base.transitions
})

/**
 * The object to PUT: the one we read with our spec fields written over it (as client-go's
 * LeaseLock does), managedFields dropped, and our incarnation annotated when we claim it. A claim (an
 * acquire or a renew) also clears the preferred holder: a handover asked for is done once the lease is
 * taken, and a holder never renews on a lease that asks it to hand over (it steps down instead).
 */
export const withSpec = (base: LeaseView, spec: SpecFields, incarnation?: string): Record<string, unknown> => {
  const raw = base.raw as { metadata?: Record<string, unknown>; spec?: unknown }
  const { managedFields: _managedFields, ...metadata } = raw.metadata ?? {}
  const all = asRecord(raw.spec)
  const { preferredHolder: _preferred, ...others } = all
  const kept = incarnation === undefined ? all : others
  const { [preferredHolderAnnotation]: _asked, ...otherAnnotations } = asRecord(metadata["annotations"])
  const annotations = incarnation === undefined
    ? metadata["annotations"]
    : { ...otherAnnotations, [incarnationAnnotation]: incarnation }
  return {
    ...raw,
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: annotations === undefined ? metadata : { ...metadata, annotations },
    spec: { ...kept, ...spec }
  }
}

/** The strategy written beside a preferred holder: Kubernetes refuses one without a strategy. */
export const handoverStrategy = "just-one-init/handover"

/**
 * `just-one-init handover`: the lease as it was read, asking its holder to hand over to `to` (anyone when
 * undefined). The annotation says it on every server; spec.preferredHolder where the server keeps it (the
 * CoordinatedLeaderElection gate), beside a strategy as it requires (an existing one is kept).
 */
export const handoverRequest = (base: LeaseView, to: string | undefined): Record<string, unknown> => {
  const raw = base.raw as { metadata?: Record<string, unknown>; spec?: unknown }
  const { managedFields: _managedFields, ...metadata } = raw.metadata ?? {}
  const spec = asRecord(raw.spec)
  return {
    ...raw,
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      ...metadata,
      annotations: { ...asRecord(metadata["annotations"]), [preferredHolderAnnotation]: to ?? anyone }
    },
    spec: to === undefined
      ? spec
      : {
        ...spec,
        strategy: typeof spec["strategy"] === "string" ? spec["strategy"] : handoverStrategy,
        preferredHolder: to
      }
  }
}

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}

/** What one replica knows of the lease: the object and the local time it last saw it change. */
export interface Observation {
  /** undefined = the lease does not exist. */
  readonly lease: LeaseView | undefined
  /** Local monotonic ms at which this replica saw this version first. */
  readonly observedAt: number
  /** The holder this replica last saw, kept when the lease disappears, so a deleted lease still waits out its holder. */
  readonly lastHolder: string
  readonly lastDurationMs: number | undefined
}

/** The holder of a lease found absent by a replica that may have missed who held it. */
export const unknownHolder = "<unknown holder>"

/**
 * A new reading folded into what we knew: the clock restarts only when the record changed.
 * A lease found absent may have been held a moment ago (deleted by hand, or an API server that lost its
 * state) by a leader that has not noticed yet, so it is waited out like a held one, from now: held by the
 * holder last seen, or, when that was nobody, by an unknown one for our own lease duration (a read and the
 * watch are not ordered with each other, so a lease seen free may have been taken since, unseen).
 * `blind`: this replica may have missed changes since `prev` (it never read the lease, its reads
 * failed, or its watch was down), so a lease absent before and after is timed again from now, as it may
 * have been created and lost again meanwhile.
 */
export const observe = (
  prev: Observation | undefined,
  lease: LeaseView | undefined,
  now: number,
  blind = false
): Observation => {
  if (prev !== undefined && sameVersion(prev.lease, lease) && !(blind && lease === undefined)) return { ...prev, lease }
  if (lease !== undefined) return { lease, observedAt: now, lastHolder: lease.holder, lastDurationMs: lease.durationMs }
  const known = prev !== undefined && prev.lastHolder !== "" && prev.lastHolder !== unknownHolder
  return {
    lease,
    observedAt: now,
    lastHolder: known ? prev.lastHolder : unknownHolder,
    lastDurationMs: known ? prev.lastDurationMs : undefined
  }
}

export const sameVersion = (a: LeaseView | undefined, b: LeaseView | undefined) =>
  a === undefined || b === undefined ? a === b : a.resourceVersion === b.resourceVersion && a.uid === b.uid

/**
 * Local time at which the observed holder's right lapses, or `now`-or-earlier when
 * the lease may be taken. Judged only by local observation (never renewTime against
 * our clock) [rule 6, docs/safety.md]; an unreadable duration counts as `ownDurationMs`.
 */
export const takeableAt = (obs: Observation, ownDurationMs: number, identity?: string): number => {
  const holder = obs.lease !== undefined ? obs.lease.holder : obs.lastHolder
  // A lease that names another preferred holder is left to it for one lease duration more; then anyone may.
  const preferred = obs.lease?.preferredHolder
  const holdBack = identity !== undefined && preferred !== undefined && preferred !== anyone && preferred !== identity
  const heldUntil = holder === ""
    ? Number.NEGATIVE_INFINITY
    : obs.observedAt + ((obs.lease !== undefined ? obs.lease.durationMs : obs.lastDurationMs) ?? ownDurationMs)
  return holdBack ? Math.max(heldUntil, obs.observedAt) + ownDurationMs : heldUntil
}
