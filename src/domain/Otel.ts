/**
 * Whether and how spans leave the process, from the OpenTelemetry environment
 * variables. Pure. Effect's OTLP exporter reads the same variables but differs
 * from the OpenTelemetry conventions in two ways, bridged here: it exports only
 * when OTEL_TRACES_EXPORTER names otlp (the convention: unset means otlp), and
 * it dies without a service name (here: just-one-init unless one is given).
 */
export type OtelPlan =
  | { readonly _tag: "Off"; readonly warning?: string | undefined }
  | {
    readonly _tag: "Otlp"
    readonly protocol: "json" | "protobuf"
    /** The environment the exporter reads, with the defaults above filled in. */
    readonly env: Readonly<Record<string, string>>
  }
  | { readonly _tag: "Invalid"; readonly message: string }

export interface OtelDefaults {
  readonly serviceVersion: string
  /** This replica's identity: the resource's service.instance.id unless one is given. */
  readonly instance: string
}

const text = (env: Readonly<Record<string, string | undefined>>, ...names: ReadonlyArray<string>) =>
  names.map((n) => env[n]?.trim() ?? "").find((v) => v !== "") ?? ""

/** The keys of OTEL_RESOURCE_ATTRIBUTES (`key=value,…`, percent-encoded). */
const resourceKeys = (attributes: string) =>
  new Set(attributes.split(",").map((kv) => kv.split("=")[0]!.trim()).filter((k) => k !== ""))

export const otelPlan = (env: Readonly<Record<string, string | undefined>>, defaults: OtelDefaults): OtelPlan => {
  const variable = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]?.trim()
    ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    : "OTEL_EXPORTER_OTLP_ENDPOINT"
  const endpoint = text(env, variable)
  if (endpoint === "") return { _tag: "Off" }
  if (text(env, "OTEL_SDK_DISABLED").toLowerCase() === "true") return { _tag: "Off" }
  const exporters = text(env, "OTEL_TRACES_EXPORTER").toLowerCase().split(",").map((e) => e.trim()).filter((e) =>
    e !== ""
  )
  if (exporters.length > 0 && !exporters.includes("otlp")) return { _tag: "Off" }
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
    return { _tag: "Invalid", message: `${variable}: not an http(s) URL: ${JSON.stringify(endpoint.slice(0, 200))}` }
  }
  const protocol = text(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") || "http/protobuf"
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    return {
      _tag: "Off",
      warning:
        `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported (http/protobuf and http/json are): no traces are exported`
    }
  }
  const given = text(env, "OTEL_RESOURCE_ATTRIBUTES")
  const keys = resourceKeys(given)
  const ours = [
    ...(keys.has("service.instance.id") ? [] : [`service.instance.id=${encodeURIComponent(defaults.instance)}`]),
    ...(keys.has("service.version") || text(env, "OTEL_SERVICE_VERSION") !== ""
      ? []
      : [`service.version=${encodeURIComponent(defaults.serviceVersion)}`])
  ]
  const strings = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => typeof e[1] === "string")
  )
  return {
    _tag: "Otlp",
    protocol: protocol === "http/json" ? "json" : "protobuf",
    env: {
      ...strings,
      OTEL_TRACES_EXPORTER: "otlp",
      ...(text(env, "OTEL_SERVICE_NAME") === "" && !keys.has("service.name")
        ? { OTEL_SERVICE_NAME: "just-one-init" }
        : {}),
      OTEL_RESOURCE_ATTRIBUTES: [...ours, ...(given === "" ? [] : [given])].join(",")
    }
  }
}
