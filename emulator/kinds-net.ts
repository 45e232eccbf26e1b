/**
 * Strategies of Service, Endpoints, EndpointSlice, Event, Namespace, Lease and
 * custom resources (see kinds.ts for the hooks and the workloads).
 */
import { isIP } from "node:net"
import type { KindHooks } from "./kinds.ts"
import { customFieldLabels, decodeTyped } from "./kinds.ts"
import { decodeLeaseSpec, parseMicroTime, strictLease } from "./lease.ts"
import type { Cause } from "./status.ts"
import { invalidValue, notSupported, required } from "./status.ts"
import { at, dropNulls, isRecord, recordAt } from "./util.ts"

const records = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter(isRecord) : [])

const portRange = (field: string, v: unknown): Array<Cause> => {
  const n = typeof v === "number" ? v : 0
  return Number.isInteger(n) && n >= 1 && n <= 65535
    ? []
    : [invalidValue(field, v ?? 0, "must be between 1 and 65535, inclusive")]
}

const serviceTypes = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
const protocols = ["SCTP", "TCP", "UDP"]
const specStatus = ["spec", "status"]

export const service: KindHooks = {
  fields: specStatus,
  decode: decodeTyped("Service", specStatus, specStatus),
  defaults: (o, old, ctx) => {
    const spec = recordAt(o, "spec")
    const was = isRecord(old?.["spec"]) ? old["spec"] : {}
    const type = (spec["type"] ??= "ClusterIP")
    spec["sessionAffinity"] ??= "None"
    const oldPorts = records(was["ports"])
    for (const p of records(spec["ports"])) {
      p["protocol"] ??= "TCP"
      p["targetPort"] ??= p["port"]
      if (type === "NodePort" || type === "LoadBalancer") {
        p["nodePort"] ??= oldPorts.find((q) => q["port"] === p["port"])?.["nodePort"] ?? ctx.nodePort()
      }
    }
    if (type === "ExternalName") return
    // Allocated values a client leaves out are carried over on update (patchAllocatedValues), allocated on create.
    if (spec["clusterIP"] === undefined || spec["clusterIP"] === "") {
      spec["clusterIP"] = typeof was["clusterIP"] === "string" ? was["clusterIP"] : ctx.clusterIP()
    }
    spec["clusterIPs"] ??= [spec["clusterIP"]]
    spec["ipFamilies"] ??= ["IPv4"]
    spec["ipFamilyPolicy"] ??= "SingleStack"
    spec["internalTrafficPolicy"] ??= "Cluster"
    if (type === "NodePort" || type === "LoadBalancer") spec["externalTrafficPolicy"] ??= "Cluster"
    if (type === "LoadBalancer") spec["allocateLoadBalancerNodePorts"] ??= true
  },
  initialStatus: () => ({ loadBalancer: {} }),
  validate: (o) => {
    const spec = isRecord(o["spec"]) ? o["spec"] : {}
    const causes: Array<Cause> = []
    const type = spec["type"]
    if (typeof type !== "string" || !serviceTypes.includes(type)) {
      return [notSupported("spec.type", type, serviceTypes)]
    }
    if (type === "ExternalName" && (typeof spec["externalName"] !== "string" || spec["externalName"] === "")) {
      causes.push(required("spec.externalName"))
    }
    const ports = records(spec["ports"])
    if (ports.length === 0 && type !== "ExternalName" && spec["clusterIP"] !== "None") {
      causes.push(required("spec.ports"))
    }
    ports.forEach((p, i) => {
      const f = `spec.ports[${i}]`
      if (ports.length > 1 && (typeof p["name"] !== "string" || p["name"] === "")) causes.push(required(`${f}.name`))
      causes.push(...portRange(`${f}.port`, p["port"]))
      if (!protocols.includes(String(p["protocol"]))) {
        causes.push(notSupported(`${f}.protocol`, p["protocol"], protocols))
      }
      if (typeof p["targetPort"] === "number") causes.push(...portRange(`${f}.targetPort`, p["targetPort"]))
    })
    return causes
  },
  fieldLabels: customFieldLabels(["spec.clusterIP", "spec.type"])
}

export const endpoints: KindHooks = {
  fields: ["subsets"],
  decode: decodeTyped("Endpoints", ["subsets"], []),
  defaults: (o) => {
    for (const s of records(o["subsets"])) for (const p of records(s["ports"])) p["protocol"] ??= "TCP"
  },
  validate: (o) =>
    records(o["subsets"]).flatMap((s, i) => [
      ...[...records(s["addresses"]), ...records(s["notReadyAddresses"])].flatMap((a, j) =>
        isIP(String(a["ip"] ?? "")) === 0
          ? [
            invalidValue(
              `subsets[${i}].addresses[${j}].ip`,
              String(a["ip"] ?? ""),
              "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
          ]
          : []
      ),
      ...records(s["ports"]).flatMap((p, j) => portRange(`subsets[${i}].ports[${j}].port`, p["port"]))
    ])
}

const addressTypes = ["FQDN", "IPv4", "IPv6"]
const sliceFields = ["addressType", "endpoints", "ports"]

export const endpointSlice: KindHooks = {
  fields: sliceFields,
  decode: (_name, body) => {
    const out: Record<string, unknown> = {}
    for (const f of sliceFields) if (body[f] !== undefined && body[f] !== null) out[f] = dropNulls(body[f])
    // endpoints is not omitempty: an empty slice encodes "endpoints": null, which clients see as absent.
    return out
  },
  defaults: (o) => {
    for (const p of records(o["ports"])) {
      p["name"] ??= ""
      p["protocol"] ??= "TCP"
    }
  },
  validate: (o) => {
    const t = o["addressType"]
    if (t === undefined || t === "") return [required("addressType")]
    if (typeof t !== "string" || !addressTypes.includes(t)) return [notSupported("addressType", t, addressTypes)]
    return records(o["endpoints"]).flatMap((e, i) => {
      const addresses = Array.isArray(e["addresses"]) ? e["addresses"] : []
      if (addresses.length === 0) return [required(`endpoints[${i}].addresses`, "must contain at least 1 address")]
      return addresses.flatMap((a, j) => {
        const family = isIP(String(a))
        const ok = t === "FQDN" || (t === "IPv4" ? family === 4 : family === 6)
        return ok ? [] : [invalidValue(`endpoints[${i}].addresses[${j}]`, String(a), `must be a valid ${t} address`)]
      })
    })
  }
}

const eventFields = [
  "involvedObject",
  "reason",
  "message",
  "source",
  "firstTimestamp",
  "lastTimestamp",
  "count",
  "type",
  "eventTime",
  "series",
  "action",
  "related",
  "reportingComponent",
  "reportingInstance"
]

/** metav1.Time: RFC 3339, re-encoded in UTC to the second. */
const seconds = (v: unknown) =>
  typeof v === "string" && !Number.isNaN(Date.parse(v))
    ? new Date(Date.parse(v)).toISOString().replace(/\.\d+Z$/, "Z")
    : v

export const event: KindHooks = {
  fields: eventFields,
  decode: (name, body) => {
    const out = decodeTyped("Event", eventFields, ["involvedObject", "source", "series", "related"])(name, body)
    for (const f of ["firstTimestamp", "lastTimestamp"]) if (out[f] !== undefined) out[f] = seconds(out[f])
    const et = parseMicroTime(out["eventTime"], "Event", "Event.eventTime")
    if (et === null) delete out["eventTime"]
    else out["eventTime"] = et
    return out
  },
  // legacyValidateEvent: the involved object's namespace must match; "new" events (eventTime set) need more.
  validate: (o) => {
    const ns = o.metadata.namespace ?? ""
    const ion = String(at(o, "involvedObject.namespace") ?? "")
    const causes: Array<Cause> = []
    const mismatch = invalidValue("involvedObject.namespace", ion, "does not match event.namespace")
    if (o["eventTime"] === undefined) {
      if (ion === "" ? ns !== "" && ns !== "default" : ion !== ns) causes.push(mismatch)
      return causes
    }
    if (ion === "" && ns !== "default" && ns !== "kube-system") causes.push(mismatch)
    for (const f of ["reportingComponent", "reportingInstance", "action", "reason"]) {
      if (typeof o[f] !== "string" || o[f] === "") causes.push(required(f))
    }
    return causes
  },
  fieldLabels: {
    labels: {
      ...customFieldLabels([
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "type"
      ]).labels,
      source: (o) => String(at(o, "source.component") ?? "")
    },
    custom: true
  }
}

export const namespace: KindHooks = {
  fields: specStatus,
  decode: decodeTyped("Namespace", specStatus, specStatus),
  defaults: (o, old) => {
    o.metadata.labels = { ...o.metadata.labels, "kubernetes.io/metadata.name": o.metadata.name }
    // Finalizers are set on create and only /finalize changes them.
    recordAt(o, "spec")["finalizers"] = old === undefined ? ["kubernetes"] : at(old, "spec.finalizers") ?? []
  },
  initialStatus: () => ({ phase: "Active" }),
  fieldLabels: customFieldLabels(["status.phase"], ["metadata.name"])
}

export const lease: KindHooks = {
  fields: ["spec"],
  decode: (name, body, ctx) => ({ spec: decodeLeaseSpec(name, body["spec"], ctx.coordinatedLeaderElection) }),
  strict: strictLease
}

/** A custom resource keeps every field it is given (x-kubernetes-preserve-unknown-fields). */
export const custom: KindHooks = {
  decode: (_name, body) => {
    const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = body
    return dropNulls(rest) as Record<string, unknown>
  }
}
