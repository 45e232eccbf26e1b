/** The emulator's public data types. */

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"
export const allVerbs: ReadonlyArray<Verb> = ["get", "list", "watch", "create", "update", "patch", "delete"]
/** RBAC verbs: the counted verbs plus deletecollection (a DELETE on a collection, counted as delete). */
export type RbacVerb = Verb | "deletecollection"

export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface ManagedFieldsEntry {
  manager: string
  operation: "Update" | "Apply"
  apiVersion: string
  time: string
  fieldsType: "FieldsV1"
  fieldsV1: Record<string, unknown>
  subresource?: string
}

export interface ObjectMeta {
  name: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: Array<OwnerReference>
  finalizers?: Array<string>
  managedFields?: Array<ManagedFieldsEntry>
}

/** Any stored object: kind, apiVersion, metadata, and the kind's own fields (spec, status, subsets, endpoints ...). */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  [field: string]: unknown
}

export type WatchType = "ADDED" | "MODIFIED" | "DELETED"

/** Every committed write, for onObjectChange listeners. */
export interface ObjectEvent {
  readonly type: WatchType
  readonly object: KubeObject
}

/** A custom resource the emulator serves as if its CRD were installed (schema: x-kubernetes-preserve-unknown-fields). */
export interface CustomResource {
  group: string
  version: string
  kind: string
  plural: string
  /** Default: the kind in lower case. */
  singular?: string
  /** Default true. */
  namespaced?: boolean
  shortNames?: ReadonlyArray<string>
  categories?: ReadonlyArray<string>
  /** A status subresource (default true): writes to the object keep its status, /status writes only status. */
  status?: boolean
}

/**
 * `resource` names a resource as RBAC rules and kubectl do: "pods", "pods/status",
 * "endpointslices.discovery.k8s.io", "leases.coordination.k8s.io". A bare plural matches it in any group.
 */
export interface ForbiddenRule {
  client: string
  /** Default: every verb. */
  verbs?: ReadonlyArray<RbacVerb>
  /** Default: every resource. */
  resource?: string
}

export interface Fault {
  /** Delay before answering (before the request is processed). */
  latencyMs?: number
  /** Accept the request and never answer; the socket stays open until the client or close()/restart() ends it. */
  hang?: boolean
  /** Answer with this HTTP status and a real Status body (500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests, 504 Timeout, 409 Conflict ...). */
  status?: number
  /** With status: a Retry-After header and details.retryAfterSeconds. */
  retryAfterSeconds?: number
  /** Destroy the socket without answering (TCP RST). */
  reset?: boolean
  /**
   * Hostile bodies: html = a 502 HTML page from a proxy; garbage = 200 with non-JSON text;
   * truncated = the real answer's headers and half its body, then the socket is destroyed;
   * slowloris = the real answer trickling 1 byte per second. truncated and slowloris process the request (writes commit).
   */
  body?: "html" | "garbage" | "truncated" | "slowloris"
  /**
   * Extension: process the request (commit the write) first, then apply hang/reset/status/html/garbage
   * instead of the real answer: an ambiguous write.
   */
  afterCommit?: boolean
  /**
   * Watches that misbehave (use with verbs: ["watch"]): end-at-once = 200 and the stream ends before any
   * event; error-event = 200, one ERROR event (a 500 Status), then the end.
   */
  watch?: "end-at-once" | "error-event"
  /** Only these verbs (default all). */
  verbs?: ReadonlyArray<Verb>
  /** Only these resources (default all), named as in ForbiddenRule: "events", "leases.coordination.k8s.io", "pods/status". */
  resources?: ReadonlyArray<string>
  /** Apply to this many matching requests, then clear itself (default: until cleared). */
  count?: number
}

export interface EmulatorOptions {
  port?: number
  host?: string
  /** Namespaces that exist at start, default ["default", "kube-system"]. Creating in another gets 404 `namespaces "x" not found`. */
  namespaces?: ReadonlyArray<string>
  /** Accepted bearer tokens; undefined = any token or none. Bad token -> 401; no token when set -> 403 as system:anonymous. */
  tokens?: ReadonlyArray<string>
  /** 403 with the exact Forbidden body (user "system:serviceaccount:<ns>:<client>", or "system:anonymous"). */
  forbidden?: ReadonlyArray<ForbiddenRule>
  /** BOOKMARK interval for watches with allowWatchBookmarks=true (default 60 000). */
  bookmarkIntervalMs?: number
  /** Watch events kept for resumption (default 10 000); older resourceVersions get 410. */
  historyLimit?: number
  /** Custom resources served besides the built-in example.com/v1 Widget. */
  customResources?: ReadonlyArray<CustomResource>
  /** API groups (or group/version) the server does not have: absent from discovery, their paths 404 (e.g. "discovery.k8s.io"). */
  missingGroups?: ReadonlyArray<string>
  /** Objects stored at start (as putObject stores them). */
  objects?: ReadonlyArray<KubeObject>
  /**
   * The CoordinatedLeaderElection feature gate (alpha 1.31, beta 1.33, off by default): on, a Lease keeps
   * spec.strategy and spec.preferredHolder (validated); off, both are dropped silently, as the API server does.
   */
  coordinatedLeaderElection?: boolean
}
