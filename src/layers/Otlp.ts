/**
 * Spans out over OTLP/HTTP through Effect's own exporter. Loaded only when an
 * endpoint is set (see Tracing.ts), so a run without one never loads it.
 */
import { ConfigProvider, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import type { OtelPlan } from "../domain/Otel.ts"

export const otlpTracing = (plan: Extract<OtelPlan, { _tag: "Otlp" }>) =>
  OtlpTracer.layerFromConfig().pipe(
    Layer.provide(plan.protocol === "json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { ...plan.env } })))
  )
