/** Which OpenTelemetry variables mean what (src/domain/Otel.ts): the conventions, and Effect's defaults bridged. */
import { describe, expect, it } from "vitest"
import { otelPlan } from "../src/domain/Otel.ts"

const defaults = { serviceVersion: "1.2.3", instance: "pod-0" }
const plan = (env: Record<string, string>) => otelPlan(env, defaults)

describe("the OpenTelemetry variables", () => {
  it("export nothing without an endpoint, or when turned off", () => {
    expect(plan({})).toEqual({ _tag: "Off" })
    expect(plan({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_EXPORTER: "otlp" })).toEqual({ _tag: "Off" })
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }
    expect(plan({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toEqual({ _tag: "Off" })
    expect(plan({ ...endpoint, OTEL_TRACES_EXPORTER: "console" })).toEqual({ _tag: "Off" })
    expect(plan({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toEqual({ _tag: "Off" })
    expect(plan({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatchObject({
      _tag: "Off",
      warning: expect.stringContaining("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported")
    })
  })

  it("fill in what Effect's exporter would otherwise miss: otlp, a service name, this replica", () => {
    const p = plan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "" })
    expect(p).toMatchObject({
      _tag: "Otlp",
      protocol: "protobuf",
      env: {
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_SERVICE_NAME: "just-one-init",
        OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=pod-0,service.version=1.2.3"
      }
    })
    // What the operator gave wins: theirs come last in OTEL_RESOURCE_ATTRIBUTES, and a name there is kept.
    const given = plan({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://collector/v1/traces",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_TRACES_EXPORTER: "console, OTLP",
      OTEL_RESOURCE_ATTRIBUTES: "service.name=billing,service.instance.id=x"
    })
    expect(given).toMatchObject({ _tag: "Otlp", protocol: "json" })
    const env = (given as { env: Record<string, string> }).env
    expect(env["OTEL_SERVICE_NAME"]).toBeUndefined()
    expect(env["OTEL_RESOURCE_ATTRIBUTES"]).toBe("service.version=1.2.3,service.name=billing,service.instance.id=x")
  })

  it("refuse an endpoint that is not an http(s) URL, naming the variable", () => {
    expect(plan({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toEqual({
      _tag: "Invalid",
      message: `OTEL_EXPORTER_OTLP_ENDPOINT: not an http(s) URL: "collector:4318"`
    })
    expect(plan({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "::" })).toMatchObject({
      _tag: "Invalid",
      message: expect.stringMatching(/^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: /)
    })
  })
})
