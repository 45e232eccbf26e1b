/**
 * Where spans go: nowhere beyond Effect's own in-process tracer, unless an OTLP
 * endpoint is set; then the exporter module is imported (a chunk of its own in
 * the bundle), so that a run without one pays nothing for it.
 */
import { Effect, Layer } from "effect"
import type { OtelPlan } from "../domain/Otel.ts"

export const tracing = (plan: OtelPlan): Layer.Layer<never> => {
  switch (plan._tag) {
    case "Otlp":
      return Layer.unwrap(Effect.map(Effect.promise(() => import("./Otlp.ts")), (m) => m.otlpTracing(plan)))
    case "Off":
      return plan.warning === undefined ? Layer.empty : Layer.effectDiscard(Effect.logWarning(plan.warning))
    case "Invalid":
      return Layer.empty
  }
}
