/**
 * What each built-in kind does on a write through the API, as its registry
 * strategy does: decoding, defaulting (SetDefaults_*), the status a create
 * starts with, validation with the real field paths and messages, and the
 * field labels its list/watch accepts. Workloads here; services, endpoints,
 * events and namespaces in kinds-net.ts.
 */
import type { FieldLabels } from "./selectors.ts"
import { matchesLabelSelector } from "./selectors.ts"
import type { Cause } from "./status.ts"
import { badRequest, notSupported, required } from "./status.ts"
import type { KubeObject } from "./types.ts"
import { at, dropNulls, isRecord, recordAt } from "./util.ts"

/** Cluster-wide allocators some defaults need (Service cluster IPs and node ports). */
export interface KindContext {
  clusterIP(): string
  nodePort(): number
  /** The CoordinatedLeaderElection feature gate: Leases keep spec.strategy and spec.preferredHolder. */
  readonly coordinatedLeaderElection: boolean
}

export interface KindHooks {
  /** Top-level fields of the typed struct besides kind/apiVersion/metadata; others are dropped (Strict: 400). Undefined: keep all (custom resources). */
  readonly fields?: ReadonlyArray<string>
  /** Decode the kind's own fields (400 on type errors); default: the known fields with nulls dropped. */
  readonly decode?: (name: string, body: Record<string, unknown>, ctx: KindContext) => Record<string, unknown>
  /** fieldValidation=Strict below the top level: paths of unknown fields. */
  readonly strict?: (body: Record<string, unknown>) => Array<string>
  /** Defaulting, on every write through the API (the server defaults when it decodes); old = the stored object on update. */
  readonly defaults?: (obj: KubeObject, old: KubeObject | undefined, ctx: KindContext) => void
  /** The status an object created through the API starts with (kinds with a status subresource). */
  readonly initialStatus?: (obj: KubeObject) => unknown
  readonly validate?: (obj: KubeObject) => Array<Cause>
  readonly fieldLabels?: FieldLabels
}

/** Generic decoding of a typed kind: struct fields must be objects, unknown top-level fields dropped, nulls dropped. */
export const decodeTyped =
  (kind: string, fields: ReadonlyArray<string>, objectFields: ReadonlyArray<string>) =>
  (_name: string, body: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (const f of fields) {
      const v = body[f]
      if (v === undefined || v === null) continue
      if (objectFields.includes(f) && !isRecord(v)) {
        throw badRequest(
          `${kind} in version "v1" cannot be handled as a ${kind}: json: cannot unmarshal ${
            Array.isArray(v) ? "array" : typeof v
          } into Go struct field ${kind}.${f} of type v1.${kind}${f[0]!.toUpperCase()}${f.slice(1)}`
        )
      }
      out[f] = dropNulls(v)
    }
    return out
  }

const str = (o: KubeObject, path: string) => {
  const v = at(o, path)
  return v === undefined || v === null ? "" : String(v)
}
export const customFieldLabels = (paths: ReadonlyArray<string>, meta = ["metadata.name", "metadata.namespace"]) => ({
  labels: Object.fromEntries([...meta, ...paths].map((p) => [p, (o: KubeObject) => str(o, p)])),
  custom: true
})

const records = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter(isRecord) : [])

/** SetDefaults_PodSpec and SetDefaults_Container (the fields clients see most). */
const podSpecDefaults = (spec: Record<string, unknown>) => {
  spec["restartPolicy"] ??= "Always"
  spec["terminationGracePeriodSeconds"] ??= 30
  spec["dnsPolicy"] ??= "ClusterFirst"
  spec["securityContext"] ??= {}
  spec["schedulerName"] ??= "default-scheduler"
  for (const c of [...records(spec["initContainers"]), ...records(spec["containers"])]) {
    c["resources"] ??= {}
    c["terminationMessagePath"] ??= "/dev/termination-log"
    c["terminationMessagePolicy"] ??= "File"
    const image = typeof c["image"] === "string" ? c["image"] : ""
    const tagged = /:[^/]+$/.test(image.split("@")[0]!) && !image.endsWith(":latest")
    c["imagePullPolicy"] ??= tagged || image.includes("@") ? "IfNotPresent" : "Always"
    for (const p of records(c["ports"])) p["protocol"] ??= "TCP"
  }
}

const validatePodSpec = (spec: unknown, path: string, restart: ReadonlyArray<string>): Array<Cause> => {
  const causes: Array<Cause> = []
  const s = isRecord(spec) ? spec : {}
  const containers = records(s["containers"])
  if (containers.length === 0) causes.push(required(`${path}.containers`))
  containers.forEach((c, i) => {
    if (typeof c["name"] !== "string" || c["name"] === "") causes.push(required(`${path}.containers[${i}].name`))
    if (typeof c["image"] !== "string" || c["image"] === "") causes.push(required(`${path}.containers[${i}].image`))
  })
  const rp = s["restartPolicy"]
  if (typeof rp === "string" && !restart.includes(rp)) causes.push(notSupported(`${path}.restartPolicy`, rp, restart))
  return causes
}

/** v1qos.GetPodQOS, on requests and limits of cpu and memory. */
const qosClass = (spec: unknown): string => {
  const containers = records(isRecord(spec) ? spec["containers"] : undefined)
  let any = false
  let guaranteed = containers.length > 0
  for (const c of containers) {
    const r = isRecord(c["resources"]) ? c["resources"] : {}
    const req = isRecord(r["requests"]) ? r["requests"] : {}
    const lim = isRecord(r["limits"]) ? r["limits"] : {}
    if (Object.keys(req).length > 0 || Object.keys(lim).length > 0) any = true
    for (const k of ["cpu", "memory"]) {
      if (lim[k] === undefined || (req[k] !== undefined && String(req[k]) !== String(lim[k]))) guaranteed = false
    }
  }
  return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable"
}

const podFields = ["spec", "status"]
export const pod: KindHooks = {
  fields: podFields,
  decode: decodeTyped("Pod", podFields, podFields),
  defaults: (o) => podSpecDefaults(recordAt(o, "spec")),
  initialStatus: (o) => ({ phase: "Pending", qosClass: qosClass(o["spec"]) }),
  validate: (o) => validatePodSpec(o["spec"], "spec", ["Always", "OnFailure", "Never"]),
  fieldLabels: customFieldLabels([
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName"
  ])
}

/** Go's %#v of a map[string]string, as validation messages print label maps. */
const goMap = (m: Record<string, unknown>) =>
  `map[string]string{${
    Object.keys(m).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(String(m[k]))}`).join(", ")
  }}`

const templateLabels = (o: KubeObject): Record<string, string> => {
  const l = at(o, "spec.template.metadata.labels")
  return isRecord(l) ? (l as Record<string, string>) : {}
}

export const job: KindHooks = {
  fields: podFields,
  decode: decodeTyped("Job", podFields, podFields),
  defaults: (o, old) => {
    const spec = recordAt(o, "spec")
    if (spec["completions"] === undefined && spec["parallelism"] === undefined) spec["completions"] = 1
    spec["parallelism"] ??= 1
    spec["backoffLimit"] ??= 6
    spec["completionMode"] ??= "NonIndexed"
    spec["suspend"] ??= false
    spec["podReplacementPolicy"] ??= "TerminatingOrFailed"
    const template = recordAt(spec, "template")
    podSpecDefaults(recordAt(template, "spec"))
    if (spec["manualSelector"] !== true) {
      // The job controller's generated selector: the Job's uid in labels it adds to its template.
      const uid = old?.metadata.uid ?? o.metadata.uid ?? ""
      spec["selector"] ??= { matchLabels: { "batch.kubernetes.io/controller-uid": uid } }
      Object.assign(recordAt(recordAt(template, "metadata"), "labels"), {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": o.metadata.name,
        "controller-uid": uid,
        "job-name": o.metadata.name
      })
    }
  },
  initialStatus: () => ({}),
  validate: (o) => validatePodSpec(at(o, "spec.template.spec"), "spec.template.spec", ["OnFailure", "Never"]),
  fieldLabels: {
    labels: { ...customFieldLabels([]).labels, "status.successful": (o) => String(at(o, "status.succeeded") ?? 0) },
    custom: true
  }
}

export const daemonSet: KindHooks = {
  fields: podFields,
  decode: decodeTyped("DaemonSet", podFields, podFields),
  defaults: (o) => {
    const spec = recordAt(o, "spec")
    spec["updateStrategy"] ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }
    spec["revisionHistoryLimit"] ??= 10
    podSpecDefaults(recordAt(recordAt(spec, "template"), "spec"))
  },
  initialStatus: () => ({
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    desiredNumberScheduled: 0,
    numberReady: 0
  }),
  validate: (o) => {
    const causes: Array<Cause> = []
    const sel = at(o, "spec.selector")
    if (!isRecord(sel)) causes.push(required("spec.selector"))
    else if (!matchesLabelSelector(sel, templateLabels(o))) {
      causes.push({
        field: "spec.template.metadata.labels",
        message: `Invalid value: ${goMap(templateLabels(o))}: \`selector\` does not match template \`labels\``
      })
    }
    return [...causes, ...validatePodSpec(at(o, "spec.template.spec"), "spec.template.spec", ["Always"])]
  }
}
