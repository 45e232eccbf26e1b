/**
 * The probe endpoints, as a scoped resource in the wrapper's scope.
 *
 *   GET / and /healthcheck  200 leader with a running child, 404 follower, 503 shutting down
 *                           (the original just-one-init's readiness and liveness probes)
 *   GET /healthz            200 in every healthy state, 500 when the elector is wedged
 *   GET /status             the elector's status as JSON
 */
import { Context, Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"
import type { Server } from "node:http"
import type { ListenAddress } from "../domain/Settings.ts"
import type { ElectorStatus } from "./Elector.ts"
import { Elector } from "./Elector.ts"

export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  message: Schema.String
}) {}

export class HealthServer extends Context.Service<HealthServer, {
  /** The address actually bound (port 0 picks a free one). */
  readonly address: { readonly host: string; readonly port: number }
}>()("just-one-init/HealthServer") {
  static readonly layer = (listen: ListenAddress) =>
    Layer.effect(
      HealthServer,
      Effect.gen(function*() {
        const elector = yield* Elector
        const status = () => Effect.runSync(elector.status)
        const server = createServer((req, res) => {
          const path = (req.url ?? "/").split("?")[0]
          const [code, body] = req.method !== "GET" && req.method !== "HEAD"
            ? [405, { status: "error", error: "method not allowed" }]
            : route(path, status())
          const text = JSON.stringify(body)
          res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
          res.end(req.method === "HEAD" ? undefined : text)
        })
        server.keepAliveTimeout = 1000
        const address = yield* Effect.acquireRelease(
          bind(server, listen.host, listen.port).pipe(
            Effect.catch((e) =>
              listen.fallbackHost === null || !isNoIpv6(e)
                ? Effect.fail(e)
                : bind(server, listen.fallbackHost, listen.port)
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

/** Status code and JSON body for a probe path, given the elector's status. */
export const route = (path: string | undefined, s: ElectorStatus): [number, unknown] => {
  switch (path) {
    case "/":
    case "/healthcheck": {
      if (s.exiting || s.state === "Releasing") {
        return [503, { status: "error", state: "BeganShutdown", elector: s.state }]
      }
      if (s.state === "Leader" && s.child !== null) {
        return [200, { status: "ok", state: "BecameLeader", elector: s.state }]
      }
      return [404, { status: "ok", state: "BecameFollower", elector: s.state }]
    }
    case "/healthz":
      return s.wedged ? [500, { status: "expired", state: s.state }] : [200, { status: "ok", state: s.state }]
    case "/status":
      return [200, s]
    default:
      return [404, { status: "error", error: "not found" }]
  }
}

const bind = (server: Server, host: string, port: number) =>
  Effect.callback<{ host: string; port: number }, NodeJS.ErrnoException>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => resume(Effect.fail(e))
    server.once("error", onError)
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off("error", onError)
      const a = server.address()
      resume(Effect.succeed({ host, port: typeof a === "object" && a !== null ? a.port : port }))
    })
  })

const isNoIpv6 = (e: NodeJS.ErrnoException) =>
  e.code === "EAFNOSUPPORT" || e.code === "EADDRNOTAVAIL" || e.code === "EINVAL"

const formatAddress = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)
