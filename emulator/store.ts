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

export interface ManagedFieldsEntry {
  manager: string
  operation: "Update" | "Apply"
  apiVersion: "coordination.k8s.io/v1"
  time: string
  fieldsType: "FieldsV1"
  fieldsV1: Record<string, unknown>
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
    managedFields?: Array<ManagedFieldsEntry>
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

export class ApiError extends Error {
  readonly code: number
  readonly status: Status
  constructor(code: number, status: Status) {
    super(status.message ?? `HTTP ${code}`)
    this.code = code
    this.status = status
  }
}

export const statusBody = (
  code: number,
  reason: string | undefined,
  message: string,
  details?: Record<string, unknown>
): Status => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  ...(reason === undefined ? {} : { reason }),
  ...(details === undefined ? {} : { details }),
  code
})

export const failure = (
  code: number,
  reason: string | undefined,
  message: string,
  details?: Record<string, unknown>
): ApiError => new ApiError(code, statusBody(code, reason, message, details))

export const leaseDetails = (name?: string) => ({
  ...(name === undefined || name === "" ? {} : { name }),
  group: "coordination.k8s.io",
  kind: "leases"
})

export const notFound = (name: string) =>
  failure(404, "NotFound", `leases.coordination.k8s.io "${name}" not found`, leaseDetails(name))
export const namespaceNotFound = (ns: string) =>
  failure(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" })
export const conflict = (name: string) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    leaseDetails(name)
  )
export const preconditionConflict = (name: string, what: "UID" | "ResourceVersion", want: string, have: string) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": Precondition failed: ${what} in precondition: ${want}, ${what} in object meta: ${have}`,
    leaseDetails(name)
  )
export const alreadyExists = (name: string) =>
  failure(409, "AlreadyExists", `leases.coordination.k8s.io "${name}" already exists`, leaseDetails(name))
export const badRequest = (message: string) => failure(400, "BadRequest", message)
export const gone = (message: string) => failure(410, "Expired", message)

export interface Cause {
  readonly field: string
  readonly message: string
  readonly reason?: string
}

export const invalidFor = (kind: string, group: string, name: string, causes: ReadonlyArray<Cause>) =>
  failure(
    422,
    "Invalid",
    `${kind}.${group} "${name}" is invalid: ${
      causes.length === 1
        ? `${causes[0]!.field}: ${causes[0]!.message}`
        : `[${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}]`
    }`,
    {
      ...(name === "" ? {} : { name }),
      group,
      kind,
      causes: causes.map((c) => ({ reason: c.reason ?? "FieldValueInvalid", message: c.message, field: c.field }))
    }
  )
export const invalid = (name: string, causes: ReadonlyArray<Cause>) =>
  invalidFor("Lease", "coordination.k8s.io", name, causes)

const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const microTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/
const goMicro = "2006-01-02T15:04:05.000000Z07:00"

const decodeError = (detail: string) => badRequest(`Lease in version "v1" cannot be handled as a Lease: ${detail}`)

/** Seconds-precision RFC 3339 in UTC, as metav1.Time is written. */
export const nowSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

/** Parse a MicroTime as Go does with RFC3339Micro, answering the time normalised to UTC with 6 digits. */
export const parseMicroTime = (value: unknown): string | null => {
  if (value === null || value === undefined) return null
  if (typeof value !== "string") {
    throw decodeError(
      `json: cannot unmarshal ${typeof value} into Go struct field LeaseSpec.spec.renewTime of type string`
    )
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
      `parsing time ${JSON.stringify(value)} as "${goMicro}": cannot parse ${JSON.stringify(rest)} as "${elem}"`
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
const knownMeta = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields"
])
const knownTop = new Set(["kind", "apiVersion", "metadata", "spec"])

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** fieldValidation=Strict: unknown fields are a 400, as the real strict decoder answers. */
export const strictCheck = (body: Record<string, unknown>) => {
  const unknown: Array<string> = []
  for (const k of Object.keys(body)) if (!knownTop.has(k)) unknown.push(k)
  if (isRecord(body["metadata"])) {
    for (const k of Object.keys(body["metadata"])) if (!knownMeta.has(k)) unknown.push(`metadata.${k}`)
  }
  if (isRecord(body["spec"])) {
    for (const k of Object.keys(body["spec"])) if (!knownSpec.has(k)) unknown.push(`spec.${k}`)
  }
  if (unknown.length > 0) {
    throw badRequest(`strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(", ")}`)
  }
}

const stringMap = (v: unknown, field: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== "string")) {
    throw decodeError(
      `json: cannot unmarshal into Go struct field ObjectMeta.metadata.${field} of type map[string]string`
    )
  }
  return Object.keys(v).length === 0 ? undefined : { ...(v as Record<string, string>) }
}

/** Decode, validate and normalise a spec as the API server does (strategy and preferredHolder dropped: the gate is off; unknown fields dropped). */
export const decodeSpec = (name: string, raw: unknown): LeaseSpec => {
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
  if (causes.length > 0) throw invalid(name, causes)
  const spec: LeaseSpec = {}
  if (typeof h === "string") spec.holderIdentity = h
  if (d !== null) spec.leaseDurationSeconds = d
  if (acquireTime !== null) spec.acquireTime = acquireTime
  if (renewTime !== null) spec.renewTime = renewTime
  if (t !== null) spec.leaseTransitions = t
  return spec
}

/** The fieldsV1 set a write touches: labels, annotations and spec fields. */
const fieldsOf = (l: Lease): Record<string, unknown> => {
  const f: Record<string, unknown> = {}
  const meta: Record<string, unknown> = {}
  for (const k of ["labels", "annotations"] as const) {
    const m = l.metadata[k]
    if (m !== undefined) meta[`f:${k}`] = Object.fromEntries(Object.keys(m).map((x) => [`f:${x}`, {}]))
  }
  if (Object.keys(meta).length > 0) f["f:metadata"] = meta
  if (Object.keys(l.spec).length > 0) f["f:spec"] = Object.fromEntries(Object.keys(l.spec).map((x) => [`f:${x}`, {}]))
  return f
}

const withManagedFields = (
  l: Lease,
  previous: ReadonlyArray<ManagedFieldsEntry>,
  manager: string,
  operation: "Update" | "Apply"
): Lease => {
  const entry: ManagedFieldsEntry = {
    manager,
    operation,
    apiVersion: "coordination.k8s.io/v1",
    time: nowSeconds(),
    fieldsType: "FieldsV1",
    fieldsV1: fieldsOf(l)
  }
  const rest = previous.filter((e) => !(e.manager === manager && e.operation === operation))
  return { ...l, metadata: { ...l.metadata, managedFields: [...rest, entry] } }
}

export interface WriteOptions {
  readonly manager: string
  readonly operation?: "Update" | "Apply"
  readonly dryRun?: boolean
}

export class Store {
  rv = 0
  private leases = new Map<string, Lease>()
  history: Array<Change> = []
  /** A watch may resume from any RV >= compactedRv; older ones get 410. */
  compactedRv = 0
  private listeners = new Set<(c: Change) => void>()
  private readonly historyLimit: number

  constructor(historyLimit = 10_000) {
    this.historyLimit = historyLimit
  }

  get(ns: string, name: string): Lease | undefined {
    const l = this.leases.get(`${ns}/${name}`)
    return l === undefined ? undefined : structuredClone(l)
  }

  list(ns: string | undefined): Array<Lease> {
    return [...this.leases.values()]
      .filter((l) => ns === undefined || l.metadata.namespace === ns)
      .sort((
        a,
        b
      ) => (a.metadata.namespace + "/" + a.metadata.name < b.metadata.namespace + "/" + b.metadata.name ? -1 : 1))
      .map((l) => structuredClone(l))
  }

  subscribe(f: (c: Change) => void): () => void {
    this.listeners.add(f)
    return () => void this.listeners.delete(f)
  }

  private emit(type: WatchType, lease: Lease) {
    const change: Change = { type, lease: structuredClone(lease), rv: Number(lease.metadata.resourceVersion) }
    this.history.push(change)
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit)
      this.compactedRv = dropped[dropped.length - 1]!.rv
    }
    for (const f of [...this.listeners]) {
      try {
        f(change)
      } catch {
        // a listener's failure is not the store's
      }
    }
  }

  create(ns: string, body: Record<string, unknown>, o: WriteOptions): Lease {
    const meta = isRecord(body["metadata"]) ? body["metadata"] : {}
    if (body["kind"] !== undefined && body["kind"] !== "Lease") {
      throw badRequest(
        `Lease in version "v1" cannot be handled as a ${
          String(body["kind"])
        }: the object provided is unrecognized (must be of type Lease)`
      )
    }
    if (typeof meta["namespace"] === "string" && meta["namespace"] !== "" && meta["namespace"] !== ns) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    if (meta["resourceVersion"] !== undefined && meta["resourceVersion"] !== "" && meta["resourceVersion"] !== null) {
      throw failure(500, undefined, "resourceVersion should not be set on objects to be created")
    }
    let name = typeof meta["name"] === "string" ? meta["name"] : ""
    if (name === "" && typeof meta["generateName"] === "string" && meta["generateName"] !== "") {
      name = meta["generateName"] + randomUUID().slice(0, 5)
    }
    const labels = stringMap(meta["labels"], "labels")
    const annotations = stringMap(meta["annotations"], "annotations")
    const spec = decodeSpec(name, body["spec"])
    if (name === "") {
      throw invalid("", [{
        field: "metadata.name",
        message: "Required value: name or generateName is required",
        reason: "FieldValueRequired"
      }])
    }
    if (!dnsSubdomain.test(name)) {
      throw invalid(name, [{
        field: "metadata.name",
        message: `Invalid value: ${
          JSON.stringify(name)
        }: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
      }])
    }
    if (this.leases.has(`${ns}/${name}`)) throw alreadyExists(name)
    const draft: Lease = {
      kind: "Lease",
      apiVersion: "coordination.k8s.io/v1",
      metadata: {
        name,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(this.rv + 1),
        creationTimestamp: nowSeconds(),
        ...(labels === undefined ? {} : { labels }),
        ...(annotations === undefined ? {} : { annotations })
      },
      spec
    }
    const lease = withManagedFields(draft, [], o.manager, o.operation ?? "Update")
    if (o.dryRun) return { ...lease, metadata: { ...lease.metadata, resourceVersion: String(this.rv) } }
    this.rv++
    this.leases.set(`${ns}/${name}`, lease)
    this.emit("ADDED", lease)
    return structuredClone(lease)
  }

  /** PUT: conditional on resourceVersion (and uid if given); creates when missing (AllowCreateOnUpdate). */
  update(ns: string, name: string, body: Record<string, unknown>, o: WriteOptions): { lease: Lease; created: boolean } {
    const meta = isRecord(body["metadata"]) ? body["metadata"] : {}
    if (body["kind"] !== undefined && body["kind"] !== "Lease") {
      throw badRequest(
        `Lease in version "v1" cannot be handled as a ${
          String(body["kind"])
        }: the object provided is unrecognized (must be of type Lease)`
      )
    }
    if (meta["name"] !== undefined && meta["name"] !== name) {
      throw badRequest(`the name of the object (${String(meta["name"])}) does not match the name on the URL (${name})`)
    }
    if (typeof meta["namespace"] === "string" && meta["namespace"] !== "" && meta["namespace"] !== ns) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    const uid = typeof meta["uid"] === "string" && meta["uid"] !== "" ? meta["uid"] : undefined
    const current = this.leases.get(`${ns}/${name}`)
    if (current === undefined) {
      if (uid !== undefined) throw preconditionConflict(name, "UID", uid, "")
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, managedFields: _mf, ...rest } = meta
      return { lease: this.create(ns, { ...body, metadata: { ...rest, name } }, o), created: true }
    }
    const rv = meta["resourceVersion"]
    if (rv === undefined || rv === null || rv === "" || rv === "0") {
      throw invalid(name, [{
        field: "metadata.resourceVersion",
        message: "Invalid value: 0: must be specified for an update"
      }])
    }
    const labels = stringMap(meta["labels"], "labels")
    const annotations = stringMap(meta["annotations"], "annotations")
    const spec = decodeSpec(name, body["spec"])
    if (uid !== undefined && uid !== current.metadata.uid) {
      throw preconditionConflict(name, "UID", uid, current.metadata.uid)
    }
    if (String(rv) !== current.metadata.resourceVersion) throw conflict(name)
    const { labels: _l, annotations: _a, managedFields: previous, ...kept } = current.metadata
    const draft: Lease = {
      ...current,
      metadata: {
        ...kept,
        resourceVersion: String(this.rv + 1),
        ...(labels === undefined ? {} : { labels }),
        ...(annotations === undefined ? {} : { annotations })
      },
      spec
    }
    const next = withManagedFields(draft, previous ?? [], o.manager, o.operation ?? "Update")
    if (o.dryRun) {
      return {
        lease: { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } },
        created: false
      }
    }
    this.rv++
    this.leases.set(`${ns}/${name}`, next)
    this.emit("MODIFIED", next)
    return { lease: structuredClone(next), created: false }
  }

  delete(
    ns: string,
    name: string,
    preconditions?: { uid?: unknown; resourceVersion?: unknown },
    dryRun = false
  ): Lease {
    const current = this.leases.get(`${ns}/${name}`)
    if (current === undefined) throw notFound(name)
    if (typeof preconditions?.uid === "string" && preconditions.uid !== current.metadata.uid) {
      throw preconditionConflict(name, "UID", preconditions.uid, current.metadata.uid)
    }
    if (
      typeof preconditions?.resourceVersion === "string"
      && preconditions.resourceVersion !== current.metadata.resourceVersion
    ) {
      throw preconditionConflict(
        name,
        "ResourceVersion",
        preconditions.resourceVersion,
        current.metadata.resourceVersion
      )
    }
    if (dryRun) return structuredClone(current)
    this.leases.delete(`${ns}/${name}`)
    const last: Lease = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.rv) } }
    this.emit("DELETED", last)
    return structuredClone(last)
  }

  /** Forget all leases (an etcd restore); the resourceVersion counter keeps growing (bumped once). No watch events. */
  clear() {
    this.leases.clear()
    // A restore is a new revision nobody saw: every watch from before it must relist (410).
    this.rv++
    this.compact()
  }

  compact() {
    this.history = []
    this.compactedRv = this.rv
  }
}
