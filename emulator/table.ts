/**
 * Server-side printing (meta.k8s.io/v1 Table) for clients that ask for it
 * (kubectl get): the columns kube-apiserver's printers give each kind, ages
 * as duration.HumanDuration writes them; custom resources get Name and Age.
 */
import type { ResourceType } from "./resources.ts"
import type { KubeObject } from "./types.ts"
import { at, isRecord } from "./util.ts"

export const tableType = "application/json;as=Table;v=v1;g=meta.k8s.io"

/** Does the Accept header ask for a Table first (kubectl's human-readable get)? */
export const wantsTable = (accept: string | undefined) => (accept ?? "").split(",")[0]?.includes("as=Table") === true

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration */
export const humanDuration = (ms: number): string => {
  const seconds = Math.floor(ms / 1000)
  if (seconds < -1) return "<invalid>"
  if (seconds < 0) return "0s"
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`
  if (hours < 24 * 365 * 2) return `${days}d`
  const years = Math.floor(days / 365)
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`
  return `${years}y`
}

const since = (t: unknown) => (typeof t === "string" ? humanDuration(Date.now() - Date.parse(t)) : "<unknown>")
const records = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter(isRecord) : [])
const num = (v: unknown) => (typeof v === "number" ? v : 0)
/** A list shown as its first three and a count of the rest, as the printers do. */
const some = (xs: Array<string>, none = "<none>") =>
  xs.length === 0 ? none : xs.length > 3 ? `${xs.slice(0, 3).join(",")} + ${xs.length - 3} more...` : xs.join(",")

interface Column {
  readonly name: string
  readonly type: string
  readonly format?: string
  readonly priority?: number
  readonly cell: (o: KubeObject) => unknown
}

const name: Column = { name: "Name", type: "string", format: "name", cell: (o) => o.metadata.name }
const age: Column = { name: "Age", type: "string", cell: (o) => since(o.metadata.creationTimestamp) }
const col = (n: string, cell: (o: KubeObject) => unknown, type = "string", priority = 0): Column => ({
  name: n,
  type,
  priority,
  cell
})

const podStatus = (o: KubeObject) => {
  if (o.metadata.deletionTimestamp !== undefined) return "Terminating"
  const waiting = records(at(o, "status.containerStatuses")).map((c) =>
    at(c, "state.waiting.reason") ?? at(c, "state.terminated.reason")
  )
    .find((r) => typeof r === "string")
  return (waiting as string | undefined) ?? String(at(o, "status.reason") ?? at(o, "status.phase") ?? "Pending")
}

const servicePorts = (o: KubeObject) =>
  some(
    records(at(o, "spec.ports")).map((p) =>
      `${String(p["port"])}${p["nodePort"] === undefined ? "" : `:${String(p["nodePort"])}`}/${
        String(p["protocol"] ?? "TCP")
      }`
    )
  )

const jobStatus = (o: KubeObject) => {
  const conds = records(at(o, "status.conditions")).filter((c) => c["status"] === "True").map((c) => String(c["type"]))
  if (conds.includes("Complete")) return "Complete"
  if (conds.includes("Failed")) return "Failed"
  if (conds.includes("Suspended")) return "Suspended"
  return "Running"
}

const columns: Record<string, ReadonlyArray<Column>> = {
  Pod: [
    name,
    col("Ready", (o) => {
      const cs = records(at(o, "status.containerStatuses"))
      const total = records(at(o, "spec.containers")).length
      return `${cs.filter((c) => c["ready"] === true).length}/${total}`
    }),
    col("Status", podStatus),
    col(
      "Restarts",
      (o) => records(at(o, "status.containerStatuses")).reduce((n, c) => n + num(c["restartCount"]), 0),
      "string"
    ),
    age,
    col("IP", (o) => at(o, "status.podIP") ?? "<none>", "string", 1),
    col("Node", (o) => at(o, "spec.nodeName") ?? "<none>", "string", 1)
  ],
  Service: [
    name,
    col("Type", (o) => at(o, "spec.type") ?? "ClusterIP"),
    col("Cluster-IP", (o) => at(o, "spec.clusterIP") ?? "<none>"),
    col(
      "External-IP",
      (o) => some(records(at(o, "status.loadBalancer.ingress")).map((i) => String(i["ip"] ?? i["hostname"])))
    ),
    col("Port(s)", servicePorts),
    age,
    col(
      "Selector",
      (o) => {
        const s = at(o, "spec.selector")
        return isRecord(s) ? Object.entries(s).map(([k, v]) => `${k}=${String(v)}`).join(",") : "<none>"
      },
      "string",
      1
    )
  ],
  Endpoints: [
    name,
    col("Endpoints", (o) =>
      some(
        records(o["subsets"]).flatMap((s) =>
          records(s["addresses"]).flatMap((a) =>
            records(s["ports"]).map((p) => `${String(a["ip"])}:${String(p["port"])}`)
          )
        )
      )),
    age
  ],
  EndpointSlice: [
    name,
    col("AddressType", (o) => o["addressType"] ?? ""),
    col("Ports", (o) => some(records(o["ports"]).map((p) => String(p["port"] ?? "")), "<unset>")),
    col(
      "Endpoints",
      (o) =>
        some(
          records(o["endpoints"]).flatMap((e) => (Array.isArray(e["addresses"]) ? e["addresses"].map(String) : [])),
          "<unset>"
        )
    ),
    age
  ],
  Event: [
    col("Last Seen", (o) => since(o["lastTimestamp"] ?? o["eventTime"] ?? o.metadata.creationTimestamp)),
    col("Type", (o) => o["type"] ?? ""),
    col("Reason", (o) => o["reason"] ?? ""),
    col(
      "Object",
      (o) => `${String(at(o, "involvedObject.kind") ?? "").toLowerCase()}/${String(at(o, "involvedObject.name") ?? "")}`
    ),
    col("Message", (o) => String(o["message"] ?? "").trim())
  ],
  Namespace: [name, col("Status", (o) => at(o, "status.phase") ?? "Active"), age],
  Job: [
    name,
    col("Status", jobStatus),
    col("Completions", (o) => `${num(at(o, "status.succeeded"))}/${String(at(o, "spec.completions") ?? 1)}`),
    col("Duration", (o) => {
      const start = at(o, "status.startTime")
      if (typeof start !== "string") return ""
      const end = at(o, "status.completionTime")
      return humanDuration((typeof end === "string" ? Date.parse(end) : Date.now()) - Date.parse(start))
    }),
    age
  ],
  DaemonSet: [
    name,
    col("Desired", (o) => num(at(o, "status.desiredNumberScheduled")), "integer"),
    col("Current", (o) => num(at(o, "status.currentNumberScheduled")), "integer"),
    col("Ready", (o) => num(at(o, "status.numberReady")), "integer"),
    col("Up-to-date", (o) => num(at(o, "status.updatedNumberScheduled")), "integer"),
    col("Available", (o) => num(at(o, "status.numberAvailable")), "integer"),
    col("Node Selector", (o) => {
      const s = at(o, "spec.template.spec.nodeSelector")
      return isRecord(s) ? Object.entries(s).map(([k, v]) => `${k}=${String(v)}`).join(",") : "<none>"
    }),
    age
  ],
  Lease: [name, col("Holder", (o) => at(o, "spec.holderIdentity") ?? ""), age]
}

/** A Table of objects; includeObject=Object carries the objects, None nothing, else their metadata. */
export const toTable = (
  rt: ResourceType,
  items: ReadonlyArray<KubeObject>,
  listMeta: Record<string, unknown>,
  include: string | null
) => {
  const cols = rt.custom ? [name, age] : columns[rt.kind] ?? [name, age]
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: "",
      priority: c.priority ?? 0
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      ...(include === "None"
        ? {}
        : {
          object: include === "Object"
            ? o
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata }
        })
    }))
  }
}
