/**
 * Traces: real wrapper processes export their spans over OTLP/HTTP through
 * Effect's exporter to a local receiver, following the OpenTelemetry variables;
 * without an endpoint the exporter's code is never even loaded.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually } from "../harness/replica.ts"
import { startReceiver } from "./support/otlp.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("trace")
/** Leading, with its child running (and so past its own start-up, ready for a SIGTERM). */
const leads = async (r: Replica) => {
  await r.transition("Leader")
  await eventually(() => readRecords(sb.childLog()).find((x) => x.event === "start" && x.id === r.id), "its child")
}
let receiver: Awaited<ReturnType<typeof startReceiver>>
beforeEach(async () => {
  receiver = await startReceiver()
})
afterEach(() => receiver.close())

/** The bundle's files a process loaded, through a module hook given in NODE_OPTIONS (the child writes nothing). */
const loadHook = (log: string) => {
  const hook = join(sb.dir, "hook.mjs")
  writeFileSync(
    hook,
    [
      `import { registerHooks } from "node:module"`,
      `import { appendFileSync } from "node:fs"`,
      `registerHooks({ load(url, context, next) { if (url.includes("/dist/")) appendFileSync(${
        JSON.stringify(log)
      }, url + "\\n"); return next(url, context) } })`
    ].join("\n")
  )
  return { NODE_OPTIONS: `--import=${hook}` }
}
const loadedText = (log: string) =>
  [...new Set(readFileSync(log, "utf8").split("\n").filter((l) => l !== ""))]
    .map((url) => readFileSync(new URL(url), "utf8"))
    .join("\n")
/** A string only Effect's OTLP exporter holds (its User-Agent). */
const otlpMarker = "OTel-OTLP-Exporter-JavaScript"

describe("traces", () => {
  it("exports the spans of a gate's wait and an acquire-renew-release cycle, with the machine's fields, over OTLP/HTTP JSON", async () => {
    // A gate that passes at once, so that its wait has its spans too.
    const r = sb.replica("a", {
      args: ["--wait-for", `file:${sb.dir}`],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=platform%20core"
      }
    })
    await leads(r)
    // Two renews (every 500 ms; the acquire of the sandbox's released lease is an update too), then a
    // graceful stop: child stopped, lease released.
    await eventually(() => (sb.emu.requests("a").update >= 3 ? true : undefined), "two renews")
    r.signal("SIGTERM")
    expect((await r.exited).code).toBe(0)
    // Spans are exported when the wrapper exits, if not before.
    const spans = receiver.spans()
    const named = (name: string) => spans.filter((s) => s.name === name)
    expect(receiver.received.every((x) => x.path === "/v1/traces")).toBe(true)

    const [acquire] = named("LeaseCommands.acquire")
    expect(acquire?.attributes).toMatchObject({
      lease: `default/${sb.leaseName}`,
      identity: "a",
      outcome: "Acquired",
      "lease.holder": "a",
      "lease.base.resourceVersion": expect.any(String)
    })
    expect(acquire?.status.code).toBe(1)
    const renews = named("LeaseCommands.renew")
    expect(renews.length).toBeGreaterThanOrEqual(2)
    expect(renews[0]!.attributes).toMatchObject({ outcome: "Renewed", "lease.base.holder": "a", identity: "a" })
    expect(Number(renews[0]!.attributes["lease.resourceVersion"])).toBeGreaterThan(
      Number(renews[0]!.attributes["lease.base.resourceVersion"])
    )
    expect(named("LeaseCommands.release")[0]?.attributes).toMatchObject({
      lease: `default/${sb.leaseName}`,
      "lease.base.holder": "a"
    })
    const child = named("Leadership.term")[0]
    expect(child?.attributes).toMatchObject({ byItself: false, exitCode: 0 })
    expect(typeof child?.attributes["pid"]).toBe("number")
    expect(typeof child?.attributes["stopMs"]).toBe("number")
    // The fencing token the child was given: the lease's transitions as the acquire wrote them.
    expect(child?.attributes["fencing.token"]).toBe(sb.emu.getLease("default", sb.leaseName)?.spec.leaseTransitions)
    expect(named("Informer.session").map((s) => s.attributes["what"])).toContain(`lease default/${sb.leaseName}`)
    expect(named("Gates.wait")).toHaveLength(1)
    expect(named("Gate.wait").map((s) => s.attributes)).toEqual([{ gate: `file ${sb.dir}`, "gate.kind": "File" }])
    expect(named("KubeClient.request").some((s) => s.attributes["http.response.status_code"] === 200)).toBe(true)
    // One trace: the calls are children of the elector's run.
    const run = named("Elector.run")[0]!
    expect(acquire!.traceId).toBe(run.traceId)
    // The resource, by the conventions: service.name defaults to just-one-init; OTEL_RESOURCE_ATTRIBUTES is decoded.
    expect((acquire as unknown as { resource: Record<string, unknown> }).resource).toMatchObject({
      "service.name": "just-one-init",
      "service.instance.id": "a",
      "deployment.environment": "test",
      team: "platform core"
    })
  })

  it("speaks http/protobuf by default, takes OTEL_SERVICE_NAME, and OTEL_TRACES_EXPORTER=none turns it off", async () => {
    const proto = sb.replica("a", {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "billing-cron" }
    })
    await leads(proto)
    proto.signal("SIGTERM")
    expect((await proto.exited).code).toBe(0)
    expect(receiver.received.length).toBeGreaterThan(0)
    expect(receiver.received.every((x) => x.contentType === "application/x-protobuf")).toBe(true)
    // Protobuf keeps strings as they are: the span names and the service name are in the bytes.
    const bytes = Buffer.concat(receiver.received.map((x) => x.body)).toString("latin1")
    expect(bytes).toContain("LeaseCommands.acquire")
    expect(bytes).toContain("billing-cron")

    receiver.received.length = 0
    const off = sb.replica("b", { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: "none" } })
    await leads(off)
    off.signal("SIGTERM")
    expect((await off.exited).code).toBe(0)
    expect(receiver.received).toEqual([])
  })

  it("loads the OTLP exporter only when an endpoint is set", async () => {
    const without = join(sb.dir, "without.log")
    const plain = sb.replica("a", { env: loadHook(without) })
    await leads(plain)
    plain.signal("SIGTERM")
    await plain.exited
    const text = loadedText(without)
    expect(text).toContain("LeaseCommands.acquire")
    expect(text).not.toContain(otlpMarker)

    const withEndpoint = join(sb.dir, "with.log")
    const traced = sb.replica("b", {
      env: { ...loadHook(withEndpoint), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
    })
    await leads(traced)
    traced.signal("SIGTERM")
    await traced.exited
    expect(loadedText(withEndpoint)).toContain(otlpMarker)
  })

  it("refuses an endpoint that is not a URL with one line, and starts nothing", async () => {
    const r = sb.replica("a", { env: { OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" } })
    const { code } = await r.exited
    expect(code).toBe(2)
    expect(r.stderr.trim().split("\n")).toEqual([
      `just-one-init: OTEL_EXPORTER_OTLP_ENDPOINT: not an http(s) URL: "collector:4318"`
    ])
    expect(existsSync(sb.childLog())).toBe(false)
  })
})
