/**
 * The state behind the emulator: Leases keyed by namespace/name, one global
 * resourceVersion counter (as etcd's revision), a bounded history for watch
 * resumption, and validation with the API server's exact Status bodies.
 */
import { randomUUID } from "node:crypto"

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
  metadata: {
    name: string
    namespace: string
    uid: string
    resourceVersion: string
    creationTimestamp: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    managedFields?: Array<unknown>
  }
  spec: LeaseSpec
}

export type WatchType = "ADDED" | "MODIFIED" | "DELETED"
export interface Change {
  readonly type: WatchType
  readonly lease: Lease
  readonly rv: number
}

export interface Status {
  kind: "Status"
  apiVersion: "v1"
  metadata: Record<string, never>
  status: "Failure" | "Success"
  message?: string
  reason?: string
  details?: Record<string, unknown>
  code?: number
}

export class ApiError {
  readonly code: number
  readonly status: Status
  constructor(code: number, status: Status) {
    this.code = code
    this.status = status
  }
}

const failure = (code: number, reason: string | undefined, message: string, details?: Record<string, unknown>): ApiError =>
  new ApiError(code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, ...(reason === undefined ? {} : { reason }), ...(details === undefined ? {} : { details }), code })

const leaseDetails = (name?: string) => ({ ...(name === undefined ? {} : { name }), group: "coordination.k8s.io", kind: "leases" })

export const notFound = (name: string) => failure(404, "NotFound", `leases.coordination.k8s.io "${name}" not found`, leaseDetails(name))
export const namespaceNotFound = (ns: string) => failure(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" })
export const conflict = (name: string) =>
  failure(409, "Conflict", `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`, leaseDetails(name))
export const uidConflict = (name: string, want: string, have: string) =>
  failure(409, "Conflict", `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": Precondition failed: UID in precondition: ${want}, UID in object meta: ${have}`, leaseDetails(name))
export const alreadyExists = (name: string) => failure(409, "AlreadyExists", `leases.coordination.k8s.io "${name}" already exists`, leaseDetails(name))
export const badRequest = (message: string) => failure(400, "BadRequest", message)
export const invalid = (name: string, causes: Array<{ field: string; message: string }>) =>
  failure(
    422,
    "Invalid",
    `Lease.coordination.k8s.io "${name}" is invalid: ${causes.length === 1 ? `${causes[0]!.field}: ${causes[0]!.message}` : `[${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}]`}`,
    { name, group: "coordination.k8s.io", kind: "Lease", causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })) }
  )

const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const microTime = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/

/** Parse a MicroTime as Go does with RFC3339Micro, answering the time normalised to UTC. */
const parseMicroTime = (value: unknown, field: string): string | null => {
  if (value === null || value === undefined) return null
  const m = typeof value === "string" ? microTime.exec(value) : null
  if (m === null) {
    throw badRequest(`Lease in version "v1" cannot be handled as a Lease: ${field}: parsing time ${JSON.stringify(String(value))} as "2006-01-02T15:04:05.000000Z07:00": cannot parse ${JSON.stringify(String(value))} as "2006-01-02T15:04:05.000000Z07:00"`)
  }
  const ms = Date.parse(`${m[1]}.${m[2]!.slice(0, 3)}${m[3]}`)
  return `${new Date(ms).toISOString().slice(0, 19)}.${m[2]}Z`
}

export class Store {
  rv = 0
  private leases = new Map<string, Lease>()
  history: Array<Change> = []
  /** Oldest resourceVersion still in history; a watch from before it gets 410. */
  compactedRv = 0
  private listeners = new Set<(c: Change) => void>()

  get(ns: string, name: string): Lease | undefined {
    const l = this.leases.get(`${ns}/${name}`)
    return l === undefined ? undefined : structuredClone(l)
  }

  list(ns: string | undefined): Array<Lease> {
    return [...this.leases.values()].filter((l) => ns === undefined || l.metadata.namespace === ns).map((l) => structuredClone(l))
  }

  subscribe(f: (c: Change) => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  private emit(type: WatchType, lease: Lease) {
    const change = { type, lease: structuredClone(lease), rv: Number(lease.metadata.resourceVersion) }
    this.history.push(change)
    if (this.history.length > 1000) {
      this.history.shift()
      this.compactedRv = this.history[0]!.rv - 1
    }
    for (const f of this.listeners) f(change)
  }

  /** Validate and normalise a spec as the API server does (strategy and preferredHolder dropped: the gate is off). */
  private spec(name: string, raw: unknown): LeaseSpec {
    const spec = (typeof raw === "object" && raw !== null ? { ...(raw as Record<string, unknown>) } : {}) as LeaseSpec
    delete spec["strategy"]
    delete spec["preferredHolder"]
    const causes: Array<{ field: string; message: string }> = []
    const d = spec.leaseDurationSeconds
    if (d !== undefined && d !== null && (typeof d !== "number" || !Number.isInteger(d) || d > 2147483647 || d < -2147483648)) {
      throw badRequest(`Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32`)
    }
    if (typeof d === "number" && d <= 0) causes.push({ field: "spec.leaseDurationSeconds", message: `Invalid value: ${d}: must be greater than 0` })
    const t = spec.leaseTransitions
    if (t !== undefined && t !== null && (typeof t !== "number" || !Number.isInteger(t) || t > 2147483647 || t < -2147483648)) {
      throw badRequest(`Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal into Go struct field LeaseSpec.spec.leaseTransitions of type int32`)
    }
    if (typeof t === "number" && t < 0) causes.push({ field: "spec.leaseTransitions", message: `Invalid value: ${t}: must be greater than or equal to 0` })
    if (causes.length > 0) throw invalid(name, causes)
    spec.acquireTime = parseMicroTime(spec.acquireTime, "spec.acquireTime")
    spec.renewTime = parseMicroTime(spec.renewTime, "spec.renewTime")
    for (const k of Object.keys(spec)) if (spec[k] === null || spec[k] === undefined) delete spec[k]
    return spec
  }

  private managedFields(manager: string) {
    return [{ manager, operation: "Update", apiVersion: "coordination.k8s.io/v1", time: new Date().toISOString().replace(/\.\d+Z$/, "Z"), fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } }]
  }

  create(ns: string, body: Record<string, unknown>, manager: string): Lease {
    const meta = (body["metadata"] ?? {}) as Record<string, unknown>
    const name = String(meta["name"] ?? "")
    if (meta["namespace"] !== undefined && meta["namespace"] !== ns) throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    if (meta["resourceVersion"] !== undefined && meta["resourceVersion"] !== "") {
      throw new ApiError(500, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "resourceVersion should not be set on objects to be created", code: 500 })
    }
    if (!dnsSubdomain.test(name)) {
      throw invalid(name, [{ field: "metadata.name", message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }])
    }
    if (this.leases.has(`${ns}/${name}`)) throw alreadyExists(name)
    const spec = this.spec(name, body["spec"])
    const lease: Lease = {
      kind: "Lease",
      apiVersion: "coordination.k8s.io/v1",
      metadata: {
        name,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        ...(meta["labels"] === undefined ? {} : { labels: meta["labels"] as Record<string, string> }),
        ...(meta["annotations"] === undefined ? {} : { annotations: meta["annotations"] as Record<string, string> }),
        managedFields: this.managedFields(manager)
      },
      spec
    }
    this.leases.set(`${ns}/${name}`, lease)
    this.emit("ADDED", lease)
    return structuredClone(lease)
  }

  /** PUT: conditional on resourceVersion (and uid if given); creates when missing (AllowCreateOnUpdate). */
  update(ns: string, name: string, body: Record<string, unknown>, manager: string): { lease: Lease; created: boolean } {
    const meta = (body["metadata"] ?? {}) as Record<string, unknown>
    if (meta["name"] !== undefined && meta["name"] !== name) {
      throw badRequest(`the name of the object (${String(meta["name"])}) does not match the name on the URL (${name})`)
    }
    const current = this.leases.get(`${ns}/${name}`)
    if (current === undefined) {
      if (typeof meta["uid"] === "string" && meta["uid"] !== "") throw uidConflict(name, meta["uid"], "")
      const { resourceVersion: _rv, ...rest } = meta
      return { lease: this.create(ns, { ...body, metadata: { ...rest, name } }, manager), created: true }
    }
    const rv = meta["resourceVersion"]
    if (rv === undefined || rv === "" || rv === "0") {
      throw invalid(name, [{ field: "metadata.resourceVersion", message: "Invalid value: 0: must be specified for an update" }])
    }
    if (typeof meta["uid"] === "string" && meta["uid"] !== "" && meta["uid"] !== current.metadata.uid) throw uidConflict(name, meta["uid"], current.metadata.uid)
    if (rv !== current.metadata.resourceVersion) throw conflict(name)
    const spec = this.spec(name, body["spec"])
    const next: Lease = {
      ...current,
      metadata: {
        ...current.metadata,
        resourceVersion: String(++this.rv),
        ...(meta["labels"] === undefined ? {} : { labels: meta["labels"] as Record<string, string> }),
        ...(meta["annotations"] === undefined ? {} : { annotations: meta["annotations"] as Record<string, string> }),
        managedFields: this.managedFields(manager)
      },
      spec
    }
    this.leases.set(`${ns}/${name}`, next)
    this.emit("MODIFIED", next)
    return { lease: structuredClone(next), created: false }
  }

  delete(ns: string, name: string): Lease {
    const current = this.leases.get(`${ns}/${name}`)
    if (current === undefined) throw notFound(name)
    this.leases.delete(`${ns}/${name}`)
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.rv) } }
    this.emit("DELETED", gone)
    return structuredClone(gone)
  }

  /** Forget all leases (an etcd restore); the resourceVersion counter keeps growing. */
  clear() {
    this.leases.clear()
    this.history = []
    this.compactedRv = this.rv
  }

  compact() {
    this.history = []
    this.compactedRv = this.rv
  }
}
