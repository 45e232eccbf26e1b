/**
 * The emulator's resources beyond Leases, over real HTTP: every kind's CRUD
 * with the API server's codes and Status bodies, the metadata and defaults
 * the server sets, validation, the status subresource, selectors, watches,
 * no-op updates, deletes, patches, the programmatic API, RBAC, missing API
 * groups, faults by resource, custom resources and discovery.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Emulator, KubeObject } from "../emulator/index.ts"
import { objects, startEmulator } from "../emulator/index.ts"
import { humanDuration } from "../emulator/table.ts"
import { kubeCall, openWatch } from "./support/kube-http.ts"

let emu: Emulator
let seq = 0
const uniq = (p: string) => `${p}-${++seq}`

beforeAll(async () => {
  emu = await startEmulator({
    bookmarkIntervalMs: 100,
    customResources: [{
      group: "example.com",
      version: "v1alpha1",
      kind: "Gadget",
      plural: "gadgets",
      namespaced: false,
      shortNames: ["gd"]
    }]
  })
})
afterAll(async () => {
  await emu.close()
})

const u = (path: string) => `${emu.url}${path}`
const call = (method: string, path: string, body?: unknown, o?: Parameters<typeof kubeCall>[3]) =>
  kubeCall(method, u(path), body, o)
const failure = (code: number, reason: string, message: string, details?: object) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details === undefined ? {} : { details }),
  code
})
const container = { name: "c", image: "busybox:1.36" }

interface KindCase {
  kind: string
  plural: string
  group: string
  collection: string
  body: (name: string) => object
  deleteAnswers: "object" | "status"
}
const ns = (group: string, version: string, plural: string) =>
  group === "" ? `/api/v1/namespaces/default/${plural}` : `/apis/${group}/${version}/namespaces/default/${plural}`
const cases: Array<KindCase> = [
  {
    kind: "Service",
    plural: "services",
    group: "",
    collection: ns("", "v1", "services"),
    body: () => ({ spec: { ports: [{ port: 80 }] } }),
    deleteAnswers: "object"
  },
  {
    kind: "Endpoints",
    plural: "endpoints",
    group: "",
    collection: ns("", "v1", "endpoints"),
    body: () => ({ subsets: [{ addresses: [{ ip: "10.0.0.1" }], ports: [{ port: 80 }] }] }),
    deleteAnswers: "status"
  },
  {
    kind: "Pod",
    plural: "pods",
    group: "",
    collection: ns("", "v1", "pods"),
    body: () => ({ spec: { containers: [container] } }),
    deleteAnswers: "object"
  },
  {
    kind: "Event",
    plural: "events",
    group: "",
    collection: ns("", "v1", "events"),
    body: () => ({
      involvedObject: { kind: "Pod", name: "p", namespace: "default" },
      reason: "Tested",
      message: "m",
      type: "Normal"
    }),
    deleteAnswers: "status"
  },
  {
    kind: "Namespace",
    plural: "namespaces",
    group: "",
    collection: "/api/v1/namespaces",
    body: () => ({}),
    deleteAnswers: "object"
  },
  {
    kind: "EndpointSlice",
    plural: "endpointslices",
    group: "discovery.k8s.io",
    collection: ns("discovery.k8s.io", "v1", "endpointslices"),
    body: () => ({
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.2"], conditions: { ready: true } }],
      ports: [{ port: 80 }]
    }),
    deleteAnswers: "status"
  },
  {
    kind: "Job",
    plural: "jobs",
    group: "batch",
    collection: ns("batch", "v1", "jobs"),
    body: () => ({ spec: { template: { spec: { restartPolicy: "Never", containers: [container] } } } }),
    deleteAnswers: "status"
  },
  {
    kind: "DaemonSet",
    plural: "daemonsets",
    group: "apps",
    collection: ns("apps", "v1", "daemonsets"),
    body: () => ({
      spec: {
        selector: { matchLabels: { app: "d" } },
        template: { metadata: { labels: { app: "d" } }, spec: { containers: [container] } }
      }
    }),
    deleteAnswers: "status"
  },
  {
    kind: "Widget",
    plural: "widgets",
    group: "example.com",
    collection: ns("example.com", "v1", "widgets"),
    body: () => ({ spec: { size: 1 } }),
    deleteAnswers: "status"
  }
]

describe("every kind over HTTP", () => {
  it.each(cases)("$kind: create, get, AlreadyExists, update, stale Conflict, list, delete, NotFound", async (c) => {
    const name = uniq(c.plural.slice(0, 3))
    const qualified = c.group === "" ? c.plural : `${c.plural}.${c.group}`
    const details = { name, ...(c.group === "" ? {} : { group: c.group }), kind: c.plural }
    const apiVersion = c.group === "" ? "v1" : `${c.group}/${c.kind === "Widget" ? "v1" : "v1"}`
    const created = await call("POST", c.collection, { apiVersion, kind: c.kind, metadata: { name }, ...c.body(name) })
    expect(created.status).toBe(201)
    const o = created.json as KubeObject
    expect(o).toMatchObject({ kind: c.kind, apiVersion, metadata: { name } })
    expect(o.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(o.metadata.resourceVersion).toMatch(/^\d+$/)
    expect(o.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(o.metadata.namespace).toBe(c.kind === "Namespace" ? undefined : "default")
    const got = await call("GET", `${c.collection}/${name}`)
    expect(got.json).toEqual(o)

    const again = await call("POST", c.collection, { metadata: { name }, ...c.body(name) })
    expect(again.status).toBe(409)
    expect(again.json).toEqual(failure(409, "AlreadyExists", `${qualified} "${name}" already exists`, details))

    const updated = await call("PUT", `${c.collection}/${name}`, {
      ...o,
      metadata: { ...o.metadata, labels: { changed: "yes" } }
    })
    expect(updated.status).toBe(200)
    expect(Number(updated.json.metadata.resourceVersion)).toBeGreaterThan(Number(o.metadata.resourceVersion))
    expect(updated.json.metadata.labels).toMatchObject({ changed: "yes" })
    const stale = await call("PUT", `${c.collection}/${name}`, {
      ...o,
      metadata: { ...o.metadata, labels: { changed: "again" } }
    })
    expect(stale.status).toBe(409)
    expect(stale.json).toEqual(
      failure(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        details
      )
    )

    const list = await call("GET", c.collection)
    expect(list.json.kind).toBe(`${c.kind}List`)
    expect(list.json.apiVersion).toBe(apiVersion)
    expect(list.json.items.map((i: KubeObject) => i.metadata.name)).toContain(name)
    const item = list.json.items.find((i: KubeObject) => i.metadata.name === name)
    // Typed lists carry no kind per item; unstructured (custom resource) lists do.
    expect(item.kind).toBe(c.kind === "Widget" ? "Widget" : undefined)

    const deleted = await call("DELETE", `${c.collection}/${name}`)
    expect(deleted.status).toBe(200)
    if (c.deleteAnswers === "object") {
      expect(deleted.json).toMatchObject({ kind: c.kind, metadata: { name, uid: o.metadata.uid } })
    } else {
      expect(deleted.json).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { ...details, uid: o.metadata.uid }
      })
    }
    const gone = await call("GET", `${c.collection}/${name}`)
    expect(gone.status).toBe(404)
    expect(gone.json).toEqual(failure(404, "NotFound", `${qualified} "${name}" not found`, details))
  })

  it("cluster-wide list and the namespaced path of a cluster-scoped kind", async () => {
    emu.putObject(objects.pod({ name: uniq("cw"), namespace: "kube-system", labels: { cw: "1" } }))
    emu.putObject(objects.pod({ name: uniq("cw"), labels: { cw: "1" } }))
    const all = await call("GET", "/api/v1/pods?labelSelector=cw%3D1")
    expect(all.status).toBe(200)
    expect(all.json.items.map((p: KubeObject) => p.metadata.namespace).sort()).toEqual(["default", "kube-system"])
    expect((await call("POST", "/api/v1/pods", { metadata: { name: "x" } })).status).toBe(405)
    const wrong = await call("GET", "/api/v1/namespaces/default/namespaces")
    expect(wrong.status).toBe(404)
    expect(wrong.json).toEqual(failure(404, "NotFound", "the server could not find the requested resource", {}))
  })

  it("a namespaced object in a missing namespace is 404 namespaces not found; a created namespace admits it", async () => {
    const nsName = uniq("team")
    const pod = { metadata: { name: "p" }, spec: { containers: [container] } }
    const missing = await call("POST", `/api/v1/namespaces/${nsName}/pods`, pod)
    expect(missing.json).toEqual(
      failure(404, "NotFound", `namespaces "${nsName}" not found`, { name: nsName, kind: "namespaces" })
    )
    expect((await call("POST", "/api/v1/namespaces", { metadata: { name: nsName } })).status).toBe(201)
    expect((await call("POST", `/api/v1/namespaces/${nsName}/pods`, pod)).status).toBe(201)
  })
})

describe("what the server sets", () => {
  it("generation: 1 on create, +1 on a spec change, unchanged by labels or status; Job selector and labels generated", async () => {
    const name = uniq("job")
    const path = "/apis/batch/v1/namespaces/default/jobs"
    const j = (await call("POST", path, {
      metadata: { name },
      spec: { template: { spec: { restartPolicy: "Never", containers: [container] } } }
    })).json
    expect(j.metadata.generation).toBe(1)
    expect(j.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: "NonIndexed",
      suspend: false
    })
    expect(j.spec.selector).toEqual({ matchLabels: { "batch.kubernetes.io/controller-uid": j.metadata.uid } })
    expect(j.spec.template.metadata.labels).toEqual({
      "batch.kubernetes.io/controller-uid": j.metadata.uid,
      "batch.kubernetes.io/job-name": name,
      "controller-uid": j.metadata.uid,
      "job-name": name
    })
    expect(j.status).toEqual({})
    const labelled =
      (await call("PUT", `${path}/${name}`, { ...j, metadata: { ...j.metadata, labels: { a: "b" } } })).json
    expect(labelled.metadata.generation).toBe(1)
    const status = (await call("PUT", `${path}/${name}/status`, { ...labelled, status: { succeeded: 1 } })).json
    expect(status.metadata.generation).toBe(1)
    expect(status.status).toEqual({ succeeded: 1 })
    const spec = (await call("PUT", `${path}/${name}`, { ...status, spec: { ...status.spec, backoffLimit: 2 } })).json
    expect(spec.metadata.generation).toBe(2)
    expect(spec.status).toEqual({ succeeded: 1 })
  })

  it("Pod: created Pending whatever status is sent, with the kubelet-independent defaults", async () => {
    const p = (await call("POST", "/api/v1/namespaces/default/pods", {
      metadata: { name: uniq("pod") },
      spec: { containers: [{ name: "c", image: "busybox" }] },
      status: { phase: "Running" }
    })).json
    expect(p.status).toEqual({ phase: "Pending", qosClass: "BestEffort" })
    expect(p.spec).toMatchObject({
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
      schedulerName: "default-scheduler",
      terminationGracePeriodSeconds: 30
    })
    expect(p.spec.containers[0]).toMatchObject({
      imagePullPolicy: "Always",
      terminationMessagePath: "/dev/termination-log"
    })
    expect(p.metadata).not.toHaveProperty("generation")
  })

  it("Service: a cluster IP allocated, kept by an update that leaves it out; ports defaulted", async () => {
    const name = uniq("svc")
    const path = "/api/v1/namespaces/default/services"
    const s =
      (await call("POST", path, { metadata: { name }, spec: { selector: { app: "a" }, ports: [{ port: 80 }] } })).json
    expect(s.spec).toMatchObject({
      type: "ClusterIP",
      sessionAffinity: "None",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack"
    })
    expect(s.spec.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/)
    expect(s.spec.clusterIPs).toEqual([s.spec.clusterIP])
    expect(s.spec.ports).toEqual([{ port: 80, protocol: "TCP", targetPort: 80 }])
    expect(s.status).toEqual({ loadBalancer: {} })
    const put = (await call("PUT", `${path}/${name}`, {
      metadata: { name },
      spec: { selector: { app: "b" }, ports: [{ port: 80 }] }
    })).json
    expect(put.spec.clusterIP).toBe(s.spec.clusterIP)
    expect(put.spec.selector).toEqual({ app: "b" })
  })

  it("Namespace: the metadata.name label, the kubernetes finalizer and phase Active", async () => {
    const name = uniq("ns")
    const n = (await call("POST", "/api/v1/namespaces", { metadata: { name } })).json
    expect(n.metadata.labels).toEqual({ "kubernetes.io/metadata.name": name })
    expect(n.spec).toEqual({ finalizers: ["kubernetes"] })
    expect(n.status).toEqual({ phase: "Active" })
  })

  it("EndpointSlice: ports get name \"\" and protocol TCP; generation counts content changes", async () => {
    const name = uniq("eps")
    const path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    const e =
      (await call("POST", path, { metadata: { name }, addressType: "IPv4", endpoints: [], ports: [{ port: 8080 }] }))
        .json
    expect(e.ports).toEqual([{ port: 8080, name: "", protocol: "TCP" }])
    expect(e.metadata.generation).toBe(1)
    const more = (await call("PUT", `${path}/${name}`, {
      ...e,
      endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready: true } }]
    })).json
    expect(more.metadata.generation).toBe(2)
  })

  it("EndpointSlice: a PUT without resourceVersion replaces it, uid kept; a PUT of a missing one is 404", async () => {
    // kube-apiserver's endpointSliceStrategy: AllowUnconditionalUpdate true, AllowCreateOnUpdate false.
    const name = uniq("eps")
    const path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    const body = (ip: string) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name },
      addressType: "IPv4",
      endpoints: [{ addresses: [ip], conditions: { ready: true } }],
      ports: [{ name: "http", port: 8080 }]
    })
    const missing = await call("PUT", `${path}/${name}`, body("10.1.0.1"))
    expect(missing.status).toBe(404)
    expect(missing.json.message).toBe(`endpointslices.discovery.k8s.io "${name}" not found`)
    const created = (await call("POST", path, body("10.1.0.1"))).json
    const replaced = await call("PUT", `${path}/${name}`, body("10.1.0.2"))
    expect(replaced.status).toBe(200)
    expect(replaced.json.metadata.uid).toBe(created.metadata.uid)
    expect(replaced.json.endpoints[0].addresses).toEqual(["10.1.0.2"])
    // The same object again is a no-op: same resourceVersion.
    const again = await call("PUT", `${path}/${name}`, body("10.1.0.2"))
    expect(again.json.metadata.resourceVersion).toBe(replaced.json.metadata.resourceVersion)
  })
})

describe("validation: 422 Invalid with the real bodies", () => {
  const invalid = (
    kind: string,
    group: string,
    name: string,
    field: string,
    message: string,
    reason = "FieldValueInvalid"
  ) =>
    failure(422, "Invalid", `${group === "" ? kind : `${kind}.${group}`} "${name}" is invalid: ${field}: ${message}`, {
      name,
      ...(group === "" ? {} : { group }),
      kind,
      causes: [{ reason, message, field }]
    })

  it("EndpointSlice without addressType; an address not of its type", async () => {
    const path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    const r = await call("POST", path, { metadata: { name: "noaddr" }, endpoints: [] })
    expect(r.status).toBe(422)
    expect(r.json).toEqual(
      invalid("EndpointSlice", "discovery.k8s.io", "noaddr", "addressType", "Required value", "FieldValueRequired")
    )
    const bad = await call("POST", path, {
      metadata: { name: "badaddr" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["fe80::1"] }]
    })
    expect(bad.json.message).toBe(
      `EndpointSlice.discovery.k8s.io "badaddr" is invalid: endpoints[0].addresses[0]: Invalid value: "fe80::1": must be a valid IPv4 address`
    )
  })

  it("Service port 0, a Service name that is not a DNS-1035 label", async () => {
    const path = "/api/v1/namespaces/default/services"
    const r = await call("POST", path, { metadata: { name: "p0" }, spec: { ports: [{ port: 0, targetPort: 8080 }] } })
    expect(r.json).toEqual(
      invalid("Service", "", "p0", "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive")
    )
    const dotted = await call("POST", path, { metadata: { name: "a.b" }, spec: { ports: [{ port: 80 }] } })
    expect(dotted.status).toBe(422)
    expect(dotted.json.message).toContain(
      `Service "a.b" is invalid: metadata.name: Invalid value: "a.b": a DNS-1035 label must consist of`
    )
    const noPorts = await call("POST", path, { metadata: { name: "np" }, spec: {} })
    expect(noPorts.json.message).toBe(`Service "np" is invalid: spec.ports: Required value`)
  })

  it("Job without an allowed restartPolicy, DaemonSet selector not matching its template, Pod without containers, Event namespace", async () => {
    const job = await call("POST", "/apis/batch/v1/namespaces/default/jobs", {
      metadata: { name: "j" },
      spec: { template: { spec: { containers: [container] } } }
    })
    expect(job.json).toEqual(
      invalid(
        "Job",
        "batch",
        "j",
        "spec.template.spec.restartPolicy",
        `Unsupported value: "Always": supported values: "OnFailure", "Never"`,
        "FieldValueNotSupported"
      )
    )
    const ds = await call("POST", "/apis/apps/v1/namespaces/default/daemonsets", {
      metadata: { name: "d" },
      spec: {
        selector: { matchLabels: { app: "x" } },
        template: { metadata: { labels: { app: "y" } }, spec: { containers: [container] } }
      }
    })
    expect(ds.json.message).toBe(
      "DaemonSet.apps \"d\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"
    )
    const pod = await call("POST", "/api/v1/namespaces/default/pods", { metadata: { name: "nc" }, spec: {} })
    expect(pod.json).toEqual(invalid("Pod", "", "nc", "spec.containers", "Required value", "FieldValueRequired"))
    const ev = await call("POST", "/api/v1/namespaces/default/events", {
      metadata: { name: "e" },
      involvedObject: { kind: "Pod", name: "p", namespace: "kube-system" }
    })
    expect(ev.json).toEqual(
      invalid(
        "Event",
        "",
        "e",
        "involvedObject.namespace",
        `Invalid value: "kube-system": does not match event.namespace`
      )
    )
  })
})

describe("status subresource", () => {
  it("PUT /status changes only status; PUT of the object keeps status; PATCH /status merges", async () => {
    const name = uniq("st")
    const path = `/api/v1/namespaces/default/pods/${name}`
    emu.putObject(objects.pod({ name, labels: { a: "1" } }))
    const p = (await call("GET", path)).json
    const running = objects.pod({ name, nodeName: "n1", ready: true }).status
    const st = await call("PUT", `${path}/status`, {
      ...p,
      metadata: { ...p.metadata, labels: { a: "2" } },
      spec: { containers: [] },
      status: running
    })
    expect(st.status).toBe(200)
    // Typed decoding drops the nulls (lastProbeTime: null) a client sends.
    const withoutNulls = JSON.parse(JSON.stringify(running, (_k, v) => (v === null ? undefined : v)))
    expect(st.json.status).toEqual(withoutNulls)
    expect(st.json.metadata.labels).toEqual({ a: "1" })
    expect(st.json.spec).toEqual(p.spec)
    const main = await call("PUT", path, { ...st.json, status: { phase: "Failed" } })
    expect(main.json.status).toEqual(withoutNulls)
    const patched = await call("PATCH", `${path}/status`, { status: { phase: "Succeeded" } }, {
      type: "application/merge-patch+json"
    })
    expect(patched.json.status.phase).toBe("Succeeded")
    expect(patched.json.status.conditions).toEqual(withoutNulls.conditions)
    expect((await call("GET", "/api/v1/namespaces/default/endpoints/x/status")).status).toBe(404)
  })
})

describe("selectors and paging", () => {
  const names = (r: { json: any }) => r.json.items.map((i: KubeObject) => i.metadata.name).sort()
  beforeAll(() => {
    emu.putObject(
      objects.pod({ name: "sel-a", labels: { suite: "sel", app: "web", tier: "fe" }, nodeName: "n1", ready: true })
    )
    emu.putObject(
      objects.pod({ name: "sel-b", labels: { suite: "sel", app: "web", tier: "be" }, nodeName: "n2", phase: "Pending" })
    )
    emu.putObject(objects.pod({ name: "sel-c", namespace: "kube-system", labels: { suite: "sel", app: "db" } }))
  })
  const pods = (q: string) => call("GET", `/api/v1/pods?${q}`)
  const ls = (s: string) => `labelSelector=${encodeURIComponent(`suite=sel,${s}`)}`
  const fs = (s: string) => `labelSelector=suite%3Dsel&fieldSelector=${encodeURIComponent(s)}`

  it.each([
    ["app=web", ["sel-a", "sel-b"]],
    ["app==web", ["sel-a", "sel-b"]],
    ["app!=web", ["sel-c"]],
    ["tier in (fe,be)", ["sel-a", "sel-b"]],
    ["tier notin (fe)", ["sel-b", "sel-c"]],
    ["tier", ["sel-a", "sel-b"]],
    ["!tier", ["sel-c"]]
  ])("labelSelector %s", async (sel, want) => {
    expect(names(await pods(ls(sel)))).toEqual(want)
  })

  it.each([
    ["metadata.name=sel-a", ["sel-a"]],
    ["metadata.namespace=kube-system", ["sel-c"]],
    ["spec.nodeName=n1", ["sel-a"]],
    ["spec.nodeName=", ["sel-c"]],
    ["status.phase=Pending", ["sel-b", "sel-c"]],
    ["status.phase!=Pending,metadata.namespace==default", ["sel-a"]]
  ])("fieldSelector %s", async (sel, want) => {
    expect(names(await pods(fs(sel)))).toEqual(want)
  })

  it("unsupported field labels and malformed label selectors are 400 with the server's words", async () => {
    const podField = await pods("fieldSelector=spec.foo%3Dx")
    expect(podField.json).toEqual(failure(400, "BadRequest", "field label not supported: spec.foo"))
    const sliceField = await call("GET", "/apis/discovery.k8s.io/v1/endpointslices?fieldSelector=spec.foo%3Dx")
    expect(sliceField.json.message).toBe(
      `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`
    )
    const events = await call("GET", "/api/v1/events?fieldSelector=involvedObject.name%3Dx,reason%3DY")
    expect(events.status).toBe(200)
    const badLabel = await pods("labelSelector=a%20b%3Dc")
    expect(badLabel.status).toBe(400)
    expect(badLabel.json.message).toMatch(/^unable to parse requirement: /)
  })

  it("limit and continue page through in key order with remainingItemCount", async () => {
    const first = await pods(`${ls("")}&limit=2`)
    expect(first.json.items.map((i: KubeObject) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual([
      "default/sel-a",
      "default/sel-b"
    ])
    expect(first.json.metadata.remainingItemCount).toBe(1)
    const rest = await pods(`${ls("")}&limit=2&continue=${first.json.metadata.continue}`)
    expect(names(rest)).toEqual(["sel-c"])
    expect(rest.json.metadata.continue).toBeUndefined()
    expect(rest.json.metadata.resourceVersion).toBe(first.json.metadata.resourceVersion)
    expect((await pods("continue=garbage")).status).toBe(400)
  })
})

describe("watch", () => {
  const podsUrl = (q: string, namespace = "default") => u(`/api/v1/namespaces/${namespace}/pods?watch=true&${q}`)

  it("a label-filtered watch: ADDED, MODIFIED, DELETED when the label goes, ADDED when it comes back, DELETED; RVs increase", async () => {
    const name = uniq("wl")
    const w = await openWatch(podsUrl(`labelSelector=watch%3D${name}`))
    expect(w.status).toBe(200)
    await emu.watchOpened("t1")
    const labels = { watch: name }
    emu.putObject(objects.pod({ name, labels }))
    emu.updateObject("v1", "Pod", "default", name, (p) => void (p["status"] = { phase: "Running" }))
    emu.updateObject("v1", "Pod", "default", name, (p) => void (p.metadata.labels = { other: "x" }))
    emu.updateObject("v1", "Pod", "default", name, (p) => void (p.metadata.labels = labels))
    emu.deleteObject("v1", "Pod", "default", name)
    const events = []
    for (let i = 0; i < 5; i++) events.push(await w.next())
    expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED", "ADDED", "DELETED"])
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion))
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b))
    expect(new Set(rvs).size).toBe(5)
    expect(events[0].object).toMatchObject({ kind: "Pod", apiVersion: "v1" })
    w.close()
  })

  it("cluster-wide watch across namespaces; resume from a resourceVersion; 410 Expired after compaction", async () => {
    const tag = uniq("cw")
    const w = await openWatch(u(`/api/v1/pods?watch=1&labelSelector=tag%3D${tag}`))
    await emu.watchOpened()
    const a = emu.putObject(objects.pod({ name: `${tag}-a`, labels: { tag } }))
    emu.putObject(objects.pod({ name: `${tag}-b`, namespace: "kube-system", labels: { tag } }))
    expect((await w.next()).object.metadata.namespace).toBe("default")
    expect((await w.next()).object.metadata.namespace).toBe("kube-system")
    w.close()
    const resumed = await openWatch(
      u(`/api/v1/pods?watch=1&labelSelector=tag%3D${tag}&resourceVersion=${a.metadata.resourceVersion}`)
    )
    expect((await resumed.next()).object.metadata.name).toBe(`${tag}-b`)
    resumed.close()
    emu.compact()
    const old = await openWatch(
      u(`/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=${a.metadata.resourceVersion}`)
    )
    const err = await old.next()
    expect(err).toEqual({
      type: "ERROR",
      object: failure(
        410,
        "Expired",
        expect.stringContaining(`too old resource version: ${a.metadata.resourceVersion}`)
      )
    })
    await old.ended
  })

  it("bookmarks carry only a resourceVersion; sendInitialEvents ends the initial list with the initial-events-end bookmark; timeoutSeconds ends", async () => {
    const bm = await openWatch(
      u(`/apis/batch/v1/namespaces/default/jobs?watch=1&allowWatchBookmarks=true&resourceVersion=${emu.resourceVersion}`)
    )
    const mark = await bm.nextOf("BOOKMARK")
    expect(mark.object).toEqual({
      kind: "Job",
      apiVersion: "batch/v1",
      metadata: { resourceVersion: String(emu.resourceVersion) },
      spec: {},
      status: {}
    })
    bm.close()
    const name = uniq("init")
    emu.putObject(objects.endpointSlice({ service: name, name, endpoints: [{ ip: "10.0.0.9" }] }))
    const init = await openWatch(
      u(`/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=kubernetes.io%2Fservice-name%3D${name}`)
    )
    expect(await init.next()).toMatchObject({ type: "ADDED", object: { metadata: { name } } })
    expect(await init.next()).toMatchObject({
      type: "BOOKMARK",
      object: { metadata: { annotations: { "k8s.io/initial-events-end": "true" } } }
    })
    init.close()
    const t0 = Date.now()
    const t = await openWatch(u("/api/v1/namespaces/default/events?watch=1&timeoutSeconds=1"))
    await t.ended
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
  })
})

describe("no-op updates: nothing written, same resourceVersion, no event", () => {
  const leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
  const micro = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z")

  it("a Lease PUT of exactly the stored object keeps its resourceVersion and managedFields; a renew bumps it", async () => {
    const name = uniq("noop")
    const spec = {
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: micro(1e12),
      renewTime: micro(1e12),
      leaseTransitions: 0
    }
    const l = (await call("POST", leases, { metadata: { name }, spec })).json
    const w = await openWatch(
      u(`${leases}?watch=1&fieldSelector=metadata.name%3D${name}&resourceVersion=${l.metadata.resourceVersion}`)
    )
    const before = emu.resourceVersion
    const same = await call("PUT", `${leases}/${name}`, l)
    expect(same.status).toBe(200)
    expect(same.json).toEqual(l)
    expect(emu.resourceVersion).toBe(before)
    const renewed = await call("PUT", `${leases}/${name}`, { ...l, spec: { ...l.spec, renewTime: micro(1e12 + 2000) } })
    expect(Number(renewed.json.metadata.resourceVersion)).toBe(before + 1)
    // The first event the watch sees is the renew: the no-op sent none.
    const e = await w.next()
    expect(e.type).toBe("MODIFIED")
    expect(e.object.metadata.resourceVersion).toBe(renewed.json.metadata.resourceVersion)
    expect(e.object.spec.renewTime).toBe(micro(1e12 + 2000))
    w.close()
  })

  it("a PUT that differs only in key order or in a time's notation is still a no-op", async () => {
    const name = uniq("noop")
    const l = (await call("POST", leases, {
      metadata: { name },
      spec: { holderIdentity: "a", renewTime: "2026-01-01T00:00:00.000000Z" }
    })).json
    const reordered = {
      spec: { renewTime: "2026-01-01T02:00:00.000000+02:00", holderIdentity: "a" },
      metadata: l.metadata,
      kind: "Lease"
    }
    const r = await call("PUT", `${leases}/${name}`, reordered)
    expect(r.json.metadata.resourceVersion).toBe(l.metadata.resourceVersion)
  })

  it("merge and JSON patches that change nothing keep the resourceVersion; one that changes a label bumps it", async () => {
    const name = uniq("noop")
    const p = emu.putObject(objects.pod({ name, labels: { app: "x" } }))
    const path = `/api/v1/namespaces/default/pods/${name}`
    const merge = await call("PATCH", path, { metadata: { labels: { app: "x" } } }, {
      type: "application/merge-patch+json"
    })
    expect(merge.json.metadata.resourceVersion).toBe(p.metadata.resourceVersion)
    const json = await call("PATCH", path, [{ op: "test", path: "/metadata/labels/app", value: "x" }], {
      type: "application/json-patch+json"
    })
    expect(json.json.metadata.resourceVersion).toBe(p.metadata.resourceVersion)
    const changed = await call("PATCH", path, { metadata: { labels: { app: "y" } } }, {
      type: "application/strategic-merge-patch+json"
    })
    expect(Number(changed.json.metadata.resourceVersion)).toBeGreaterThan(Number(p.metadata.resourceVersion))
    expect(changed.json.metadata.managedFields.at(-1)).toMatchObject({ manager: "node", operation: "Update" })
  })

  it("a Service PUT leaving out its allocated cluster IP and defaults is a no-op", async () => {
    const name = uniq("noop")
    const path = "/api/v1/namespaces/default/services"
    const body = { metadata: { name }, spec: { selector: { app: "a" }, ports: [{ port: 80 }] } }
    const s = (await call("POST", path, body)).json
    const again = await call("PUT", `${path}/${name}`, body)
    expect(again.status).toBe(200)
    expect(again.json.metadata.resourceVersion).toBe(s.metadata.resourceVersion)
  })

  it("putObject of an identical object writes nothing and tells no listener", async () => {
    const events: Array<string> = []
    const off = emu.onObjectChange((e) => events.push(`${e.type}:${e.object.kind}:${e.object.metadata.name}`))
    const name = uniq("noop")
    const first = emu.putObject(objects.job({ name, succeeded: 1 }))
    const second = emu.putObject(first)
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion)
    emu.putObject({ ...first, status: { ...(first["status"] as object), succeeded: 2 } })
    off()
    expect(events).toEqual([`ADDED:Job:${name}`, `MODIFIED:Job:${name}`])
  })
})

describe("deletes", () => {
  it("finalizers: DELETE marks the object (200, deletionTimestamp, MODIFIED); removing the last finalizer deletes it", async () => {
    const name = uniq("fin")
    const path = `/apis/example.com/v1/namespaces/default/widgets/${name}`
    const w0 = emu.putObject({
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name, finalizers: ["example.com/cleanup"] },
      spec: {}
    })
    const watch = await openWatch(
      u(`/apis/example.com/v1/namespaces/default/widgets?watch=1&resourceVersion=${w0.metadata.resourceVersion}`)
    )
    const marked = await call("DELETE", path)
    expect(marked.status).toBe(200)
    expect(marked.json.metadata.deletionTimestamp).toMatch(/Z$/)
    expect(marked.json.metadata.finalizers).toEqual(["example.com/cleanup"])
    expect((await watch.next()).type).toBe("MODIFIED")
    const cleared = await call("PATCH", path, [{ op: "remove", path: "/metadata/finalizers" }], {
      type: "application/json-patch+json"
    })
    expect(cleared.status).toBe(200)
    expect((await watch.next()).type).toBe("DELETED")
    expect((await call("GET", path)).status).toBe(404)
    watch.close()
  })

  it("preconditions: a stale resourceVersion or another uid is 409 with the precondition message", async () => {
    const name = uniq("pre")
    const e = emu.putObject(objects.endpoints({ service: name, endpoints: [{ ip: "10.0.0.3" }] }))
    const path = `/api/v1/namespaces/default/endpoints/${name}`
    const stale = await call("DELETE", path, { preconditions: { resourceVersion: "1" } })
    expect(stale.json).toEqual(
      failure(
        409,
        "Conflict",
        `Operation cannot be fulfilled on endpoints "${name}": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: ${e.metadata.resourceVersion}`,
        { name, kind: "endpoints" }
      )
    )
    expect((await call("DELETE", path, { preconditions: { uid: e.metadata.uid } })).status).toBe(200)
  })

  it("a namespace's deletion takes its contents (each sends DELETED) and answers the Terminating namespace", async () => {
    const nsName = uniq("gone")
    emu.putObject({ apiVersion: "v1", kind: "Namespace", metadata: { name: nsName } })
    emu.putObject(objects.pod({ name: "p", namespace: nsName }))
    emu.putObject(objects.service({ name: "s", namespace: nsName }))
    const deleted: Array<string> = []
    const off = emu.onObjectChange((ev) =>
      ev.type === "DELETED" && deleted.push(`${ev.object.kind}/${ev.object.metadata.name}`)
    )
    const r = await call("DELETE", `/api/v1/namespaces/${nsName}`)
    off()
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ kind: "Namespace", status: { phase: "Terminating" } })
    expect(r.json.metadata.deletionTimestamp).toBeDefined()
    expect(deleted.sort()).toEqual(["Namespace/" + nsName, "Pod/p", "Service/s"])
    expect(emu.listObjects("v1", "Pod", nsName)).toEqual([])
  })

  it("deletecollection deletes what the selector picks and lists it", async () => {
    const tag = uniq("dc")
    for (const n of ["a", "b"]) emu.putObject(objects.pod({ name: `${tag}-${n}`, labels: { tag } }))
    emu.putObject(objects.pod({ name: `${tag}-keep` }))
    const r = await call("DELETE", `/api/v1/namespaces/default/pods?labelSelector=tag%3D${tag}`)
    expect(r.json.kind).toBe("PodList")
    expect(r.json.items.map((p: KubeObject) => p.metadata.name)).toEqual([`${tag}-a`, `${tag}-b`])
    expect(emu.getObject("v1", "Pod", "default", `${tag}-keep`)).toBeDefined()
    expect(emu.getObject("v1", "Pod", "default", `${tag}-a`)).toBeUndefined()
  })
})

describe("patches", () => {
  it("strategic merge merges Service ports by port and honours $patch: delete; merge patch replaces the list", async () => {
    const name = uniq("smp")
    const path = `/api/v1/namespaces/default/services/${name}`
    emu.putObject(
      objects.service({ name, ports: [{ name: "http", port: 80, targetPort: 8080 }, { name: "metrics", port: 9090 }] })
    )
    const smp = await call("PATCH", path, { spec: { ports: [{ port: 80, targetPort: 8081 }] } }, {
      type: "application/strategic-merge-patch+json"
    })
    expect(smp.json.spec.ports).toEqual([
      { name: "http", protocol: "TCP", port: 80, targetPort: 8081 },
      { name: "metrics", protocol: "TCP", port: 9090, targetPort: 9090 }
    ])
    const del = await call("PATCH", path, { spec: { ports: [{ port: 9090, $patch: "delete" }] } }, {
      type: "application/strategic-merge-patch+json"
    })
    expect(del.json.spec.ports.map((p: { port: number }) => p.port)).toEqual([80])
    const merge = await call("PATCH", path, { spec: { ports: [{ name: "x", port: 81 }] } }, {
      type: "application/merge-patch+json"
    })
    expect(merge.json.spec.ports).toEqual([{ name: "x", port: 81, protocol: "TCP", targetPort: 81 }])
  })

  it("a custom resource refuses strategic merge (415); apply creates and then updates it; a stale resourceVersion in a patch is 409", async () => {
    const name = uniq("crp")
    const path = `/apis/example.com/v1/namespaces/default/widgets/${name}`
    const body = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name }, spec: { size: 1 } }
    const applied = await call("PATCH", `${path}?fieldManager=me`, body, { type: "application/apply-patch+yaml" })
    expect(applied.status).toBe(201)
    expect(applied.json.metadata.managedFields[0]).toMatchObject({
      manager: "me",
      operation: "Apply",
      apiVersion: "example.com/v1"
    })
    const smp = await call("PATCH", path, { spec: { size: 2 } }, { type: "application/strategic-merge-patch+json" })
    expect(smp.json).toEqual(
      failure(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
      )
    )
    const again = await call("PATCH", `${path}?fieldManager=me`, { ...body, spec: { size: 3 } }, {
      type: "application/apply-patch+yaml"
    })
    expect(again.json.spec).toEqual({ size: 3 })
    expect(again.json.metadata.generation).toBe(2)
    const stale = await call("PATCH", path, {
      metadata: { resourceVersion: applied.json.metadata.resourceVersion },
      spec: { size: 4 }
    }, {
      type: "application/merge-patch+json"
    })
    expect(stale.status).toBe(409)
    expect(stale.json.message).toContain(`Operation cannot be fulfilled on widgets.example.com "${name}"`)
  })
})

describe("programmatic API", () => {
  it("putObject completes metadata; getObject, listObjects, updateObject, deleteObject; errors name the problem", () => {
    const name = uniq("api")
    const ds = emu.putObject(objects.daemonSet({ name, labels: { app: name }, desired: 2, ready: 1 }))
    expect(ds.metadata).toMatchObject({ name, namespace: "default", generation: 1 })
    expect(ds.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    const pod = emu.putObject(objects.daemonSetPod(ds, "node-1", { ready: true }))
    expect(pod.metadata.ownerReferences).toEqual([
      {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        name,
        uid: ds.metadata.uid,
        controller: true,
        blockOwnerDeletion: true
      }
    ])
    expect(emu.listObjects("v1", "Pod", "default").filter((p) => p.metadata.labels?.["app"] === name)).toHaveLength(1)
    const updated = emu.updateObject(
      "apps/v1",
      "DaemonSet",
      "default",
      name,
      (o) => void ((o["status"] as Record<string, unknown>)["numberReady"] = 2)
    )
    expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(ds.metadata.resourceVersion))
    expect(updated.metadata.generation).toBe(1)
    expect(emu.getObject("apps/v1", "DaemonSet", "default", name)?.["status"]).toMatchObject({ numberReady: 2 })
    expect(emu.deleteObject("apps/v1", "DaemonSet", "default", name)).toBe(true)
    expect(emu.deleteObject("apps/v1", "DaemonSet", "default", name)).toBe(false)
    expect(() => emu.putObject({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name } })).toThrow(
      "the emulator does not serve apps/v1 Deployment"
    )
    expect(() => emu.putObject(objects.pod({ name, namespace: "nowhere" }))).toThrow(`namespaces "nowhere" not found`)
    expect(() => emu.updateObject("v1", "Pod", "default", "absent", () => undefined)).toThrow(`pods "absent" not found`)
  })

  it("the lease helpers keep working beside the generic API", () => {
    const name = uniq("lh")
    const l = emu.setLease("default", name, { holderIdentity: "h", renewTime: "2026-01-01T02:00:00.000001+02:00" })
    expect(l.spec.renewTime).toBe("2026-01-01T00:00:00.000001Z")
    expect(emu.getObject("coordination.k8s.io/v1", "Lease", "default", name)).toEqual(emu.getLease("default", name))
    emu.deleteLease("default", name)
    expect(emu.getLease("default", name)).toBeUndefined()
  })
})

describe("RBAC", () => {
  it("a rule naming a resource and verbs denies exactly that, with the API server's Forbidden bodies", async () => {
    const e = await startEmulator({
      forbidden: [
        { client: "ro", resource: "endpointslices.discovery.k8s.io", verbs: ["list", "watch"] },
        { client: "ro", resource: "pods", verbs: ["get"] },
        { client: "ro", resource: "pods/status", verbs: ["update", "patch"] },
        { client: "none" }
      ]
    })
    try {
      const as = (token: string, method: string, path: string, body?: unknown) =>
        kubeCall(method, `${e.url}${path}`, body, { token })
      const list = await as("ro", "GET", "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices")
      expect(list.status).toBe(403)
      expect(list.json).toEqual(
        failure(
          403,
          "Forbidden",
          `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:team:ro" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "team"`,
          { group: "discovery.k8s.io", kind: "endpointslices" }
        )
      )
      const get = await as("ro", "GET", "/api/v1/namespaces/default/pods/web-0")
      expect(get.json).toEqual(
        failure(
          403,
          "Forbidden",
          `pods "web-0" is forbidden: User "system:serviceaccount:default:ro" cannot get resource "pods" in API group "" in the namespace "default"`,
          { name: "web-0", kind: "pods" }
        )
      )
      const status = await as("ro", "PUT", "/api/v1/namespaces/default/pods/web-0/status", {})
      expect(status.json.message).toBe(
        `pods "web-0" is forbidden: User "system:serviceaccount:default:ro" cannot update resource "pods/status" in API group "" in the namespace "default"`
      )
      const clusterWide = await as("ro", "GET", "/apis/discovery.k8s.io/v1/endpointslices?watch=1")
      expect(clusterWide.json.message).toBe(
        `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:default:ro" cannot watch resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope`
      )
      // Not denied: other verbs and resources; the pods list (only get is denied).
      expect((await as("ro", "GET", "/api/v1/namespaces/default/endpoints")).status).toBe(200)
      expect((await as("ro", "GET", "/api/v1/namespaces/default/pods")).status).toBe(200)
      expect((await as("ro", "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/x")).status).toBe(404)
      const ns = await as("none", "GET", "/api/v1/namespaces/default")
      expect(ns.json.message).toBe(
        `namespaces "default" is forbidden: User "system:serviceaccount:default:none" cannot get resource "namespaces" in API group "" in the namespace "default"`
      )
      const events = await as("none", "POST", "/api/v1/namespaces/default/events", {})
      expect(events.json.message).toBe(
        `events is forbidden: User "system:serviceaccount:default:none" cannot create resource "events" in API group "" in the namespace "default"`
      )
    } finally {
      await e.close()
    }
  })
})

describe("a missing API group", () => {
  it("is absent from discovery and its paths are 404 as for an unknown group; Endpoints remain", async () => {
    const e = await startEmulator({ missingGroups: ["discovery.k8s.io"] })
    try {
      const get = (path: string, accept?: string) =>
        kubeCall("GET", `${e.url}${path}`, undefined, accept === undefined ? {} : { accept })
      const notFound = failure(404, "NotFound", "the server could not find the requested resource", {})
      for (
        const path of [
          "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
          "/apis/discovery.k8s.io/v1/endpointslices?watch=1",
          "/apis/discovery.k8s.io/v1",
          "/apis/discovery.k8s.io"
        ]
      ) {
        const r = await get(path)
        expect(r.status).toBe(404)
        expect(r.json).toEqual(notFound)
      }
      const groups = (await get("/apis")).json.groups.map((g: { name: string }) => g.name)
      expect(groups).not.toContain("discovery.k8s.io")
      expect(groups).toContain("batch")
      const aggregated = await get(
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
      )
      expect(aggregated.json.items.map((g: { metadata: { name: string } }) => g.metadata.name)).not.toContain(
        "discovery.k8s.io"
      )
      expect((await get("/openapi/v3")).json.paths).not.toHaveProperty("apis/discovery.k8s.io/v1")
      expect((await get("/api/v1/namespaces/default/endpoints")).status).toBe(200)
      expect(() => e.putObject(objects.endpointSlice({ service: "s", endpoints: [] }))).toThrow(
        "does not serve discovery.k8s.io/v1 EndpointSlice"
      )
    } finally {
      await e.close()
    }
  })
})

describe("faults by resource", () => {
  it("a fault limited to events fails only events, counted per resource", async () => {
    emu.resetCounts()
    emu.setFault("evf", { status: 503, retryAfterSeconds: 1, resources: ["events"] })
    try {
      const ev = await call("POST", "/api/v1/namespaces/default/events", { metadata: { name: uniq("ev") } }, {
        token: "evf"
      })
      expect(ev.status).toBe(503)
      expect(ev.json.reason).toBe("ServiceUnavailable")
      expect((await call("GET", "/api/v1/namespaces/default/pods", undefined, { token: "evf" })).status).toBe(200)
      expect(
        (await call("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases", undefined, { token: "evf" }))
          .status
      ).toBe(200)
      expect(emu.requests("evf", "events")).toMatchObject({ create: 1, list: 0 })
      expect(emu.requests("evf")).toMatchObject({ create: 1, list: 2 })
      expect(emu.requests("evf", "leases.coordination.k8s.io").list).toBe(1)
    } finally {
      emu.setFault("evf", undefined)
    }
  })
})

describe("custom resources and discovery", () => {
  it("a declared cluster-scoped custom resource is served and discovered; kinds list with short names and verbs", async () => {
    const g = await call("POST", "/apis/example.com/v1alpha1/gadgets", {
      apiVersion: "example.com/v1alpha1",
      kind: "Gadget",
      metadata: { name: "g1" },
      spec: { x: 1 }
    })
    expect(g.status).toBe(201)
    expect(g.json.metadata).not.toHaveProperty("namespace")
    expect((await call("GET", "/apis/example.com/v1alpha1/namespaces/default/gadgets/g1")).status).toBe(404)
    const group = (await call("GET", "/apis/example.com")).json
    expect(group.versions.map((v: { version: string }) => v.version)).toEqual(["v1", "v1alpha1"])
    const gadgets = (await call("GET", "/apis/example.com/v1alpha1")).json.resources
    expect(gadgets).toEqual([
      {
        name: "gadgets",
        singularName: "gadget",
        namespaced: false,
        kind: "Gadget",
        verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        shortNames: ["gd"]
      },
      { name: "gadgets/status", singularName: "", namespaced: false, kind: "Gadget", verbs: ["get", "patch", "update"] }
    ])
    const core = (await call("GET", "/api/v1")).json.resources
    const short = (n: string) => core.find((r: { name: string }) => r.name === n)?.shortNames
    expect([short("services"), short("endpoints"), short("pods"), short("events"), short("namespaces")]).toEqual([
      ["svc"],
      ["ep"],
      ["po"],
      ["ev"],
      ["ns"]
    ])
    const ds = (await call("GET", "/apis/apps/v1")).json.resources[0]
    expect(ds).toMatchObject({
      name: "daemonsets",
      kind: "DaemonSet",
      namespaced: true,
      shortNames: ["ds"],
      categories: ["all"]
    })
    const aggregated = await call("GET", "/api", undefined, {
      accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    })
    expect(aggregated.headers.get("content-type")).toBe(
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    expect(aggregated.json.items[0].versions[0].resources.find((r: { resource: string }) => r.resource === "pods"))
      .toMatchObject({
        responseKind: { group: "", version: "v1", kind: "Pod" },
        scope: "Namespaced",
        shortNames: ["po"],
        subresources: [{ subresource: "status", verbs: ["get", "patch", "update"] }]
      })
    const openapi = (await call("GET", "/openapi/v3/apis/discovery.k8s.io/v1")).json
    expect(openapi.paths["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"].post).toMatchObject({
      operationId: "createDiscoveryV1NamespacedEndpointSlice",
      "x-kubernetes-group-version-kind": { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice" }
    })
  })
})

describe("server-side printing", () => {
  it("ages as duration.HumanDuration writes them", () => {
    const s = 1000
    expect(
      [
        5 * s,
        119 * s,
        150 * s,
        600 * s,
        179 * 60 * s,
        200 * 60 * s,
        9 * 3600 * s,
        50 * 3600 * s,
        400 * 86400 * s,
        800 * 86400 * s,
        -5 * s
      ]
        .map(humanDuration)
    ).toEqual(["5s", "119s", "2m30s", "10m", "179m", "3h20m", "9h", "2d2h", "400d", "2y70d", "<invalid>"])
  })

  it("a Table for a list when the client asks for one, plain JSON otherwise", async () => {
    const name = uniq("tbl")
    emu.putObject(objects.daemonSet({ name, labels: { app: name }, desired: 3, ready: 2 }))
    const accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    const r = await call("GET", `/apis/apps/v1/namespaces/default/daemonsets?labelSelector=app%3D${name}`, undefined, {
      accept
    })
    expect(r.headers.get("content-type")).toBe("application/json;as=Table;v=v1;g=meta.k8s.io")
    expect(r.json.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Desired",
      "Current",
      "Ready",
      "Up-to-date",
      "Available",
      "Node Selector",
      "Age"
    ])
    expect(r.json.rows).toHaveLength(1)
    expect(r.json.rows[0].cells.slice(0, 7)).toEqual([name, 3, 3, 2, 3, 2, "<none>"])
    expect(r.json.rows[0].object).toMatchObject({
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
      metadata: { name }
    })
    const plain = await call("GET", `/apis/apps/v1/namespaces/default/daemonsets/${name}`)
    expect(plain.json.kind).toBe("DaemonSet")
  })
})
