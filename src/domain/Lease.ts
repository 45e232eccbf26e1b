/**
 * The Lease as this elector sees it, and the arithmetic on it. Pure.
 *
 * Other writers may leave anything in a Lease (missing fields, nulls, odd time
 * formats, huge numbers), so decoding is lenient and falls back to the
 * conservative reading: an unreadable duration counts as our own.
 */
import { Schema } from "effect"

/** Only what identifies the object is required; the spec is read field by field, leniently. */
const LeaseWire = Schema.Struct({
  metadata: Schema.Struct({
    resourceVersion: Schema.String,
    uid: Schema.optional(Schema.String)
  }),
  spec: Schema.optional(Schema.Unknown)
})

/** The holder we report for a spec that is not an object: held by someone we cannot name, so never "free". */
export const unreadableHolder = "<unreadable spec>"

export interface LeaseView {
  readonly resourceVersion: string
  readonly uid: string | undefined
  /** "" when free. */
  readonly holder: string
  /** The record's duration in ms, or undefined when missing or nonsensical. */
  readonly durationMs: number | undefined
  readonly transitions: number
  /** The object as the server sent it, so a write can carry every field we do not manage. */
  readonly raw: Readonly<Record<string, unknown>>
}

const decodeWire = Schema.decodeUnknownOption(LeaseWire)

/** Read a Lease object from the API. Undefined when it is not a Lease at all. */
export const fromJson = (json: unknown): LeaseView | undefined => {
  const wire = decodeWire(json)
  if (wire._tag === "None") return undefined
  const { metadata } = wire.value
  const rawSpec = wire.value.spec
  if (rawSpec !== undefined && rawSpec !== null && (typeof rawSpec !== "object" || Array.isArray(rawSpec))) {
    return {
      resourceVersion: metadata.resourceVersion,
      uid: metadata.uid,
      holder: unreadableHolder,
      durationMs: undefined,
      transitions: 0,
      raw: json as Record<string, unknown>
    }
  }
  const spec = rawSpec as
    | { holderIdentity?: unknown; leaseDurationSeconds?: unknown; leaseTransitions?: unknown }
    | null
    | undefined
  const holder = typeof spec?.holderIdentity === "string" ? spec.holderIdentity : ""
  const d = spec?.leaseDurationSeconds
  const durationMs = typeof d === "number" && Number.isInteger(d) && d > 0 && d <= 2_147_483_647 ? d * 1000 : undefined
  const t = spec?.leaseTransitions
  const transitions = typeof t === "number" && Number.isInteger(t) && t >= 0 && t < 2_147_483_647 ? t : 0
  return {
    resourceVersion: metadata.resourceVersion,
    uid: metadata.uid,
    holder,
    durationMs,
    transitions,
    raw: json as Record<string, unknown>
  }
}

/** Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits. */
export const microTime = (epochMs: number): string => {
  const iso = new Date(epochMs).toISOString() // 2026-01-01T00:00:00.123Z
  return `${iso.slice(0, 23)}000Z`
}

export interface SpecFields {
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number
  readonly acquireTime: string
  readonly renewTime: string
  readonly leaseTransitions: number
}

/** The next object to PUT: the one we read, with our spec fields written over it (as client-go's LeaseLock does). */
export const withSpec = (base: LeaseView, spec: SpecFields): Record<string, unknown> => {
  const raw = base.raw as { metadata?: Record<string, unknown>; spec?: unknown }
  const { managedFields: _managedFields, ...metadata } = raw.metadata ?? {}
  const kept = typeof raw.spec === "object" && raw.spec !== null && !Array.isArray(raw.spec) ? raw.spec : {}
  return { ...raw, apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata, spec: { ...kept, ...spec } }
}

export const isFree = (lease: LeaseView): boolean => lease.holder === ""

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

/** A new reading folded into what we knew: the clock restarts only when the record changed. */
export const observe = (prev: Observation | undefined, lease: LeaseView | undefined, now: number): Observation => {
  if (prev !== undefined && sameVersion(prev.lease, lease)) return { ...prev, lease }
  return {
    lease,
    observedAt: now,
    lastHolder: lease !== undefined ? lease.holder : prev?.lastHolder ?? "",
    lastDurationMs: lease !== undefined ? lease.durationMs : prev?.lastDurationMs
  }
}

const sameVersion = (a: LeaseView | undefined, b: LeaseView | undefined) =>
  a === undefined || b === undefined ? a === b : a.resourceVersion === b.resourceVersion && a.uid === b.uid

/**
 * Local time at which the observed holder's right lapses, or `now`-or-earlier when
 * the lease may be taken. Judged only by local observation (never renewTime against
 * our clock); an unreadable duration counts as `ownDurationMs`.
 */
export const takeableAt = (obs: Observation, ownDurationMs: number): number => {
  const holder = obs.lease !== undefined ? obs.lease.holder : obs.lastHolder
  if (holder === "") return Number.NEGATIVE_INFINITY
  return obs.observedAt + ((obs.lease !== undefined ? obs.lease.durationMs : obs.lastDurationMs) ?? ownDurationMs)
}
