/**
 * Each kind of gate checked for real: the Kubernetes gates in-process over
 * HTTP against the emulator (lists, watches, selectors, RBAC, a missing API
 * group), the local ones against real files, sockets, ports, the resolver and
 * an HTTP server. Each test sees the gate pending with its reason, makes the
 * change that should pass it, and sees it pass (or, where it must not, stay).
 */
import { Effect, Fiber, Layer } from "effect"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createHttpServer } from "node:http"
import { createServer, type Server } from "node:net"
import { hostname } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { objects } from "../emulator/index.ts"
import { needsApi } from "../src/domain/GateRules.ts"
import type { Progress } from "../src/domain/GateRules.ts"
import type { Gate } from "../src/domain/Gates.ts"
import { KubeClient } from "../src/kube/KubeClient.ts"
import type { Self } from "../src/services/GatesKube.ts"
import { checkApiGate } from "../src/services/GatesKube.ts"
import { checkLocalGate } from "../src/services/GatesLocal.ts"
import { HelperProcesses } from "../src/services/HelperProcesses.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("kinds")
const client = "kinds"

/** A gate being checked: its reasons and warnings (one per key, as Gates logs them) as they come, and whether it passed. */
class Check {
  readonly reasons: Array<string> = []
  readonly warnings: Array<string> = []
  private readonly warned = new Set<string>()
  passed = false
  private waiters: Array<() => void> = []
  readonly fiber: Fiber.Fiber<void>

  constructor(gate: Gate, self: Self) {
    const progress: Progress = {
      pending: (reason) => Effect.sync(() => this.note(() => this.reasons.push(reason))),
      warn: (key, message) =>
        Effect.sync(() =>
          this.note(() => {
            if (!this.warned.has(key)) this.warnings.push(message)
            this.warned.add(key)
          })
        )
    }
    const check = needsApi(gate)
      ? Effect.flatMap(KubeClient, (kube) => checkApiGate({ kube, requestTimeoutMs: 2000 }, self)(gate, progress)).pipe(
        Effect.provide(KubeClient.layer.pipe(Layer.provideMerge(HelperProcesses.layer))),
        Effect.orDie
      )
      : checkLocalGate(gate, progress)
    this.fiber = Effect.runFork(check.pipe(Effect.tap(() => Effect.sync(() => this.note(() => (this.passed = true))))))
  }

  private note(f: () => void) {
    f()
    for (const w of this.waiters) w()
  }

  /** Resolve once `pred` holds (checked at once and after every report); reject after `timeoutMs`. */
  until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (pred()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no ${what} within ${timeoutMs}ms; reasons: ${JSON.stringify(this.reasons.slice(-5))}`))
      }, timeoutMs)
      const waiter = () => {
        if (!pred()) return
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve()
      }
      this.waiters.push(waiter)
    })
  }

  reason(text: string | RegExp) {
    return this.until(
      () => this.reasons.some((r) => (typeof text === "string" ? r === text : text.test(r))),
      `reason ${String(text)}`
    )
  }

  pass() {
    return this.until(() => this.passed, "pass")
  }

  /** The reasons in order, each once however often it was judged again. */
  history() {
    return this.reasons.filter((r, i) => r !== this.reasons[i - 1])
  }
}

const checks: Array<Check> = []
const savedKubeconfig = process.env["KUBECONFIG"]
afterEach(async () => {
  await Promise.all(checks.splice(0).map((c) => Effect.runPromise(Fiber.interrupt(c.fiber))))
  process.env["KUBECONFIG"] = savedKubeconfig
})

const start = (gate: Gate, self: Partial<Self> = {}) => {
  const kubeconfig = join(sb.dir, `${client}.kubeconfig`)
  sb.emu.writeKubeconfig(kubeconfig, client, "default")
  process.env["KUBECONFIG"] = kubeconfig
  const c = new Check(gate, { namespace: "default", podName: "web-0", nodeName: null, ...self })
  checks.push(c)
  return c
}

const common = (label: string) => ({ label, source: "--wait-for" })
const service = (name: string): Gate => ({ _tag: "Service", namespace: "default", name, ...common(`service ${name}`) })
const listsOf = (resource: string) => sb.emu.requests(client, resource).list

describe("service gates", () => {
  it("pass on a ready endpoint in an EndpointSlice, seen through the watch", async () => {
    sb.emu.putObject(objects.service({ name: "db" }))
    const c = start(service("db"))
    await c.reason("0 ready endpoints (no EndpointSlice)")
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: false }] }))
    await c.reason("0 ready endpoints (1 not ready)")
    // Another service's ready slice is not this one's.
    sb.emu.putObject(objects.endpointSlice({ service: "cache", endpoints: [{ ip: "10.0.0.9", ready: true }] }))
    sb.emu.updateObject("discovery.k8s.io/v1", "EndpointSlice", "default", "db-abcde", (o) => {
      o["endpoints"] = [{ addresses: ["10.0.0.1"], conditions: { ready: true } }]
    })
    await c.pass()
    expect(listsOf("endpointslices.discovery.k8s.io")).toBe(1)
    expect(c.warnings).toEqual([])
  })

  it("read the Endpoints only when the EndpointSlice API is missing", async () => {
    await sb.restartEmulator({ missingGroups: ["discovery.k8s.io"] })
    sb.emu.putObject(objects.endpoints({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: false }] }))
    const c = start(service("db"))
    await c.reason("0 ready endpoints (1 not ready)")
    expect(c.warnings).toEqual([
      "the API server has no EndpointSlice API (discovery.k8s.io/v1): reading the Service's Endpoints instead"
    ])
    sb.emu.putObject(objects.endpoints({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: true }] }))
    await c.pass()
  })

  it("never fall back to Endpoints on another error: a 403 on EndpointSlices stays pending, said once", async () => {
    await sb.restartEmulator({ forbidden: [{ client, resource: "endpointslices.discovery.k8s.io" }] })
    sb.emu.putObject(objects.endpoints({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: true }] }))
    const c = start(service("db"))
    const forbidden =
      "forbidden to list endpointslices.discovery.k8s.io in namespace default (403): the Role bound to this service account needs list and watch on endpointslices.discovery.k8s.io"
    await c.reason(forbidden)
    await c.until(() => listsOf("endpointslices.discovery.k8s.io") >= 3, "three lists")
    expect(c.warnings).toEqual([forbidden])
    expect(c.passed).toBe(false)
    expect(sb.emu.requests(client, "endpoints").list).toBe(0)
  })

  it("still pass when the Role allows list but not watch, by listing again", async () => {
    await sb.restartEmulator({ forbidden: [{ client, verbs: ["watch"], resource: "endpointslices" }] })
    const c = start(service("db"))
    await c.reason("0 ready endpoints (no EndpointSlice) (cannot watch: listing every few seconds)")
    expect(c.warnings).toEqual([
      "forbidden to watch endpointslices.discovery.k8s.io in namespace default (403): the Role bound to this service account needs list and watch on endpointslices.discovery.k8s.io; listing every few seconds instead"
    ])
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1" }] }))
    await c.pass()
  })
})

describe("job gates", () => {
  it("one Job passes once it has succeeded", async () => {
    const c = start({ _tag: "Job", namespace: "default", name: "init", ...common("job init") })
    await c.reason("not found")
    sb.emu.putObject(objects.job({ name: "init", active: 1 }))
    await c.reason("not succeeded yet (1 active)")
    sb.emu.putObject(objects.job({ name: "other", succeeded: 1 }))
    sb.emu.putObject(objects.job({ name: "init", succeeded: 1 }))
    await c.pass()
    expect(c.history()).toEqual(["not found", "not succeeded yet (1 active)"])
  })

  it("jobs by labels pass when every match has succeeded", async () => {
    sb.emu.putObject(objects.job({ name: "a", labels: { app: "init" }, succeeded: 1 }))
    sb.emu.putObject(objects.job({ name: "b", labels: { app: "init" }, active: 1 }))
    sb.emu.putObject(objects.job({ name: "c", labels: { app: "other" }, active: 1 }))
    const c = start({ _tag: "JobSelector", namespace: "default", labels: { app: "init" }, ...common("job app=init") })
    await c.reason("1 of 2 not succeeded yet: b")
    sb.emu.putObject(objects.job({ name: "b", labels: { app: "init" }, succeeded: 1 }))
    await c.pass()
    expect(c.history()).toEqual(["1 of 2 not succeeded yet: b"])
  })
})

describe("daemonset gates", () => {
  const gate: Gate = { _tag: "DaemonSet", namespace: "default", name: "agent", ...common("daemonset agent") }

  it("pass when its pod on this node is Ready; none on this node does not pass", async () => {
    const ds = sb.emu.putObject(objects.daemonSet({ name: "agent", labels: { app: "agent" } }))
    sb.emu.putObject(objects.daemonSetPod(ds, "node-2", { ready: true }))
    const c = start(gate, { nodeName: "node-1" })
    await c.reason("no pod of it on node node-1")
    // Something changes on this node, but still no pod of the DaemonSet there: judged again, still pending.
    sb.emu.putObject(objects.pod({ name: "lookalike", labels: { app: "agent" }, nodeName: "node-1", ready: true }))
    await c.until(() => c.reasons.length >= 2, "a second judgement")
    expect(c.passed).toBe(false)
    sb.emu.putObject(objects.daemonSetPod(ds, "node-1", { ready: false }))
    await c.reason("its pod agent-node1 on node node-1 is not Ready")
    sb.emu.putObject(objects.daemonSetPod(ds, "node-1", { ready: true }))
    await c.pass()
  })

  it("find this node from this pod when NODE_NAME is not given", async () => {
    const ds = sb.emu.putObject(objects.daemonSet({ name: "agent", labels: { app: "agent" } }))
    sb.emu.putObject(objects.daemonSetPod(ds, "node-3", { ready: true }))
    const c = start(gate, { podName: "web-0" })
    await c.reason("this pod (web-0) not found, so its node is unknown")
    sb.emu.putObject(objects.pod({ name: "web-0", nodeName: "node-3" }))
    await c.pass()
    expect(c.history()).toEqual(["this pod (web-0) not found, so its node is unknown"])
  })
})

describe("container and pod gates", () => {
  it("a container of this pod passes when it is ready", async () => {
    const containers = ["app", "sidecar"]
    const c = start({ _tag: "Container", namespace: "default", pod: "web-0", name: "sidecar", ...common("container") })
    await c.reason("pod web-0 not found")
    sb.emu.putObject(objects.pod({ name: "web-0", containers, nodeName: "n1", ready: true, notReady: ["sidecar"] }))
    await c.reason("not ready")
    sb.emu.putObject(objects.pod({ name: "web-0", containers, nodeName: "n1", ready: true }))
    await c.pass()
    expect(c.history()).toEqual(["pod web-0 not found", "not ready"])
  })

  it("pods with labels pass when one is Ready, on this node when required", async () => {
    const labels = { app: "cache" }
    const c = start(
      { _tag: "Pod", namespace: "default", labels, requireSameNode: true, ...common("pod app=cache on this node") },
      { nodeName: "n1" }
    )
    await c.reason("no pod has these labels on node n1")
    sb.emu.putObject(objects.pod({ name: "cache-far", labels, nodeName: "n2", ready: true }))
    sb.emu.putObject(objects.pod({ name: "cache-near", labels, nodeName: "n1", ready: false }))
    await c.reason("1 pod on node n1, none Ready")
    sb.emu.putObject(objects.pod({ name: "cache-near", labels, nodeName: "n1", ready: true }))
    await c.pass()
    expect(c.history()).toEqual(["no pod has these labels on node n1", "1 pod on node n1, none Ready"])
  })

  it("pods with labels anywhere", async () => {
    const labels = { app: "cache" }
    const c = start({ _tag: "Pod", namespace: "default", labels, requireSameNode: false, ...common("pod app=cache") })
    await c.reason("no pod has these labels")
    sb.emu.putObject(objects.pod({ name: "cache-far", labels, nodeName: "n2", ready: true }))
    await c.pass()
    expect(c.history()).toEqual(["no pod has these labels"])
  })
})

describe("custom resource gates", () => {
  const widget = (
    fields: Array<{ key: string; value: string }>,
    conditions: Array<{ type: string; status: string }>,
    kind = "Widget"
  ): Gate => ({
    _tag: "CustomResource",
    apiVersion: "example.com/v1",
    kind,
    namespace: "default",
    name: "w",
    fields,
    conditions,
    ...common("widget default/w")
  })
  const put = (status: Record<string, unknown>) =>
    sb.emu.putObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, spec: {}, status })

  it("pass when the fields have their values and the conditions their status", async () => {
    const c = start(widget([{ key: "status.phase", value: "Ready" }], [{ type: "Available", status: "True" }]))
    await c.reason("not found")
    put({ phase: "Pending" })
    await c.reason(`field status.phase is "Pending", not "Ready"`)
    put({ phase: "Ready" })
    await c.reason("no condition Available")
    put({ phase: "Ready", conditions: [{ type: "Available", status: "True" }] })
    await c.pass()
    expect(c.history()).toEqual([
      "not found",
      `field status.phase is "Pending", not "Ready"`,
      "no condition Available"
    ])
  })

  it("a kind the API server does not serve stays pending with the reason", async () => {
    const c = start(widget([], [], "Gadget"))
    await c.reason("the API server serves no kind Gadget in example.com/v1")
    expect(c.passed).toBe(false)
  })
})

describe("local gates", () => {
  const local = (tag: "File" | "Socket", path: string): Gate => ({ _tag: tag, path, ...common(`${tag} ${path}`) })
  const listening = (server: Server, where: number | string) =>
    new Promise<void>((resolve) => server.listen(where, () => resolve()))
  const servers: Array<{ close(): unknown }> = []
  afterEach(() => {
    for (const s of servers.splice(0)) s.close()
  })

  it("file: passes once the path exists", async () => {
    const path = join(sb.dir, "ready")
    const c = start(local("File", path))
    await c.reason("does not exist")
    writeFileSync(path, "")
    await c.pass()
    expect(c.history()).toEqual(["does not exist"])
  })

  it("file: a dependency that comes up once the backoff is at its longest is noticed within a second", async () => {
    const path = join(sb.dir, "late")
    const c = start(local("File", path))
    // By the sixth attempt (1.7 s in) the checks are as far apart as they ever get.
    await c.until(() => c.reasons.length >= 6, "six attempts")
    writeFileSync(path, "")
    const up = Date.now()
    await c.pass()
    // At most one interval (500 ms) and one check; wide for a busy machine, below the old 2 s interval.
    expect(Date.now() - up).toBeLessThan(1500)
  })

  it("socket: passes once a listener accepts a connection on it", async () => {
    const path = join(sb.dir, "db.sock")
    const c = start(local("Socket", path))
    await c.reason("does not exist")
    writeFileSync(path, "")
    await c.reason("exists but is not a socket")
    rmSync(path)
    const server = createServer((s) => s.destroy())
    servers.push(server)
    await listening(server, path)
    await c.pass()
    expect(c.history()).toEqual(["does not exist", "exists but is not a socket"])
  })

  it("tcp: passes once the port accepts a connection", async () => {
    const probe = createServer()
    await listening(probe, 0)
    const port = (probe.address() as { port: number }).port
    await new Promise((r) => probe.close(r))
    const c = start({ _tag: "Tcp", host: "127.0.0.1", port, ...common(`tcp 127.0.0.1:${port}`) })
    await c.reason("connection refused")
    const server = createServer((s) => s.destroy())
    servers.push(server)
    await listening(server, port)
    await c.pass()
    expect(c.history()).toEqual(["connection refused"])
  })

  it("dns: localhost resolves; a name that cannot resolve stays pending", async () => {
    const ok = start({ _tag: "Dns", name: "localhost", ...common("dns localhost") })
    await ok.pass()
    const never = start({ _tag: "Dns", name: "no-such-name.invalid", ...common("dns no-such-name.invalid") })
    await never.reason(/^does not resolve/)
    await never.until(() => never.reasons.length >= 2, "a second attempt")
    expect(never.passed).toBe(false)
  })

  it("http: a 5xx keeps it pending, a 2xx passes", async () => {
    let status = 503
    const server = createHttpServer((_req, res) => res.writeHead(status).end())
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/ready`
    const c = start({ _tag: "Http", url, ...common(url) })
    await c.reason("HTTP 503")
    status = 204
    await c.pass()
    expect(c.history()).toEqual(["HTTP 503"])
  })

  it("http: credentials in the URL go as basic auth, never into a reason", async () => {
    const seen: Array<string | undefined> = []
    const server = createHttpServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(req.headers.authorization === `Basic ${btoa("u:s3cret p")}` ? 200 : 401).end()
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    const url = `http://u:s3cret%20p@127.0.0.1:${(server.address() as { port: number }).port}/ready`
    const c = start({ _tag: "Http", url, ...common("http://u:***@…/ready") })
    await c.pass()
    expect(seen).toEqual([`Basic ${btoa("u:s3cret p")}`])
    expect(c.reasons.join(" ")).not.toContain("s3cret")
  })

  it("config: renders the template to the path; a missing template is pending with one warning", async () => {
    const template = join(sb.dir, "configmaps", "app.conf", "app.conf")
    const path = join(sb.dir, "etc", "app", "app.conf")
    const c = start({ _tag: "Config", path, template, interfaceName: "lo", ...common(`config ${path}`) })
    await c.reason(`template ${template} does not exist`)
    await c.until(() => c.reasons.length >= 3, "more attempts")
    expect(c.warnings).toEqual([`template ${template} does not exist`])
    mkdirSync(join(sb.dir, "configmaps", "app.conf"), { recursive: true })
    writeFileSync(template, "listen {{ .IP }}\nnode {{ .IP_ERLANG }}\nname {{ .HOSTNAME }}\n")
    await c.pass()
    expect(readFileSync(path, "utf8")).toBe(`listen 127.0.0.1\nnode 127,0,0,1\nname ${hostname()}\n`)
  })

  it("config: a template with an unknown field is pending with the reason", async () => {
    const template = join(sb.dir, "bad.conf")
    writeFileSync(template, "port {{ .PORT }}\n")
    const c = start({ _tag: "Config", path: join(sb.dir, "out.conf"), template, interfaceName: "lo", ...common("c") })
    await c.reason(
      `template ${template}: no field PORT: a config template can use {{ .IP }}, {{ .IP_ERLANG }} and {{ .HOSTNAME }}`
    )
    expect(c.passed).toBe(false)
  })
})
