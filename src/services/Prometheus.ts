/**
 * Effect's Prometheus text format, in a module of its own: it imports Effect's
 * HTTP router, which the wrapper otherwise never needs, so it is loaded (a chunk
 * of the bundle) only on the first scrape of /metrics.
 */
import { PrometheusMetrics } from "effect/observability"

export const format = PrometheusMetrics.format
