/**
 * The Lease API emulator over real HTTP: status codes and Status bodies as the
 * real API server answers them, a real @kubernetes/client-node client, watches,
 * every fault kind, restarts, counting, auth, the CLI, and kubectl.
 */
import { CoordinationV1Api, KubeConfig, Watch } from "@kubernetes/client-node"
import type { ChildProcessByStdio } from "node:child_process"
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Emulator, Lease } from "../emulator/index.ts"
import { objects, startEmulator } from "../emulator/index.ts"
import type { CallOptions } from "./support/kube-http.ts"
import { kubeCall, openWatch as openWatchAt } from "./support/kube-http.ts"

let emu: Emulator
let seq = 0
const uniq = (p = "l") => `${p}-${++seq}`

beforeAll(async () => {
  emu = await startEmulator({ bookmarkIntervalMs: 100 })
})
afterAll(async () => {
  await emu.close()
})

const leases = (ns = "default") => `${emu.url}/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`

const call = (method: string, path: string, body?: unknown, o: CallOptions = {}) =>
  kubeCall(method, path.startsWith("http") ? path : `${leases()}${path}`, body, o)

const micro = (ms = Date.now()) => new Date(ms).toISOString().replace("Z", "000Z")
const spec = (holder = "a") => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: micro(),
  renewTime: micro(),
  leaseTransitions: 0
})
const create = async (name: string, s: object = spec()) => {
  const r = await call("POST", "", { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec: s })
  expect(r.status).toBe(201)
  return r.json as Lease
}
const details = (name: string) => ({ name, group: "coordination.k8s.io", kind: "leases" })
const failure = (code: number, reason: string, message: string, d?: object) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(d === undefined ? {} : { details: d }),
  code
})

/** The first line the emulator's CLI prints (its address, as JSON). */
const firstLine = (child: ChildProcessByStdio<null, Readable, Readable>) =>
  new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString()
      if (out.includes("\n")) resolve(out.split("\n")[0]!)
    })
    child.on("exit", (code) => reject(new Error(`exited ${code}`)))
  })

/** A raw watch stream of leases, in a namespace or (ns undefined) in all. */
const openWatch = (query: string, token = "t1", ns: string | undefined = "default") =>
  openWatchAt(
    `${ns === undefined ? `${emu.url}/apis/coordination.k8s.io/v1/leases` : leases(ns)}?watch=true&${query}`,
    token
  )

describe("status codes and Status bodies", () => {
  it("GET of a missing lease is 404 NotFound with the exact body and headers", async () => {
    const r = await call("GET", "/nope")
    expect(r.status).toBe(404)
    expect(r.json).toEqual(failure(404, "NotFound", "leases.coordination.k8s.io \"nope\" not found", details("nope")))
    expect(r.headers.get("content-type")).toBe("application/json")
    expect(r.headers.get("audit-id")).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("POST is 201 with uid, second-precision creationTimestamp, string RV, managedFields, no generation", async () => {
    const name = uniq()
    const r = await call("POST", "?fieldManager=mgr", {
      metadata: { name, labels: { app: "x" } },
      spec: { ...spec(), strategy: "OldestEmulationVersion", preferredHolder: "b", bogus: 1 }
    })
    expect(r.status).toBe(201)
    const l = r.json as Lease
    expect(l.kind).toBe("Lease")
    expect(l.apiVersion).toBe("coordination.k8s.io/v1")
    expect(l.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(l.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(l.metadata.resourceVersion).toMatch(/^\d+$/)
    expect(l.metadata).not.toHaveProperty("generation")
    expect(l.metadata.labels).toEqual({ app: "x" })
    expect(l.metadata.managedFields?.[0]).toMatchObject({ manager: "mgr", operation: "Update", fieldsType: "FieldsV1" })
    expect(Object.keys(l.spec).sort()).toEqual([
      "acquireTime",
      "holderIdentity",
      "leaseDurationSeconds",
      "leaseTransitions",
      "renewTime"
    ])
    expect(emu.getLease("default", name)).toEqual(l)
  })

  it("POST of an existing name is 409 AlreadyExists", async () => {
    const name = uniq()
    await create(name)
    const r = await call("POST", "", { metadata: { name }, spec: spec() })
    expect(r.status).toBe(409)
    expect(r.json).toEqual(
      failure(409, "AlreadyExists", `leases.coordination.k8s.io "${name}" already exists`, details(name))
    )
  })

  it("POST with a resourceVersion is 500 without a reason; namespace mismatch 400; missing namespace 404", async () => {
    const rv = await call("POST", "", { metadata: { name: uniq(), resourceVersion: "5" }, spec: spec() })
    expect(rv.status).toBe(500)
    expect(rv.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "resourceVersion should not be set on objects to be created",
      code: 500
    })
    const mismatch = await call("POST", "", { metadata: { name: uniq(), namespace: "kube-system" }, spec: spec() })
    expect(mismatch.status).toBe(400)
    expect(mismatch.json.message).toBe(
      "the namespace of the provided object does not match the namespace sent on the request"
    )
    const missing = await call("POST", `${leases("ghost")}`, { metadata: { name: uniq() }, spec: spec() })
    expect(missing.status).toBe(404)
    expect(missing.json).toEqual(
      failure(404, "NotFound", "namespaces \"ghost\" not found", { name: "ghost", kind: "namespaces" })
    )
  })

  it("validation: bad name, non-positive duration and negative transitions are 422 Invalid", async () => {
    const bad = await call("POST", "", { metadata: { name: "Bad_Name" }, spec: spec() })
    expect(bad.status).toBe(422)
    expect(bad.json.details.causes[0].field).toBe("metadata.name")
    const both = await call("POST", "", {
      metadata: { name: "v1" },
      spec: { leaseDurationSeconds: 0, leaseTransitions: -1 }
    })
    expect(both.status).toBe(422)
    expect(both.json.message).toBe(
      "Lease.coordination.k8s.io \"v1\" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]"
    )
    expect(both.json.details.causes).toHaveLength(2)
    const huge = await call("POST", "", { metadata: { name: uniq() }, spec: { leaseDurationSeconds: 2 ** 31 } })
    expect([400, 422]).toContain(huge.status)
  })

  it("a MicroTime with 3 fractional digits is 400 BadRequest with Go's parse message; offsets are normalised to Z", async () => {
    const r = await call("POST", "", { metadata: { name: uniq() }, spec: { renewTime: "2026-01-01T00:00:00.123Z" } })
    expect(r.status).toBe(400)
    expect(r.json).toEqual(
      failure(
        400,
        "BadRequest",
        "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2026-01-01T00:00:00.123Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \".123Z\" as \".000000\""
      )
    )
    const l = await create(uniq(), {
      acquireTime: "2026-01-01T02:00:00.123456+02:00",
      renewTime: "2026-01-01T00:00:00.000001Z"
    })
    expect(l.spec.acquireTime).toBe("2026-01-01T00:00:00.123456Z")
    expect(l.spec.renewTime).toBe("2026-01-01T00:00:00.000001Z")
  })

  it("spec.strategy and spec.preferredHolder: dropped silently with the CoordinatedLeaderElection gate off", async () => {
    const name = uniq()
    const l = await create(name, { ...spec(), strategy: "just-one-init/handover", preferredHolder: "b" })
    expect(l.spec["strategy"]).toBeUndefined()
    expect(l.spec["preferredHolder"]).toBeUndefined()
  })

  it("with the gate on they are kept, and validated as the API server does", async () => {
    const gated = await startEmulator({ coordinatedLeaderElection: true })
    try {
      const at = (n: string) => `${gated.url}/apis/coordination.k8s.io/v1/namespaces/default/leases${n}`
      const post = (name: string, s: object) =>
        kubeCall("POST", at(""), { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec: s })
      const kept = await post("kept", { ...spec(), strategy: "just-one-init/handover", preferredHolder: "b" })
      expect(kept.status).toBe(201)
      expect(kept.json.spec).toMatchObject({ strategy: "just-one-init/handover", preferredHolder: "b" })
      const alone = await post("alone", { ...spec(), preferredHolder: "b" })
      expect(alone.status).toBe(422)
      expect(alone.json.message).toBe(
        "Lease.coordination.k8s.io \"alone\" is invalid: spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"
      )
      expect(alone.json.details.causes).toEqual([{
        reason: "FieldValueForbidden",
        message: "Forbidden: may only be specified if `strategy` is defined",
        field: "spec.preferredHolder"
      }])
      const odd = await post("odd", { ...spec(), strategy: "Whatever" })
      expect(odd.status).toBe(422)
      expect(odd.json.details.causes[0].reason).toBe("FieldValueNotSupported")
    } finally {
      await gated.close()
    }
  })

  it("PUT: 200 with a fresh RV; 422 without RV; 409 Conflict on a stale RV; 400 on name mismatch", async () => {
    const name = uniq()
    const l = await create(name)
    const noRv = await call("PUT", `/${name}`, { metadata: { name }, spec: spec("b") })
    expect(noRv.status).toBe(422)
    expect(noRv.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        `Lease.coordination.k8s.io "${name}" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`,
      reason: "Invalid",
      details: {
        name,
        group: "coordination.k8s.io",
        kind: "Lease",
        causes: [{
          reason: "FieldValueInvalid",
          message: "Invalid value: 0: must be specified for an update",
          field: "metadata.resourceVersion"
        }]
      },
      code: 422
    })
    const ok = await call("PUT", `/${name}`, { ...l, spec: spec("b") })
    expect(ok.status).toBe(200)
    expect(Number(ok.json.metadata.resourceVersion)).toBeGreaterThan(Number(l.metadata.resourceVersion))
    expect(ok.json.metadata.uid).toBe(l.metadata.uid)
    expect(ok.json.spec.holderIdentity).toBe("b")
    const stale = await call("PUT", `/${name}`, { ...l, spec: spec("c") })
    expect(stale.status).toBe(409)
    expect(stale.json).toEqual(
      failure(
        409,
        "Conflict",
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        details(name)
      )
    )
    const wrongName = await call("PUT", `/${name}`, { ...ok.json, metadata: { ...ok.json.metadata, name: "other" } })
    expect(wrongName.status).toBe(400)
    expect(wrongName.json.message).toBe(`the name of the object (other) does not match the name on the URL (${name})`)
  })

  it("PUT to a missing name creates it (201); PUT with the uid of a deleted lease is 409 and does not re-create", async () => {
    const name = uniq()
    const created = await call("PUT", `/${name}`, { metadata: { name, resourceVersion: "12345" }, spec: spec() })
    expect(created.status).toBe(201)
    expect(created.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    const uid = created.json.metadata.uid
    expect((await call("DELETE", `/${name}`)).status).toBe(200)
    const again = await call("PUT", `/${name}`, created.json)
    expect(again.status).toBe(409)
    expect(again.json.message).toContain(`Precondition failed: UID in precondition: ${uid}`)
    expect(emu.getLease("default", name)).toBeUndefined()
  })

  it("DELETE answers a Success Status with the uid; then 404", async () => {
    const name = uniq()
    const l = await create(name)
    const r = await call("DELETE", `/${name}`)
    expect(r.status).toBe(200)
    expect(r.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { ...details(name), uid: l.metadata.uid }
    })
    expect((await call("DELETE", `/${name}`)).status).toBe(404)
  })

  it("one global RV counter across objects; lists carry it; field and label selectors; cluster-wide list", async () => {
    const a = await create(uniq("sel"))
    const b = await call("POST", `${leases("kube-system")}`, {
      metadata: { name: uniq("sel"), labels: { tier: "x" } },
      spec: spec()
    })
    expect(Number(b.json.metadata.resourceVersion)).toBe(Number(a.metadata.resourceVersion) + 1)
    const list = await call("GET", `?fieldSelector=${encodeURIComponent(`metadata.name=${a.metadata.name}`)}`)
    expect(list.json.kind).toBe("LeaseList")
    expect(list.json.metadata.resourceVersion).toBe(String(emu.resourceVersion))
    expect(list.json.items.map((i: Lease) => i.metadata.name)).toEqual([a.metadata.name])
    expect(list.json.items[0]).not.toHaveProperty("kind")
    const all = await call("GET", `${emu.url}/apis/coordination.k8s.io/v1/leases?labelSelector=tier%3Dx`)
    expect(all.json.items.map((i: Lease) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual([
      `kube-system/${b.json.metadata.name}`
    ])
    const badField = await call("GET", "?fieldSelector=spec.holderIdentity%3Dx")
    expect(badField.status).toBe(400)
  })
})

describe("PATCH", () => {
  it("merge and strategic merge patches apply; a stale RV in the patch is 409", async () => {
    const name = uniq()
    const l = await create(name)
    const m = await call("PATCH", `/${name}`, { spec: { holderIdentity: "m" } }, {
      type: "application/merge-patch+json"
    })
    expect(m.status).toBe(200)
    expect(m.json.spec).toMatchObject({ holderIdentity: "m", leaseDurationSeconds: 15 })
    const s = await call("PATCH", `/${name}`, { spec: { holderIdentity: "s", leaseTransitions: null } }, {
      type: "application/strategic-merge-patch+json; charset=utf-8"
    })
    expect(s.status).toBe(200)
    expect(s.json.spec.holderIdentity).toBe("s")
    expect(s.json.spec).not.toHaveProperty("leaseTransitions")
    const stale = await call("PATCH", `/${name}`, {
      metadata: { resourceVersion: l.metadata.resourceVersion },
      spec: { holderIdentity: "z" }
    }, { type: "application/merge-patch+json" })
    expect(stale.status).toBe(409)
    expect(stale.json.reason).toBe("Conflict")
  })

  it("JSON patch applies; a failed test op is 422; unknown type 415; missing object 404", async () => {
    const name = uniq()
    await create(name)
    const ok = await call("PATCH", `/${name}`, [{ op: "test", path: "/spec/holderIdentity", value: "a" }, {
      op: "replace",
      path: "/spec/holderIdentity",
      value: "j"
    }], { type: "application/json-patch+json" })
    expect(ok.status).toBe(200)
    expect(ok.json.spec.holderIdentity).toBe("j")
    const failed = await call("PATCH", `/${name}`, [{ op: "test", path: "/spec/holderIdentity", value: "nope" }], {
      type: "application/json-patch+json"
    })
    expect(failed.status).toBe(422)
    expect(failed.json).toEqual(
      failure(422, "Invalid", "the server rejected our request due to an error in our request", {})
    )
    const unsupported = await call("PATCH", `/${name}`, { spec: {} }, { type: "application/json" })
    expect(unsupported.status).toBe(415)
    expect(unsupported.json.reason).toBe("UnsupportedMediaType")
    const missing = await call("PATCH", `/nothere`, { spec: {} }, { type: "application/merge-patch+json" })
    expect(missing.status).toBe(404)
  })

  it("apply needs a fieldManager (422), creates a missing object (201) and then updates it (200)", async () => {
    const name = uniq()
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name },
      spec: { holderIdentity: "ap" }
    }
    const noManager = await call("PATCH", `/${name}`, body, { type: "application/apply-patch+yaml" })
    expect(noManager.status).toBe(422)
    expect(noManager.json.message).toBe(
      "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    )
    const created = await call("PATCH", `/${name}?fieldManager=me&force=true`, body, {
      type: "application/apply-patch+yaml"
    })
    expect(created.status).toBe(201)
    expect(created.json.metadata.managedFields[0]).toMatchObject({ manager: "me", operation: "Apply" })
    const updated = await call("PATCH", `/${name}?fieldManager=me`, { ...body, spec: { holderIdentity: "ap2" } }, {
      type: "application/apply-patch+yaml"
    })
    expect(updated.status).toBe(200)
    expect(updated.json.spec.holderIdentity).toBe("ap2")
  })
})

describe("@kubernetes/client-node against the emulator", () => {
  it("create, read, replace, and a 409 ApiException on a stale replace", async () => {
    const kc = new KubeConfig()
    kc.loadFromString(emu.kubeconfig("t1"))
    const api = kc.makeApiClient(CoordinationV1Api)
    const name = uniq("cn")
    const created = await api.createNamespacedLease({
      namespace: "default",
      body: { metadata: { name }, spec: { holderIdentity: "cn", leaseDurationSeconds: 10, renewTime: micro() as any } }
    })
    expect(created.metadata?.uid).toBeDefined()
    const read = await api.readNamespacedLease({ namespace: "default", name })
    expect(read.spec?.holderIdentity).toBe("cn")
    expect(read.metadata?.creationTimestamp).toBeInstanceOf(Date)
    const replaced = await api.replaceNamespacedLease({
      namespace: "default",
      name,
      body: { ...read, spec: { ...read.spec, holderIdentity: "cn2" } }
    })
    expect(replaced.spec?.holderIdentity).toBe("cn2")
    const err = await api.replaceNamespacedLease({
      namespace: "default",
      name,
      body: { ...read, spec: { ...read.spec, holderIdentity: "cn3" } }
    }).then(() => undefined, (e: unknown) => e)
    expect((err as { code?: number }).code).toBe(409)
    expect(JSON.parse((err as { body: string }).body).reason).toBe("Conflict")
    expect(emu.requests("t1").create).toBeGreaterThanOrEqual(1)
  })

  it("client-node Watch sees ADDED and ends with done(null) when the emulator drops watches", async () => {
    const kc = new KubeConfig()
    kc.loadFromString(emu.kubeconfig("watcher"))
    const name = uniq("w")
    emu.setLease("default", name, spec())
    const seen: Array<string> = []
    let added!: () => void
    const gotAdded = new Promise<void>((r) => (added = r))
    const done = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
        fieldSelector: `metadata.name=${name}`
      }, (type) => {
        seen.push(type)
        if (type === "ADDED") added()
      }, resolve)
    })
    await gotAdded
    emu.dropWatches("watcher")
    expect(await done).toBeNull()
    expect(seen).toEqual(["ADDED"])
  })
})

describe("watch", () => {
  it("from RV 0 sends synthetic ADDED, then live MODIFIED and DELETED (with the delete's RV)", async () => {
    const name = uniq("wa")
    const l = await create(name)
    const w = await openWatch(`fieldSelector=metadata.name%3D${name}&resourceVersion=0`)
    expect(w.status).toBe(200)
    expect(w.contentType).toBe("application/json")
    const first = await w.next()
    expect(first).toMatchObject({
      type: "ADDED",
      object: { kind: "Lease", metadata: { name, resourceVersion: l.metadata.resourceVersion } }
    })
    const modified = emu.setLease("default", name, spec("z"))
    const second = await w.next()
    expect(second.type).toBe("MODIFIED")
    expect(second.object.metadata.resourceVersion).toBe(modified.metadata.resourceVersion)
    expect(second.object.spec.holderIdentity).toBe("z")
    emu.deleteLease("default", name)
    const third = await w.next()
    expect(third.type).toBe("DELETED")
    expect(Number(third.object.metadata.resourceVersion)).toBe(Number(modified.metadata.resourceVersion) + 1)
    w.close()
  })

  it("resumes from an RV with only later events; after compact() an old RV gets one ERROR 410 Expired and EOF", async () => {
    const name = uniq("wr")
    const l = await create(name)
    const m1 = emu.setLease("default", name, spec("m1"))
    emu.setLease("default", name, spec("m2"))
    const w = await openWatch(`resourceVersion=${m1.metadata.resourceVersion}&fieldSelector=metadata.name%3D${name}`)
    const e = await w.next()
    expect(e.type).toBe("MODIFIED")
    expect(e.object.spec.holderIdentity).toBe("m2")
    w.close()
    emu.compact()
    const old = await openWatch(`resourceVersion=${l.metadata.resourceVersion}`)
    expect(old.status).toBe(200)
    const err = await old.next()
    expect(err).toEqual({
      type: "ERROR",
      object: failure(
        410,
        "Expired",
        expect.stringContaining(`too old resource version: ${l.metadata.resourceVersion}`)
      )
    })
    expect(await old.next()).toBeUndefined()
    // The current RV is still fine after compaction.
    const fresh = await openWatch(`resourceVersion=${emu.resourceVersion}`)
    emu.setLease("default", name, spec("m3"))
    expect((await fresh.next()).object.spec.holderIdentity).toBe("m3")
    fresh.close()
  })

  it("dropWatches ends streams cleanly, expireWatches sends 410, timeoutSeconds ends, bookmarks arrive", async () => {
    const a = await openWatch("", "dropme")
    const b = await openWatch("", "keepme")
    expect(emu.openWatches("dropme")).toBe(1)
    emu.dropWatches("dropme")
    await a.ended
    expect(a.done).toBe(true)
    expect(b.done).toBe(false)
    emu.expireWatches("keepme")
    expect((await b.nextOf("ERROR")).object.code).toBe(410)
    await b.ended
    const t0 = Date.now()
    const t = await openWatch("timeoutSeconds=1")
    await t.ended
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    const bm = await openWatch(`allowWatchBookmarks=true&resourceVersion=${emu.resourceVersion}`)
    const mark = await bm.nextOf("BOOKMARK")
    expect(mark.object).toEqual({
      kind: "Lease",
      apiVersion: "coordination.k8s.io/v1",
      metadata: { resourceVersion: String(emu.resourceVersion) },
      spec: {}
    })
    bm.close()
  })

  it("onChange reports every write", async () => {
    const events: Array<string> = []
    const off = emu.onChange((ev) => events.push(`${ev.type}:${ev.lease.metadata.name}`))
    const name = uniq("oc")
    await create(name)
    emu.setLease("default", name, spec("x"))
    await call("DELETE", `/${name}`)
    off()
    emu.setLease("default", name, spec("y"))
    expect(events).toEqual([`ADDED:${name}`, `MODIFIED:${name}`, `DELETED:${name}`])
  })
})

describe("faults", () => {
  it("latency delays the answer by about latencyMs, only for the given verbs", async () => {
    emu.setFault("slow", { latencyMs: 300, verbs: ["get"] })
    let t0 = Date.now()
    expect((await call("GET", "/x", undefined, { token: "slow" })).status).toBe(404)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280)
    t0 = Date.now()
    expect((await call("GET", "", undefined, { token: "slow" })).status).toBe(200)
    expect(Date.now() - t0).toBeLessThan(250)
    emu.setFault("slow", undefined)
  })

  it("hang never answers: the client times out via AbortSignal; other clients are unaffected", async () => {
    emu.setFault("hung", { hang: true })
    const err = await call("GET", "/x", undefined, { token: "hung", signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect((err as Error).name).toBe("TimeoutError")
    expect((await call("GET", "/x", undefined, { token: "t1" })).status).toBe(404)
    emu.setFault("hung", undefined)
    expect((await call("GET", "/x", undefined, { token: "hung" })).status).toBe(404)
  })

  it("status faults answer real Status bodies; 429 and 503 carry Retry-After; count clears the fault", async () => {
    emu.setFault("busy", { status: 429, retryAfterSeconds: 2, count: 1 })
    const r = await call("GET", "/x", undefined, { token: "busy" })
    expect(r.status).toBe(429)
    expect(r.headers.get("retry-after")).toBe("2")
    expect(r.json).toEqual(
      failure(429, "TooManyRequests", "Too many requests, please try again later.", { retryAfterSeconds: 2 })
    )
    expect((await call("GET", "/x", undefined, { token: "busy" })).status).toBe(404)
    emu.setFault("*", { status: 500, verbs: ["list"] })
    const e = await call("GET", "", undefined, { token: "anyone" })
    expect(e.status).toBe(500)
    expect(e.json.reason).toBe("InternalError")
    emu.setFault("*", { status: 503, retryAfterSeconds: 1 })
    const u = await call("GET", "/x", undefined, { token: "anyone" })
    expect(u.status).toBe(503)
    expect(u.json.reason).toBe("ServiceUnavailable")
    expect(u.headers.get("retry-after")).toBe("1")
    emu.setFault("*", undefined)
  })

  it("reset destroys the socket: fetch failed", async () => {
    emu.setFault("rst", { reset: true, count: 1 })
    const err = await call("GET", "/x", undefined, { token: "rst" }).then(() => undefined, (e: unknown) => e)
    expect((err as Error).message).toBe("fetch failed")
    expect((await call("GET", "/x", undefined, { token: "rst" })).status).toBe(404)
  })

  it("afterCommit reset commits the write, then resets: an ambiguous write", async () => {
    const name = uniq("amb")
    emu.setFault("amb", { reset: true, afterCommit: true, verbs: ["create"], count: 1 })
    const err = await call("POST", "", { metadata: { name }, spec: spec() }, { token: "amb" }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect((err as Error).message).toBe("fetch failed")
    expect(emu.getLease("default", name)).toBeDefined()
  })

  it("hostile bodies: HTML 502, garbage 200, truncated 200", async () => {
    emu.setFault("h", { body: "html", count: 1 })
    const html = await call("GET", "/x", undefined, { token: "h" })
    expect(html.status).toBe(502)
    expect(html.headers.get("content-type")).toBe("text/html")
    expect(html.text).toContain("502 Bad Gateway")
    emu.setFault("h", { body: "garbage", count: 1 })
    const g = await call("GET", "/x", undefined, { token: "h" })
    expect(g.status).toBe(200)
    expect(() => JSON.parse(g.text)).toThrow(SyntaxError)
    const name = uniq("tr")
    await create(name)
    emu.setFault("h", { body: "truncated", count: 1 })
    const r = await fetch(`${leases()}/${name}`, { headers: { authorization: "Bearer h" } })
    expect(r.status).toBe(200)
    await expect(r.text()).rejects.toThrow(/terminated|aborted|closed|socket/i)
  })

  it("slowloris trickles the real body one byte per second", async () => {
    const name = uniq("sl")
    await create(name)
    emu.setFault("sl", { body: "slowloris", count: 1 })
    const bytes = await new Promise<number>((resolve, reject) => {
      let n = 0
      const req = httpRequest(`${leases()}/${name}`, { headers: { authorization: "Bearer sl" } }, (res) => {
        expect(res.statusCode).toBe(200)
        expect(Number(res.headers["content-length"])).toBeGreaterThan(100)
        res.on("data", (c: Buffer) => (n += c.length))
        setTimeout(() => {
          req.destroy()
          resolve(n)
        }, 1500)
      })
      req.on(
        "error",
        (e) => (e.message === "socket hang up" || (e as NodeJS.ErrnoException).code === "ECONNRESET"
          ? undefined
          : reject(e))
      )
      req.end()
    })
    expect(bytes).toBeGreaterThanOrEqual(1)
    expect(bytes).toBeLessThanOrEqual(2)
  })
})

describe("restart, counting, auth", () => {
  it("restart with loseState: same port, lease gone, RV keeps increasing, old watches get 410", async () => {
    const name = uniq("rs")
    const l = await create(name)
    const port = emu.port
    const w = await openWatch(`resourceVersion=${l.metadata.resourceVersion}`)
    await emu.restart({ loseState: true, downMs: 50 })
    await w.ended
    expect(emu.port).toBe(port)
    expect((await call("GET", `/${name}`)).status).toBe(404)
    const again = await create(name)
    expect(Number(again.metadata.resourceVersion)).toBeGreaterThan(Number(l.metadata.resourceVersion))
    const old = await openWatch(`resourceVersion=${l.metadata.resourceVersion}`)
    expect((await old.next()).object.code).toBe(410)
  })

  it("restart keeps state unless asked, and refuses connections while down", async () => {
    const name = uniq("rk")
    await create(name)
    const restarting = emu.restart({ loseState: false, downMs: 300 })
    await new Promise((r) => setTimeout(r, 100))
    const err = await call("GET", `/${name}`).then(() => undefined, (e: unknown) => e)
    expect((err as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED")
    await restarting
    expect((await call("GET", `/${name}`)).status).toBe(200)
  })

  it("counts requests per client and verb; resetCounts clears", async () => {
    emu.resetCounts()
    const name = uniq("cnt")
    await call("POST", "", { metadata: { name }, spec: spec() }, { token: "counter" })
    await call("GET", `/${name}`, undefined, { token: "counter" })
    await call("GET", `/${name}`, undefined, { token: "counter" })
    await call("GET", "", undefined, { token: "counter" })
    await call("DELETE", `/${name}`, undefined, { token: "other" })
    expect(emu.requests("counter")).toEqual({ get: 2, list: 1, watch: 0, create: 1, update: 0, patch: 0, delete: 0 })
    expect(emu.requests().delete).toBe(1)
    emu.resetCounts()
    expect(emu.requests("counter").get).toBe(0)
  })

  it("tokens: bad token 401, no token 403 as system:anonymous; forbidden rules give the exact 403", async () => {
    const e2 = await startEmulator({ tokens: ["good"], forbidden: [{ client: "good", verbs: ["update"] }] })
    try {
      const url = `${e2.url}/apis/coordination.k8s.io/v1/namespaces/default/leases`
      const bad = await call("GET", `${url}/x`, undefined, { token: "bad" })
      expect(bad.status).toBe(401)
      expect(bad.json).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401
      })
      const anon = await call("GET", `${url}/x`, undefined, { token: null })
      expect(anon.status).toBe(403)
      expect(anon.json).toEqual(
        failure(
          403,
          "Forbidden",
          "leases.coordination.k8s.io \"x\" is forbidden: User \"system:anonymous\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"default\"",
          details("x")
        )
      )
      expect((await call("POST", url, { metadata: { name: "x" }, spec: spec() }, { token: "good" })).status).toBe(201)
      const denied = await call("PUT", `${url}/x`, { metadata: { name: "x", resourceVersion: "1" }, spec: spec() }, {
        token: "good"
      })
      expect(denied.status).toBe(403)
      expect(denied.json).toEqual(
        failure(
          403,
          "Forbidden",
          "leases.coordination.k8s.io \"x\" is forbidden: User \"system:serviceaccount:default:good\" cannot update resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"default\"",
          details("x")
        )
      )
      const e3create = await call("POST", url, { metadata: { name: "y" }, spec: spec() }, { token: null })
      expect(e3create.json).toEqual(
        failure(
          403,
          "Forbidden",
          "leases.coordination.k8s.io is forbidden: User \"system:anonymous\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"default\"",
          { group: "coordination.k8s.io", kind: "leases" }
        )
      )
      expect((await call("GET", `${e2.url}/version`, undefined, { token: null })).status).toBe(200)
      expect(e2.requests("good")).toMatchObject({ create: 1, update: 1 })
    } finally {
      await e2.close()
    }
  })
})

describe("CLI", () => {
  it("prints one JSON line with the url and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [
      join(import.meta.dirname, "..", "emulator", "main.ts"),
      "--port",
      "0",
      "--namespace",
      "ns1"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    const line = await firstLine(child)
    const { url } = JSON.parse(line) as { url: string }
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const r = await call("POST", `${url}/apis/coordination.k8s.io/v1/namespaces/ns1/leases`, {
      metadata: { name: "c" },
      spec: spec()
    })
    expect(r.status).toBe(201)
    expect(
      (await call("POST", `${url}/apis/coordination.k8s.io/v1/namespaces/default/leases`, {
        metadata: { name: "c" },
        spec: spec()
      })).status
    ).toBe(404)
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
  })
})

describe("CLI options", () => {
  const main = join(import.meta.dirname, "..", "emulator", "main.ts")
  it("--crd, --missing-group, --objects (YAML) and --kubeconfig", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emu-cli-"))
    const objectsFile = join(dir, "objects.yaml")
    writeFileSync(
      objectsFile,
      [
        "apiVersion: v1",
        "kind: Namespace",
        "metadata: {name: team}",
        "---",
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: preloaded, namespace: team, labels: {app: x}}",
        "spec: {containers: [{name: c, image: busybox}]}",
        "status: {phase: Running}",
        "---",
        "apiVersion: example.com/v2",
        "kind: Gizmo",
        "metadata: {name: gz}",
        "spec: {n: 1}",
        ""
      ].join("\n")
    )
    const kc = join(dir, "kubeconfig")
    const child = spawn(process.execPath, [
      main,
      "--crd",
      "example.com/v2/Gizmo/gizmos/cluster",
      "--missing-group=discovery.k8s.io",
      "--objects",
      objectsFile,
      "--kubeconfig",
      kc,
      "--token",
      "tk"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    try {
      const line = await firstLine(child)
      const { url } = JSON.parse(line) as { url: string }
      const get = (path: string) => call("GET", `${url}${path}`, undefined, { token: "tk" })
      const pod = await get("/api/v1/namespaces/team/pods/preloaded")
      expect(pod.status).toBe(200)
      expect(pod.json.status).toEqual({ phase: "Running" })
      expect((await get("/apis/example.com/v2/gizmos/gz")).json.spec).toEqual({ n: 1 })
      expect((await get("/apis/discovery.k8s.io/v1/endpointslices")).status).toBe(404)
      const config = readFileSync(kc, "utf8")
      expect(config).toContain(`server: "${url}"`)
      expect(config).toContain(`token: "tk"`)
    } finally {
      child.kill("SIGTERM")
    }
  })

  it.each([
    [
      ["--crd", "example.com/v1"],
      "--crd must be GROUP/VERSION/KIND/PLURAL[/cluster] (e.g. example.com/v1/Gadget/gadgets), got \"example.com/v1\""
    ],
    [["--port", "x"], "--port must be an integer from 0 to 65535, got \"x\""],
    [
      ["--objects", "/nonexistent.yaml"],
      "--objects /nonexistent.yaml: ENOENT: no such file or directory, open '/nonexistent.yaml'"
    ]
  ])("bad input %j: one line naming the option, exit 2", async (argv, message) => {
    const child = spawn(process.execPath, [main, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
    let err = ""
    child.stderr.on("data", (c: Buffer) => (err += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(code).toBe(2)
    expect(err).toBe(`${message}\n`)
  })
})

const kubectl = "/usr/bin/kubectl"
const hasKubectl = existsSync(kubectl)
if (!hasKubectl) console.warn(`skipping the kubectl test: ${kubectl} not found`)

describe("kubectl", () => {
  it.skipIf(!hasKubectl)("create -f, get -o json, replace, apply, get -w sees an update, delete", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emu-kubectl-"))
    const kc = join(dir, "kubeconfig")
    emu.writeKubeconfig(kc, "anonymous")
    const name = uniq("kctl")
    const manifest = (holder: string) =>
      [
        "apiVersion: coordination.k8s.io/v1",
        "kind: Lease",
        "metadata:",
        `  name: ${name}`,
        "spec:",
        `  holderIdentity: ${holder}`,
        "  leaseDurationSeconds: 15",
        "  acquireTime: \"2026-01-01T00:00:00.123456Z\"",
        "  renewTime: \"2026-01-01T00:00:01.654321Z\"",
        ""
      ].join("\n")
    const file = join(dir, "lease.yaml")
    const env = { ...process.env, HOME: dir, KUBECONFIG: kc }
    // Asynchronous: the emulator answers from this very process.
    const run = (...args: Array<string>) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        execFile(kubectl, ["--kubeconfig", kc, "--cache-dir", join(dir, "cache"), ...args], {
          encoding: "utf8",
          env,
          timeout: 10_000
        }, (e, out, err) => {
          resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : null, out, err })
        })
      })
    writeFileSync(file, manifest("kubectl-a"))
    const created = await run("create", "-f", file)
    expect(created.err).toBe("")
    expect(created.out.trim()).toBe(`lease.coordination.k8s.io/${name} created`)
    const got = await run("get", "lease", name, "-o", "json")
    expect(got.code).toBe(0)
    const lease = JSON.parse(got.out) as Lease
    expect(lease.spec.acquireTime).toBe("2026-01-01T00:00:00.123456Z")
    expect(lease.spec.holderIdentity).toBe("kubectl-a")
    writeFileSync(file, manifest("kubectl-b"))
    expect((await run("replace", "-f", file)).code).toBe(0)
    expect(emu.getLease("default", name)?.spec.holderIdentity).toBe("kubectl-b")
    writeFileSync(file, manifest("kubectl-c"))
    const applied = await run("apply", "--server-side", "-f", file)
    expect(applied.code).toBe(0)
    expect(emu.getLease("default", name)?.spec.holderIdentity).toBe("kubectl-c")
    expect(emu.requests("anonymous").create).toBeGreaterThanOrEqual(1)

    // get -w: wait for the initial row, change the lease, wait for the second row.
    const watcher = spawn(kubectl, [
      "--kubeconfig",
      kc,
      "--cache-dir",
      join(dir, "cache"),
      "get",
      "lease",
      name,
      "-w",
      "--no-headers",
      "-o",
      "custom-columns=HOLDER:.spec.holderIdentity"
    ], { env, stdio: ["ignore", "pipe", "pipe"] })
    const killer = setTimeout(() => watcher.kill("SIGKILL"), 10_000)
    const rows: Array<string> = []
    const waitRow = (want: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (rows.includes(want)) resolve()
        }
        watcher.stdout.on("data", (c: Buffer) => {
          rows.push(...c.toString().split("\n").map((s) => s.trim()).filter((s) => s !== ""))
          check()
        })
        watcher.on("exit", () => reject(new Error(`kubectl get -w exited; rows ${JSON.stringify(rows)}`)))
        check()
      })
    await waitRow("kubectl-c")
    await emu.watchOpened("anonymous")
    emu.setLease("default", name, { ...emu.getLease("default", name)!.spec, holderIdentity: "from-test" })
    await waitRow("from-test")
    clearTimeout(killer)
    watcher.kill("SIGTERM")

    const deleted = await run("delete", "lease", name)
    expect(deleted.code).toBe(0)
    expect(deleted.out.trim()).toBe(`lease.coordination.k8s.io "${name}" deleted`)
    const gone = await run("get", "lease", name)
    expect(gone.code).toBe(1)
    expect(gone.err.trim()).toBe(`Error from server (NotFound): leases.coordination.k8s.io "${name}" not found`)
  })

  it.skipIf(!hasKubectl)(
    "apply a Service, a Job and a Widget from YAML; get -l, --field-selector, endpointslices; get -w sees a change; delete",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "emu-kubectl-"))
      const kc = join(dir, "kubeconfig")
      // client-go sends no bearer token over plain http: kubectl is "anonymous" here.
      emu.writeKubeconfig(kc, "anonymous")
      const env = { ...process.env, HOME: dir, KUBECONFIG: kc }
      const base = ["--kubeconfig", kc, "--cache-dir", join(dir, "cache")]
      const run = (...args: Array<string>) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          execFile(kubectl, [...base, ...args], { encoding: "utf8", env, timeout: 10_000 }, (e, out, err) => {
            resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : null, out, err })
          })
        })
      const manifests = (targetPort: number) =>
        [
          "apiVersion: v1",
          "kind: Service",
          "metadata: {name: kweb, labels: {app: kweb}}",
          "spec:",
          "  selector: {app: kweb}",
          "  ports:",
          `  - {name: http, port: 80, targetPort: ${targetPort}}`,
          "  - {name: metrics, port: 9090}",
          "---",
          "apiVersion: batch/v1",
          "kind: Job",
          "metadata: {name: kmigrate}",
          "spec:",
          "  template:",
          "    spec:",
          "      restartPolicy: Never",
          "      containers: [{name: m, image: \"busybox:1.36\", command: [sh, -c, \"true\"]}]",
          "---",
          "apiVersion: example.com/v1",
          "kind: Widget",
          "metadata: {name: kw}",
          "spec: {size: 3, colors: [red, blue]}",
          ""
        ].join("\n")
      const file = join(dir, "all.yaml")
      writeFileSync(file, manifests(8080))
      const applied = await run("apply", "-f", file)
      expect(applied.err).toBe("")
      expect(applied.out.trim().split("\n")).toEqual([
        "service/kweb created",
        "job.batch/kmigrate created",
        "widget.example.com/kw created"
      ])
      const job = emu.getObject("batch/v1", "Job", "default", "kmigrate")!
      expect(job["spec"]).toMatchObject({
        selector: { matchLabels: { "batch.kubernetes.io/controller-uid": job.metadata.uid } }
      })
      expect(emu.getObject("example.com/v1", "Widget", "default", "kw")?.["spec"]).toEqual({
        size: 3,
        colors: ["red", "blue"]
      })

      // A second apply patches only what changed (strategic merge for the Service: ports merged by key).
      writeFileSync(file, manifests(8081))
      const reapplied = await run("apply", "-f", file)
      expect(reapplied.out.trim().split("\n")).toEqual([
        "service/kweb configured",
        "job.batch/kmigrate unchanged",
        "widget.example.com/kw unchanged"
      ])
      const svc = emu.getObject("v1", "Service", "default", "kweb")!
      expect((svc["spec"] as { ports: unknown }).ports).toEqual([
        { name: "http", protocol: "TCP", port: 80, targetPort: 8081 },
        { name: "metrics", protocol: "TCP", port: 9090, targetPort: 9090 }
      ])

      emu.putObject(objects.pod({ name: "kx-1", labels: { app: "kx" }, nodeName: "n1", ready: true }))
      emu.putObject(objects.pod({ name: "kx-2", labels: { app: "kx" } }))
      emu.putObject(objects.pod({ name: "ky-1", labels: { app: "ky" }, nodeName: "n1" }))
      expect((await run("get", "pods", "-l", "app=kx", "-o", "name")).out.trim().split("\n")).toEqual([
        "pod/kx-1",
        "pod/kx-2"
      ])
      // The server prints: kubectl shows the columns a real cluster's pods have.
      const table = (await run("get", "pods", "-l", "app=kx")).out.trim().split("\n")
      expect(table[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/)
      expect(table.slice(1)).toEqual([
        expect.stringMatching(/^kx-1\s+1\/1\s+Running\s+0\s+\d+s$/),
        expect.stringMatching(/^kx-2\s+0\/1\s+Pending\s+0\s+\d+s$/)
      ])
      expect(
        (await run("get", "po", "-l", "app in (kx,ky)", "--field-selector", "spec.nodeName=n1", "-o", "name")).out
          .trim().split("\n")
      )
        .toEqual(["pod/kx-1", "pod/ky-1"])
      const slice = emu.putObject(
        objects.endpointSlice({ service: "kweb", name: "kweb-x1", endpoints: [{ ip: "10.244.0.7", pod: "kx-1" }] })
      )
      const slices = await run("get", "endpointslices")
      expect(slices.code).toBe(0)
      expect(slices.out.trim().split("\n")).toEqual([
        expect.stringMatching(/^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/),
        expect.stringMatching(/^kweb-x1\s+IPv4\s+80\s+10\.244\.0\.7\s+\d+s$/)
      ])

      // get -w: the first row, then the row of a change made while watching.
      const watcher = spawn(kubectl, [
        ...base,
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=kweb",
        "-w",
        "--no-headers",
        "-o",
        "custom-columns=NAME:.metadata.name,READY:.endpoints[*].conditions.ready"
      ], { env, stdio: ["ignore", "pipe", "pipe"] })
      const killer = setTimeout(() => watcher.kill("SIGKILL"), 10_000)
      const rows: Array<string> = []
      let partial = ""
      watcher.stdout.on("data", (c: Buffer) => {
        const lines = (partial + c.toString()).split("\n")
        partial = lines.pop()!
        rows.push(...lines.map((r) => r.trim()).filter((r) => r !== ""))
      })
      const waitRow = (want: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const check = () => rows.some((r) => want.test(r)) && resolve()
          watcher.stdout.on("data", check)
          watcher.on("exit", () => reject(new Error(`kubectl get -w exited; rows ${JSON.stringify(rows)}`)))
          check()
        })
      await waitRow(/^kweb-x1\s+true$/)
      await emu.watchOpened("anonymous")
      emu.updateObject("discovery.k8s.io/v1", "EndpointSlice", "default", slice.metadata.name, (o) => {
        ;(o["endpoints"] as Array<{ conditions: { ready: boolean } }>)[0]!.conditions.ready = false
      })
      await waitRow(/^kweb-x1\s+false$/)
      clearTimeout(killer)
      watcher.kill("SIGTERM")

      const deleted = await run("delete", "-f", file)
      expect(deleted.code).toBe(0)
      expect(deleted.out.trim().split("\n")).toEqual([
        "service \"kweb\" deleted",
        "job.batch \"kmigrate\" deleted",
        "widget.example.com \"kw\" deleted"
      ])
      expect((await run("delete", "pod", "kx-2")).out.trim()).toBe("pod \"kx-2\" deleted")
      const gone = await run("get", "widget", "kw")
      expect(gone.code).toBe(1)
      expect(gone.err.trim()).toBe("Error from server (NotFound): widgets.example.com \"kw\" not found")
      expect(emu.getObject("v1", "Service", "default", "kweb")).toBeUndefined()
    }
  )
})
