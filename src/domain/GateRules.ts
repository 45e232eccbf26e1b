/**
 * When a Kubernetes gate passes, as pure functions of the objects a list or
 * watch currently shows: each answers a value (the gate passed, or what the
 * next step needs) or the reason it has not, as the progress lines and
 * /status show it. The semantics are kubernetes-entrypoint's, except where
 * its bugs are listed in docs/gates.md and docs/migrating.md.
 */
import type { Effect } from "effect"
import { Option, Result, Schema } from "effect"
import type { Gate } from "./Gates.ts"
import {
  DaemonSetWire,
  EndpointSliceWire,
  EndpointsWire,
  JobWire,
  type LabelSelectorWire,
  PodWire,
  ResourceListWire,
  WithConditions
} from "./GateWire.ts"

/** A gate's state as one check sees it: passed with a value, or pending with a reason. */
export type Verdict<A = void> = Result.Result<A, string>

/** What a check tells the gate's owner as it goes. */
export interface Progress {
  /** Why the gate has not passed yet, as last seen. */
  pending(reason: string): Effect.Effect<void>
  /** A problem worth a warning (a 403, a missing template): said once per `key`, not every retry. */
  warn(key: string, message: string): Effect.Effect<void>
}

const passed = Result.succeed(undefined)

const apiKinds = ["Service", "Job", "JobSelector", "DaemonSet", "Container", "Pod", "CustomResource"] as const
/** Gates checked through the Kubernetes API. */
export type ApiGate = Extract<Gate, { readonly _tag: typeof apiKinds[number] }>
/** Gates checked on this machine: files, sockets, the network, config templates. */
export type LocalGate = Exclude<Gate, ApiGate>
export const needsApi = (g: Gate): g is ApiGate => (apiKinds as ReadonlyArray<string>).includes(g._tag)

/** Every object that decodes; the others are skipped (they cannot make a gate pass). */
const decodeAll = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownOption(schema)
  return (objects: ReadonlyArray<unknown>): Array<S["Type"]> => objects.flatMap((o) => Option.toArray(decode(o)))
}
const slicesOf = decodeAll(EndpointSliceWire)
const endpointsOf = decodeAll(EndpointsWire)
const jobsOf = decodeAll(JobWire)
const podsOf = decodeAll(PodWire)
const daemonSetsOf = decodeAll(DaemonSetWire)

const isReady = (pod: PodWire) =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true

/** A few names for a reason line. */
const some = (names: ReadonlyArray<string>) =>
  names.length <= 5 ? names.join(", ") : `${names.slice(0, 5).join(", ")} and ${names.length - 5} more`

/** A Service's EndpointSlices: an endpoint with an address whose `ready` is not false (unset means ready). */
export const endpointSlicesReady = (objects: ReadonlyArray<unknown>): Verdict => {
  const slices = slicesOf(objects)
  const endpoints = slices.flatMap((s) => s.endpoints ?? []).filter((e) => (e.addresses ?? []).length > 0)
  if (endpoints.some((e) => e.conditions?.ready !== false)) return passed
  const why = endpoints.length > 0
    ? ` (${endpoints.length} not ready)`
    : slices.length === 0
    ? " (no EndpointSlice)"
    : ""
  return Result.fail(`0 ready endpoints${why}`)
}

/** A Service's Endpoints (where the EndpointSlice API is missing): a ready address in a subset. */
export const endpointsReady = (objects: ReadonlyArray<unknown>): Verdict => {
  const [endpoints] = endpointsOf(objects)
  if (endpoints === undefined) return Result.fail("0 ready endpoints (no Endpoints object)")
  const subsets = endpoints.subsets ?? []
  if (subsets.some((s) => (s.addresses ?? []).length > 0)) return passed
  const notReady = subsets.reduce((n, s) => n + (s.notReadyAddresses ?? []).length, 0)
  return Result.fail(`0 ready endpoints${notReady > 0 ? ` (${notReady} not ready)` : ""}`)
}

type Job = typeof JobWire.Type
const succeeded = (j: Job) => (j.status?.succeeded ?? 0) > 0
const jobState = (j: Job) => {
  const counts = ([["active", j.status?.active], ["failed", j.status?.failed]] as const)
    .filter(([, n]) => (n ?? 0) > 0).map(([what, n]) => `${n} ${what}`)
  return `not succeeded yet${counts.length > 0 ? ` (${counts.join(", ")})` : ""}`
}

/** One Job by name: `status.succeeded > 0`. */
export const jobSucceeded = (objects: ReadonlyArray<unknown>): Verdict => {
  const [job] = jobsOf(objects)
  if (job === undefined) return Result.fail("not found")
  return succeeded(job) ? passed : Result.fail(jobState(job))
}

/** Jobs by labels: at least one, and every one succeeded. */
export const jobsSucceeded = (objects: ReadonlyArray<unknown>): Verdict => {
  const jobs = jobsOf(objects)
  if (jobs.length === 0) return Result.fail("no job has these labels")
  const waiting = jobs.filter((j) => !succeeded(j))
  if (waiting.length === 0) return passed
  return Result.fail(
    `${waiting.length} of ${jobs.length} not succeeded yet: ${some(waiting.map((j) => j.metadata.name))}`
  )
}

/** This pod's node, for gates bound to it. */
export const podNode = (objects: ReadonlyArray<unknown>, pod: string): Verdict<string> => {
  const [found] = podsOf(objects)
  if (found === undefined) return Result.fail(`this pod (${pod}) not found, so its node is unknown`)
  const node = found.spec?.nodeName
  return node === undefined || node === "" ? Result.fail(`this pod (${pod}) has no node yet`) : Result.succeed(node)
}

/** A label selector as the `labelSelector` query parameter writes it. */
export const selectorText = (s: LabelSelectorWire): Verdict<string> => {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const e of s.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",")
    switch (e.operator) {
      case "In":
        parts.push(`${e.key} in (${values})`)
        break
      case "NotIn":
        parts.push(`${e.key} notin (${values})`)
        break
      case "Exists":
        parts.push(e.key)
        break
      case "DoesNotExist":
        parts.push(`!${e.key}`)
        break
      default:
        return Result.fail(`its selector has an unknown operator ${JSON.stringify(e.operator)}`)
    }
  }
  return parts.length === 0 ? Result.fail("it has an empty selector") : Result.succeed(parts.join(","))
}

/** A DaemonSet: its pods' selector (immutable in apps/v1, so read once). */
export const daemonSetSelector = (objects: ReadonlyArray<unknown>): Verdict<string> => {
  const [ds] = daemonSetsOf(objects)
  if (ds === undefined) return Result.fail("not found")
  const selector = ds.spec?.selector
  return selector === undefined ? Result.fail("it has no selector") : selectorText(selector)
}

/** The DaemonSet's pods on this node (already selected by its labels and the node): one of them Ready. */
export const daemonSetPodReady = (objects: ReadonlyArray<unknown>, daemonSet: string, node: string): Verdict => {
  const pods = podsOf(objects).filter((p) =>
    p.metadata.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.name === daemonSet) === true
  )
  // kubernetes-entrypoint passes here; a node without the pod has nothing to wait for, which is a setup error.
  if (pods.length === 0) return Result.fail(`no pod of it on node ${node}`)
  if (pods.some(isReady)) return passed
  return Result.fail(`its pod ${pods[0]!.metadata.name} on node ${node} is not Ready`)
}

/** A container of this pod: its status says ready. */
export const containerReady = (objects: ReadonlyArray<unknown>, pod: string, container: string): Verdict => {
  const [found] = podsOf(objects)
  if (found === undefined) return Result.fail(`pod ${pod} not found`)
  const statuses = found.status?.containerStatuses ?? []
  const status = statuses.find((c) => c.name === container)
  if (status === undefined) {
    return Result.fail(
      statuses.length === 0 ? "no container has started yet" : `pod ${pod} has no container ${container}`
    )
  }
  return status.ready === true ? passed : Result.fail("not ready")
}

/** Pods with the gate's labels (on this node when asked): one of them Ready, as kubernetes-entrypoint. */
export const podsReady = (objects: ReadonlyArray<unknown>, node: string | null): Verdict => {
  const pods = podsOf(objects)
  const where = node === null ? "" : ` on node ${node}`
  if (pods.length === 0) return Result.fail(`no pod has these labels${where}`)
  if (pods.some(isReady)) return passed
  return Result.fail(`${pods.length} ${pods.length === 1 ? "pod" : "pods"}${where}, none Ready`)
}

type CustomResource = Extract<Gate, { _tag: "CustomResource" }>
const decodeConditions = Schema.decodeUnknownOption(WithConditions)

/** The value at a dotted path through nested objects, as kubernetes-entrypoint's NestedField. */
const at = (o: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>(
    (v, key) =>
      typeof v === "object" && v !== null && !Array.isArray(v) && Object.hasOwn(v, key)
        ? (v as Record<string, unknown>)[key]
        : undefined,
    o
  )
/** A string field equals the text; any other value equals its JSON text (`3`, `true`), as sapcc's fork compares. */
const same = (actual: unknown, expected: string) =>
  actual === expected || (typeof actual !== "string" && JSON.stringify(actual) === expected)

/** A custom resource: every field has its value and every condition its status. */
export const customResourceMatches = (objects: ReadonlyArray<unknown>, gate: CustomResource): Verdict => {
  const [object] = objects
  if (object === undefined) return Result.fail("not found")
  for (const { key, value } of gate.fields) {
    const actual = at(object, key.split("."))
    if (actual === undefined) return Result.fail(`field ${key} is absent`)
    if (!same(actual, value)) {
      return Result.fail(`field ${key} is ${JSON.stringify(actual).slice(0, 80)}, not ${JSON.stringify(value)}`)
    }
  }
  const conditions = Option.getOrUndefined(decodeConditions(object))?.status?.conditions ?? []
  for (const { status, type } of gate.conditions) {
    const found = conditions.find((c) => c.type === type)
    if (found === undefined) return Result.fail(`no condition ${type}`)
    if (found.status !== status) return Result.fail(`condition ${type} is ${found.status ?? "unset"}, not ${status}`)
  }
  return passed
}

/** The API path of a group/version: `v1` is the core group. */
export const apiPath = (apiVersion: string) => (apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`)

const decodeResources = Schema.decodeUnknownOption(ResourceListWire)

/** A kind's resource (plural) and scope, from its group/version's discovery document. */
export const resourceOf = (
  discovery: unknown,
  apiVersion: string,
  kind: string
): Verdict<{ readonly plural: string; readonly namespaced: boolean }> => {
  const resources = Option.getOrUndefined(decodeResources(discovery))?.resources ?? []
  const found = resources.find((r) => r.kind === kind && !r.name.includes("/"))
  return found === undefined
    ? Result.fail(`the API server serves no kind ${kind} in ${apiVersion}`)
    : Result.succeed({ plural: found.name, namespaced: found.namespaced ?? true })
}
