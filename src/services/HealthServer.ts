/**
 * The probe endpoints, as a scoped resource for the wrapper's whole life:
 * followers and replicas still waiting for their gates answer probes too.
 *
 *   GET / and /healthcheck  200 leader with a running child, 404 follower (or waiting), 503 shutting down
 *                           (the original just-one-init's readiness and liveness probes)
 *   GET /healthz            200 in every healthy state, 500 when the wrapper is stuck
 *   GET /status             what the wrapper is doing, as JSON
 *   GET /metrics            Prometheus text; GET /debug/transitions: the last 100 transitions (Telemetry.ts)
 *
 * With k8s-await-election's status endpoint, every other path answers as it did:
 * 200 {"status": "ok"} while healthy, 500 {"status": "expired"} when not.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"
import type { Server } from "node:http"
import type { ListenAddress, Settings } from "../domain/Settings.ts"
import type { WrapperStatus } from "../domain/Status.ts"
import { StatusBoard } from "./StatusBoard.ts"
import { Telemetry } from "./Telemetry.ts"

export type StatusStyle = Settings["statusStyle"]

export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  message: Schema.String
}) {}

export class HealthServer extends Context.Service<HealthServer, {
  /** The address actually bound (port 0 picks a free one). */
  readonly address: { readonly host: string; readonly port: number }
}>()("just-one-init/HealthServer") {
  /** `about`: what /status shows besides what the wrapper is doing (the timings in force). */
  static readonly layer = (listen: ListenAddress, style: StatusStyle, about: Record<string, unknown> = {}) =>
    Layer.effect(
      HealthServer,
      Effect.gen(function*() {
        const board = yield* StatusBoard
        const telemetry = yield* Telemetry
        // Handlers run outside any fiber: they run on the program's services, so that what they log goes
        // through its logger (stderr, the chosen format and level, the identity), never Effect's default.
        const context = yield* Effect.context<never>()
        const status = () => Effect.runSyncWith(context)(board.current)
        const { idleTimeout, maxConnections, ...timeouts } = limits
        const server = createServer(timeouts, async (req, res) => {
          const path = (req.url ?? "/").split("?")[0]
          // Asynchronous: the first scrape of /metrics loads the Prometheus formatter. A page that fails is a 500,
          // never a rejection nobody handles (which would end the process, child and all).
          const page = req.method === "GET"
            ? await Effect.runPromiseWith(context)(
              telemetry.page(path ?? "/").pipe(
                Effect.catchCause((cause) =>
                  Effect.as(Effect.logWarning("health server: a page failed", cause), {
                    status: 500,
                    contentType: "application/json",
                    body: JSON.stringify({ status: "error", error: "internal error" })
                  })
                )
              )
            )
            : undefined
          if (page !== undefined) {
            res.writeHead(page.status, {
              "content-type": page.contentType,
              "content-length": Buffer.byteLength(page.body)
            })
            return void res.end(page.body)
          }
          const [code, body] = req.method !== "GET" && req.method !== "HEAD"
            ? [405, { status: "error", error: "method not allowed" }]
            : route(path, status(), style, about)
          const text = JSON.stringify(body)
          res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
          res.end(req.method === "HEAD" ? undefined : text)
        })
        server.maxConnections = maxConnections
        server.timeout = idleTimeout
        const saturated = yield* Effect.cached(
          Effect.logWarning(
            `health server: ${maxConnections} connections open, new ones are refused until some close (one without a request is closed after ${
              limits.headersTimeout / 1000
            }s)`
          )
        )
        server.on("drop", (d?: { remoteAddress?: string }) =>
          Effect.runForkWith(context)(
            Effect.andThen(
              saturated,
              Effect.logDebug("health server: connection refused").pipe(
                Effect.annotateLogs({ remote: d?.remoteAddress ?? null })
              )
            )
          ))
        const address = yield* Effect.acquireRelease(
          bind(server, listen.host, listen.port, context).pipe(
            Effect.catch((e) =>
              listen.fallbackHost === null || !isNoIpv6(e)
                ? Effect.fail(e)
                : bind(server, listen.fallbackHost, listen.port, context)
            ),
            Effect.mapError((e) =>
              new ListenError({
                message: `--listen-addr: cannot listen on ${formatAddress(listen.host, listen.port)}: ${
                  e.code ?? e.message
                }`
              })
            )
          ),
          () =>
            Effect.callback<void>((resume) => {
              server.close(() => resume(Effect.void))
              server.closeAllConnections()
            })
        )
        yield* Effect.logInfo("health server listening").pipe(
          Effect.annotateLogs({ address: formatAddress(address.host, address.port) })
        )
        return HealthServer.of({ address })
      })
    )
}

/**
 * Bounds, so that whoever can reach the port cannot exhaust the wrapper's descriptors: a few probes and
 * scrapes need a handful of connections, each sending its request at once and reading a small answer.
 * A connection without its whole request after 2 s, idle for 1 s after an answer, or silent for 5 s is
 * closed, checked every 500 ms (Node's default check is every 30 s and its header timeout 60 s).
 */
export const limits = {
  maxConnections: 32,
  headersTimeout: 2_000,
  requestTimeout: 3_000,
  keepAliveTimeout: 1_000,
  connectionsCheckingInterval: 500,
  idleTimeout: 5_000
} as const

/** Whether the wrapper is healthy: only a stuck elector (or stop) is not. */
const healthy = (s: WrapperStatus) => !(s.phase === "election" && s.elector.wedged)

const stateOf = (s: WrapperStatus) => s.phase === "election" ? s.elector.state : s.phase

/** The original just-one-init's answer: 200 only while this replica runs the child. */
const leaderProbe = (s: WrapperStatus): [number, unknown] => {
  const running = s.phase === "election"
    ? s.elector.state === "Leader" && s.elector.child !== null
    : s.phase === "direct" && s.child !== null
  const stopping = s.phase === "election"
    ? s.elector.exiting || s.elector.state === "Releasing"
    : s.phase === "direct" && s.exiting
  if (stopping) return [503, { status: "error", state: "BeganShutdown", elector: stateOf(s) }]
  if (running && !stopping) return [200, { status: "ok", state: "BecameLeader", elector: stateOf(s) }]
  return [404, { status: "ok", state: "BecameFollower", elector: stateOf(s) }]
}

/** Status code and JSON body for a probe path, given what the wrapper is doing. */
export const route = (
  path: string | undefined,
  s: WrapperStatus,
  style: StatusStyle = "just-one-init",
  about: Record<string, unknown> = {}
): [number, unknown] => {
  switch (path) {
    case "/healthz":
      return healthy(s) ? [200, { status: "ok", state: stateOf(s) }] : [500, { status: "expired", state: stateOf(s) }]
    case "/status":
      return [200, { ...(s.phase === "election" ? { phase: s.phase, ...s.elector } : s), ...about }]
    case "/":
    case "/healthcheck":
      if (style === "just-one-init") return leaderProbe(s)
  }
  if (style === "k8s-await-election") return healthy(s) ? [200, { status: "ok" }] : [500, { status: "expired" }]
  return [404, { status: "error", error: "not found" }]
}

const bind = (server: Server, host: string, port: number, context: Context.Context<never>) =>
  Effect.callback<{ host: string; port: number }, NodeJS.ErrnoException>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => resume(Effect.fail(e))
    server.once("error", onError)
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off("error", onError)
      // Once listening, an error (a failed accept: EMFILE) is said, never left to end the process.
      server.on("error", (e) => Effect.runForkWith(context)(Effect.logWarning(`health server: ${e.message}`)))
      const a = server.address()
      resume(Effect.succeed({ host, port: typeof a === "object" && a !== null ? a.port : port }))
    })
  })

const isNoIpv6 = (e: NodeJS.ErrnoException) =>
  e.code === "EAFNOSUPPORT" || e.code === "EADDRNOTAVAIL" || e.code === "EINVAL"

const formatAddress = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)
