/**
 * Service mode end to end: real wrapper processes, real children, the emulator
 * over HTTP. The leader keeps one EndpointSlice of a selector-less Service on
 * its own address; the order of what reaches the API server (address out,
 * then lease released) and "the Service never lists two addresses" are read
 * from the emulator's history of committed changes.
 */
import { beforeEach, describe, expect, it } from "vitest"
import { objects } from "../emulator/index.ts"
import type { KubeObject } from "../emulator/index.ts"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { Replica, ReplicaOptions } from "../harness/replica.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("svc")
const service = "web"
const sliceName = `${service}-just-one-init`
const slices = "endpointslices.discovery.k8s.io"
const ports = JSON.stringify([{ name: "http", port: 8080 }])
const ipOf = (id: string) => `10.0.0.${id.charCodeAt(0) - 96}`

/** What the API server committed, in order: our Service's slices and our Lease. */
type Change =
  | { kind: "slice"; type: string; name: string; addresses: Array<string>; uid: string; object: KubeObject }
  | { kind: "lease"; type: string; holder: string }
let history: Array<Change> = []

beforeEach(() => {
  history = []
  sb.emu.putObject(objects.service({ name: service, ports: [{ name: "http", port: 80, targetPort: 8080 }] }))
  sb.emu.onObjectChange(({ object, type }) => {
    if (object.kind === "Lease" && object.metadata.name === sb.leaseName) {
      const spec = object["spec"] as { holderIdentity?: string } | undefined
      history.push({ kind: "lease", type, holder: spec?.holderIdentity ?? "" })
    }
    if (object.kind === "EndpointSlice" && object.metadata.labels?.["kubernetes.io/service-name"] === service) {
      const endpoints = (object["endpoints"] ?? []) as Array<
        { addresses: Array<string>; conditions?: { ready?: boolean } }
      >
      history.push({
        kind: "slice",
        type,
        name: object.metadata.name,
        addresses: endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses),
        uid: object.metadata.uid!,
        object
      })
    }
  })
})

/** The ready addresses the Service listed after each committed change. */
const listed = (): Array<Array<string>> => {
  const current = new Map<string, Array<string>>()
  return history.filter((c) => c.kind === "slice").map((c) => {
    if (c.type === "DELETED") current.delete(c.name)
    else current.set(c.name, c.addresses)
    return [...current.values()].flat()
  })
}
const neverTwoAddresses = () => {
  const states = listed()
  expect(states.length).toBeGreaterThan(0)
  for (const s of states) expect(s.length, JSON.stringify(states)).toBeLessThanOrEqual(1)
}
const addressNow = () => listed().at(-1)?.[0]
const sliceChanges = () => history.filter((c): c is Extract<Change, { kind: "slice" }> => c.kind === "slice")
const indexOf = (pred: (c: Change) => boolean) => history.findIndex(pred)
const slice = () => sb.emu.getObject("discovery.k8s.io/v1", "EndpointSlice", "default", sliceName)

const serviceArgs = (id: string) => [
  "--service",
  service,
  "--service-ports",
  ports,
  "--pod-ip",
  ipOf(id),
  "--node-name",
  `node-${id}`
]
const replica = (id: string, extra: Partial<ReplicaOptions> = {}) =>
  sb.replica(id, { ...extra, args: [...serviceArgs(id), ...(extra.args ?? [])] })
const published = (r: Replica) => r.waitFor((l) => l.message === "service endpoints published", "published endpoints")
const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start")
const stopOf = (id: string) =>
  eventually(() => readRecords(sb.childLog()).find((r) => r.event === "stop" && r.id === id), `${id}'s child to stop`)

/** Leader "a" with its slice published, and follower "b" watching the lease. */
const pair = async (extra: Partial<ReplicaOptions> = {}) => {
  const a = replica("a", extra)
  await published(a)
  const b = replica("b", extra)
  await b.port
  await sb.emu.watchOpened("b")
  return { a, b }
}

describe("service mode", () => {
  it("the leader publishes one slice with the labels, its address, node, pod and ports, and only writes", async () => {
    const { a, b } = await pair()
    const s = slice()!
    expect(s.metadata.labels).toEqual({
      "kubernetes.io/service-name": service,
      "endpointslice.kubernetes.io/managed-by": "just-one-init"
    })
    expect(s["addressType"]).toBe("IPv4")
    expect(s["endpoints"]).toEqual([{
      addresses: [ipOf("a")],
      conditions: { ready: true },
      nodeName: "node-a",
      targetRef: { kind: "Pod", namespace: "default", name: "a" }
    }])
    expect(s["ports"]).toEqual([{ name: "http", protocol: "TCP", port: 8080 }])
    // Re-asserted every retry period as identical PUTs: no-ops that commit nothing.
    await eventually(() => (sb.emu.requests("a", slices).update >= 4 ? true : undefined), "re-asserting PUTs")
    expect(sliceChanges().map((c) => c.type)).toEqual(["ADDED"])
    expect(slice()!.metadata.resourceVersion).toBe(s.metadata.resourceVersion)
    // The Role grants create, update and delete only: nothing is read.
    const counts = sb.emu.requests("a", slices)
    expect({ get: counts.get, list: counts.list, watch: counts.watch, patch: counts.patch }).toEqual({
      get: 0,
      list: 0,
      watch: 0,
      patch: 0
    })
    expect(counts.create).toBe(1)
    expect(Object.values(sb.emu.requests("b", slices)).every((n) => n === 0)).toBe(true)
    expect((await a.http("/healthz")).status).toBe(200)
    expect((await b.http("/healthz")).status).toBe(200)
    neverTwoAddresses()
  })

  it("on SIGTERM the old address is out before the lease is released, and the new leader's replaces it", async () => {
    const { a } = await pair()
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    await eventually(() => (addressNow() === ipOf("b") ? true : undefined), "b's address")
    const removed = indexOf((c) => c.kind === "slice" && c.type === "DELETED")
    const released = indexOf((c) => c.kind === "lease" && c.holder === "")
    const acquired = indexOf((c) => c.kind === "lease" && c.holder === "b")
    const republished = indexOf((c) => c.kind === "slice" && c.type === "ADDED" && c.addresses[0] === ipOf("b"))
    expect(removed).toBeGreaterThanOrEqual(0)
    expect([removed < released, released < acquired, acquired < republished]).toEqual([true, true, true])
    expect(a.lines.map((l) => l.message)).toContain("service endpoints removed")
    const next = await eventually(() => starts().find((r) => r.id === "b"), "b's child")
    expect(overlaps(lives(readRecords(sb.childLog()), { running: new Set([next.pid]) }))).toEqual([])
    neverTwoAddresses()
  })

  it("a child that exits by itself: the address goes before the lease is released, and its code is the wrapper's", async () => {
    const a = replica("a", { env: { CHILD_EXIT_AFTER_MS: "800", CHILD_EXIT_CODE: "3" } })
    expect((await a.exited).code).toBe(3)
    const removed = indexOf((c) => c.kind === "slice" && c.type === "DELETED")
    expect(indexOf((c) => c.kind === "slice" && c.type === "ADDED")).toBeGreaterThanOrEqual(0)
    expect(removed).toBeGreaterThanOrEqual(0)
    expect(removed).toBeLessThan(indexOf((c) => c.kind === "lease" && c.holder === ""))
    expect(slice()).toBeUndefined()
  })

  it("a crashed leader's slice is replaced in place by the next leader", async () => {
    const { a } = await pair()
    const { uid } = slice()!.metadata
    await a.killTree()
    await eventually(() => (addressNow() === ipOf("b") ? true : undefined), "b's address", 20_000)
    expect(sliceChanges().map((c) => [c.type, c.addresses])).toEqual([
      ["ADDED", [ipOf("a")]],
      ["MODIFIED", [ipOf("b")]]
    ])
    expect(slice()!.metadata.uid).toBe(uid)
    neverTwoAddresses()
  })

  it("an old leader's DELETE that arrives after the new leader's write leaves the new slice alone", async () => {
    // Delays stand for a partition that holds the old leader's packets; each stays inside its request deadline.
    const timings = { leaseDuration: "6s", renewDeadline: "4s", retryPeriod: "500ms", stopGrace: "1s" }
    const { a } = await pair({ timings })
    sb.emu.setFault("a", { latencyMs: 1200, verbs: ["delete"], resources: [slices] })
    // The lease goes to b behind a's back; a learns of it at its next renew and ends its term.
    const spec = sb.emu.getLease("default", sb.leaseName)!.spec!
    sb.emu.setLease("default", sb.leaseName, { ...spec, holderIdentity: "" })
    const answered = await a.waitFor(
      (l) => /^service endpoints (removed|left in place)/.test(l.message),
      "the answer to a's DELETE"
    )
    expect(indexOf((c) => c.kind === "slice" && c.addresses[0] === ipOf("b"))).toBeGreaterThanOrEqual(0)
    expect(sliceChanges().filter((c) => c.type === "DELETED")).toEqual([])
    expect(answered.message).toBe("service endpoints left in place: written by another since this term")
    expect(sb.emu.requests("a", slices).delete).toBe(1)
    await eventually(() => (addressNow() === ipOf("b") ? true : undefined), "b's address")
    neverTwoAddresses()
  })

  it("puts back a slice someone deleted or changed, and writes nothing once its term is over", async () => {
    const a = replica("a")
    await published(a)
    sb.emu.deleteObject("discovery.k8s.io/v1", "EndpointSlice", "default", sliceName)
    await eventually(() => (addressNow() === ipOf("a") ? true : undefined), "the slice put back")
    sb.emu.updateObject("discovery.k8s.io/v1", "EndpointSlice", "default", sliceName, (o) => {
      o["endpoints"] = [{ addresses: ["10.9.9.9"], conditions: { ready: true } }]
    })
    await eventually(() => (addressNow() === ipOf("a") ? true : undefined), "the slice restored")
    expect(a.lines.filter((l) => l.message === "service endpoints restored")).toHaveLength(2)
    // The lease taken from a: its term ends, the slice goes, and a (a follower now) writes nothing more.
    const spec = sb.emu.getLease("default", sb.leaseName)!.spec!
    sb.emu.setLease("default", sb.leaseName, { ...spec, holderIdentity: "intruder", leaseDurationSeconds: 60 })
    await a.waitFor((l) => l.message === "service endpoints removed", "the removal")
    await a.transition("Follower", a.lines.findIndex((l) => l.annotations["to"] === "Leader"))
    const after = sb.emu.requests("a", slices)
    const seen = history.length
    await new Promise((r) => setTimeout(r, 2_000)) // four retry periods in which nothing may happen
    expect(sb.emu.requests("a", slices)).toEqual(after)
    expect(history.slice(seen).filter((c) => c.kind === "slice")).toEqual([])
    expect(slice()).toBeUndefined()
    expect(a.exitCode).toBeUndefined()
  })

  it("a partitioned leader stops its child on time although the DELETE of its slice hangs", async () => {
    // A request deadline (2 s here) spent before the SIGTERM would leave 0 s of the lease's 1 s margin.
    const timings = { leaseDuration: "6s", renewDeadline: "4s", retryPeriod: "500ms", stopGrace: "1s" }
    const { a } = await pair({ timings })
    const lastRenew = Date.now()
    sb.emu.setFault("a", { hang: true })
    const releasing = await a.transition("Releasing", 0, 10_000)
    const stop = await stopOf("a")
    expect(stop.t - Date.parse(releasing.timestamp)).toBeLessThan(1_000)
    expect(stop.t - lastRenew).toBeLessThan(6_000)
    await a.waitFor((l) => l.message.startsWith("service endpoints not removed"), "the bounded removal")
    // The slice stays on a's address until b, which waited out the lease, replaces it.
    await eventually(() => (addressNow() === ipOf("b") ? true : undefined), "b's address", 20_000)
    const next = await eventually(() => starts().find((r) => r.id === "b"), "b's child")
    expect(next.t).toBeGreaterThanOrEqual(stop.t)
    neverTwoAddresses()
  })

  it("a slow DELETE of the slice in a normal step-down with a short grace never makes /healthz say stuck", async () => {
    // Requests get 4 s here (half the renew deadline); the DELETE takes 3.5 s, the child 0 s, the grace is 200 ms.
    const timings = { leaseDuration: "12s", renewDeadline: "8s", retryPeriod: "1s", stopGrace: "200ms" }
    const a = replica("a", { timings })
    await published(a)
    sb.emu.setFault("a", { latencyMs: 3_500, verbs: ["delete"], resources: [slices] })
    a.signal("SIGTERM")
    await a.transition("Releasing")
    const answers: Array<number> = []
    while (a.exitCode === undefined) {
      const res = await fetch(`http://127.0.0.1:${await a.port}/healthz`).catch(() => undefined)
      if (res !== undefined) answers.push(res.status)
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(answers.length).toBeGreaterThan(20)
    expect(answers.filter((s) => s !== 200)).toEqual([])
    expect(a.lines.some((l) => l.message === "service endpoints removed")).toBe(true)
  })

  it("k8s-await-election's variables work the same, IPv6 included", async () => {
    const env = (id: string, ip: string): Record<string, string> => ({
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_NAME: "web-election",
      K8S_AWAIT_ELECTION_LOCK_NAME: sb.leaseName,
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_IDENTITY: id,
      K8S_AWAIT_ELECTION_SERVICE_NAME: service,
      K8S_AWAIT_ELECTION_SERVICE_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_SERVICE_PORTS_JSON: "[{\"name\":\"http\",\"port\":80}]",
      K8S_AWAIT_ELECTION_POD_IP: ip,
      K8S_AWAIT_ELECTION_NODE_NAME: `node-${id}`
    })
    const a = sb.replica("a", { env: env("a", "fd00::a") })
    await published(a)
    expect(slice()!["addressType"]).toBe("IPv6")
    expect(slice()!["endpoints"]).toMatchObject([{ addresses: ["fd00::a"], nodeName: "node-a" }])
    expect(slice()!["ports"]).toEqual([{ name: "http", protocol: "TCP", port: 80 }])
    const b = sb.replica("b", { env: env("b", "fd00::b") })
    await b.port
    await sb.emu.watchOpened("b")
    a.signal("SIGTERM")
    await a.exited
    await eventually(() => (addressNow() === "fd00::b" ? true : undefined), "b's address")
    const removed = indexOf((c) => c.kind === "slice" && c.type === "DELETED")
    expect(removed).toBeGreaterThanOrEqual(0)
    expect(removed).toBeLessThan(indexOf((c) => c.kind === "lease" && c.holder === ""))
    neverTwoAddresses()
  })

  it("a 403 on endpointslices is said once, retried no faster than the retry period, and the child runs on", async () => {
    await sb.restartEmulator({ forbidden: [{ client: "a", resource: slices }] })
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
    const a = replica("a")
    const line = await a.waitFor((l) => l.level === "WARN" && l.message.includes("403"), "a 403 line")
    expect(line.message).toContain("create, update and delete on endpointslices.discovery.k8s.io")
    const since = Date.now()
    await eventually(() => (sb.emu.requests("a", slices).update >= 4 ? true : undefined), "retries")
    // Backoff from the retry period (500 ms): 500, 1000, 2000 ms; each wait at least a retry period.
    expect(Date.now() - since).toBeGreaterThanOrEqual(3 * 500)
    expect(a.lines.filter((l) => l.message.includes("403"))).toHaveLength(1)
    expect(readRecords(sb.childLog()).filter((r) => r.event === "stop")).toEqual([])
    expect((await a.http("/")).status).toBe(200)
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    // Nothing was written, so there is nothing to delete.
    expect(sb.emu.requests("a", slices).delete).toBe(0)
  })
})
