/**
 * coordination.k8s.io/v1 Lease decoding as the API server does it: MicroTime
 * parsed and normalised to UTC with 6 digits, int32 checks, the validation
 * messages, unknown and gated fields dropped, and strict field validation.
 */
import type { Cause } from "./status.ts"
import { badRequest, invalidFor } from "./status.ts"
import type { ObjectMeta } from "./types.ts"
import { isRecord } from "./util.ts"

export interface LeaseSpec {
  holderIdentity?: string | null
  leaseDurationSeconds?: number | null
  acquireTime?: string | null
  renewTime?: string | null
  leaseTransitions?: number | null
  [key: string]: unknown
}

export interface Lease {
  kind: "Lease"
  apiVersion: "coordination.k8s.io/v1"
  metadata: ObjectMeta & { namespace: string; uid: string; resourceVersion: string; creationTimestamp: string }
  spec: LeaseSpec
}

const microTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/
const goMicro = "2006-01-02T15:04:05.000000Z07:00"

const decodeError = (detail: string, kind = "Lease") =>
  badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: ${detail}`)

/** Parse a MicroTime as Go does with RFC3339Micro, answering the time normalised to UTC with 6 digits. */
export const parseMicroTime = (value: unknown, kind = "Lease", field = "LeaseSpec.spec.renewTime"): string | null => {
  if (value === null || value === undefined) return null
  if (typeof value !== "string") {
    throw decodeError(`json: cannot unmarshal ${typeof value} into Go struct field ${field} of type string`, kind)
  }
  const m = microTime.exec(value)
  const ms = m === null
    ? NaN
    : Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]!.slice(0, 3)}${m[8]}`)
  if (m === null || Number.isNaN(ms)) {
    // Go's time.Parse error names the first layout element that failed and the rest of the value.
    let rest = value
    let elem = goMicro
    const head = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.exec(value)
    if (head !== null) {
      rest = value.slice(head[0].length)
      elem = ".000000"
      const frac = /^\.\d{6}/.exec(rest)
      if (frac !== null) {
        rest = rest.slice(7)
        elem = "Z07:00"
      }
    }
    throw decodeError(
      `parsing time ${JSON.stringify(value)} as "${goMicro}": cannot parse ${JSON.stringify(rest)} as "${elem}"`,
      kind
    )
  }
  return `${new Date(ms).toISOString().slice(0, 19)}.${m[7]}Z`
}

const int32 = (v: unknown, field: string): number | null => {
  if (v === null || v === undefined) return null
  if (typeof v !== "number" || !Number.isInteger(v) || v > 2147483647 || v < -2147483648) {
    throw decodeError(
      `json: cannot unmarshal ${
        typeof v === "number" ? `number ${v}` : typeof v
      } into Go struct field LeaseSpec.spec.${field} of type int32`
    )
  }
  return v
}

const knownSpec = new Set([
  "holderIdentity",
  "leaseDurationSeconds",
  "acquireTime",
  "renewTime",
  "leaseTransitions",
  "strategy",
  "preferredHolder"
])

/** fieldValidation=Strict below the top level: unknown spec fields. */
export const strictLease = (body: Record<string, unknown>): Array<string> =>
  isRecord(body["spec"]) ? Object.keys(body["spec"]).filter((k) => !knownSpec.has(k)).map((k) => `spec.${k}`) : []

/**
 * Decode, validate and normalise a spec as the API server does: unknown fields dropped; strategy and
 * preferredHolder dropped while the CoordinatedLeaderElection gate is off, validated when it is on.
 */
export const decodeLeaseSpec = (name: string, raw: unknown, coordinated = false): LeaseSpec => {
  if (raw !== undefined && raw !== null && !isRecord(raw)) {
    throw decodeError(
      `json: cannot unmarshal ${
        Array.isArray(raw) ? "array" : typeof raw
      } into Go struct field Lease.spec of type v1.LeaseSpec`
    )
  }
  const r = raw ?? {}
  const h = r["holderIdentity"]
  if (h !== undefined && h !== null && typeof h !== "string") {
    throw decodeError(
      `json: cannot unmarshal ${typeof h} into Go struct field LeaseSpec.spec.holderIdentity of type string`
    )
  }
  const d = int32(r["leaseDurationSeconds"], "leaseDurationSeconds")
  const t = int32(r["leaseTransitions"], "leaseTransitions")
  const acquireTime = parseMicroTime(r["acquireTime"])
  const renewTime = parseMicroTime(r["renewTime"])
  const causes: Array<Cause> = []
  if (d !== null && d <= 0) {
    causes.push({ field: "spec.leaseDurationSeconds", message: `Invalid value: ${d}: must be greater than 0` })
  }
  if (t !== null && t < 0) {
    causes.push({ field: "spec.leaseTransitions", message: `Invalid value: ${t}: must be greater than or equal to 0` })
  }
  const strategy = coordinated ? stringField(r, "strategy") : undefined
  const preferredHolder = coordinated ? stringField(r, "preferredHolder") : undefined
  // pkg/apis/coordination/validation: a known strategy or a qualified name; a preferred holder only beside one.
  if (strategy !== undefined && strategy !== "" && strategy !== "OldestEmulationVersion" && !qualified.test(strategy)) {
    causes.push({
      field: "spec.strategy",
      reason: "FieldValueNotSupported",
      message: `Unsupported value: "${strategy}": supported values: "OldestEmulationVersion"`
    })
  }
  if (preferredHolder !== undefined && preferredHolder !== "" && (strategy === undefined || strategy === "")) {
    causes.push({
      field: "spec.preferredHolder",
      reason: "FieldValueForbidden",
      message: "Forbidden: may only be specified if `strategy` is defined"
    })
  }
  if (causes.length > 0) throw invalidFor("Lease", "coordination.k8s.io", name, causes)
  const spec: LeaseSpec = {}
  if (typeof h === "string") spec.holderIdentity = h
  if (d !== null) spec.leaseDurationSeconds = d
  if (acquireTime !== null) spec.acquireTime = acquireTime
  if (renewTime !== null) spec.renewTime = renewTime
  if (t !== null) spec.leaseTransitions = t
  if (strategy !== undefined && strategy !== "") spec.strategy = strategy
  if (preferredHolder !== undefined && preferredHolder !== "") spec.preferredHolder = preferredHolder
  return spec
}

/** A qualified name as Kubernetes checks it: a DNS subdomain prefix, a slash, a name. */
const qualified = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

const stringField = (r: Record<string, unknown>, field: string): string | undefined => {
  const v = r[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== "string") {
    throw decodeError(`json: cannot unmarshal ${typeof v} into Go struct field LeaseSpec.spec.${field} of type string`)
  }
  return v
}
