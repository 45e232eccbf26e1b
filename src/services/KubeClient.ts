/**
 * Raw HTTP to the Kubernetes API server, authenticated the way
 * @kubernetes/client-node loads it (KUBECONFIG, the pod's service account, or
 * ~/.kube/config), with exec credential plugins run by ExecCredentials. Every
 * request carries one hard deadline covering credentials, the connect and
 * reading the body, so a hung plugin or a hung or trickling server cannot hold
 * a caller past it.
 */
import { Context, Effect, Layer, Metric, Schema, Stream } from "effect"
import type { Scope } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { makeExecCredentials } from "./ExecCredentials.ts"
import { KubeConfigError, loadKubeConfig } from "./KubeConfigSource.ts"
import { apiRequests } from "./Telemetry.ts"

export { inClusterNamespace, KubeConfigError } from "./KubeConfigSource.ts"

export interface KubeResponse {
  readonly status: number
  readonly text: string
  /** From a Retry-After header, when the server sent one. */
  readonly retryAfterMs: number | undefined
}

/** The request never got an HTTP answer: refused, reset, timed out, or the body broke off. */
export class KubeUnreachable extends Schema.TaggedError<KubeUnreachable>()("KubeUnreachable", {
  message: Schema.String
}) {}

/** Server-side lifetime of a watch: long enough to cost little, short enough to refresh auth. */
export const watchTimeoutSeconds = 290
/** Bookmarks arrive about once a minute; a watch silent for longer is dead. */
export const watchIdleTimeoutMs = 75_000

/** A watch answered with another status than 200: the status and the body, for whoever explains it. */
export class KubeWatchRefused extends Schema.TaggedError<KubeWatchRefused>()("KubeWatchRefused", {
  status: Schema.Number,
  text: Schema.String,
  message: Schema.String
}) {}

export interface KubeRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  readonly path: string
  readonly body?: unknown
  readonly timeoutMs: number
  /** The API verb, for the request metric (default: from the method; a GET of a collection should say "list"). */
  readonly verb?: string
}

const verbOf = (req: KubeRequest) =>
  req.verb ?? { GET: "get", POST: "create", PUT: "update", DELETE: "delete" }[req.method]

/** One more request in just_one_init_api_requests_total; `code` is the HTTP status, or <error> when none came. */
const counted = (verb: string, code: number | undefined) =>
  Metric.update(Metric.withAttributes(apiRequests, { verb, code: code === undefined ? "<error>" : String(code) }), 1)

export class KubeClient extends Context.Service<KubeClient, {
  readonly server: string
  request(req: KubeRequest): Effect.Effect<KubeResponse, KubeUnreachable>
  /**
   * A streaming GET (watch): credentials and the connect, up to the response headers, within `timeoutMs`;
   * then one element per line; fails when no byte arrives for `idleTimeoutMs`.
   */
  lines(
    path: string,
    idleTimeoutMs: number,
    timeoutMs: number
  ): Effect.Effect<Stream.Stream<string, KubeUnreachable>, KubeUnreachable | KubeWatchRefused, Scope.Scope>
}>()("just-one-init/KubeClient") {
  static readonly layer = Layer.effect(
    KubeClient,
    Effect.gen(function*() {
      const { kc, exec } = yield* loadKubeConfig
      const cluster = kc.getCurrentCluster()
      if (cluster === null) {
        return yield* new KubeConfigError({ message: "KUBECONFIG: no current cluster in the configuration" })
      }
      const server = cluster.server.replace(/\/+$/, "")
      // Plain http (kubectl proxy) is the server's choice; insecure-skip-tls-verify only concerns TLS.
      const secure = server.startsWith("https:")
      // TLS material as client-node loads it; one keep-alive agent, so a renew is one request, not a handshake.
      const tls: https.RequestOptions = {}
      yield* Effect.tryPromise({
        try: () => kc.applyToHTTPSOptions(tls),
        catch: (cause) => new KubeConfigError({ message: `KUBECONFIG: ${describe(cause)}` })
      })
      const agent = cluster.proxyUrl !== undefined
        ? tls.agent
        : secure
        ? new https.Agent({ keepAlive: true, ...pick(tls) })
        : new http.Agent({ keepAlive: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => (agent as http.Agent | undefined)?.destroy()))

      const plugin = exec === undefined ? undefined : yield* makeExecCredentials(exec)
      /** Headers per request: client-node re-reads token files here; an exec plugin's token comes from ours. */
      const authHeaders = Effect.gen(function*() {
        const headers = yield* Effect.tryPromise({
          try: async () => {
            const opts: https.RequestOptions = {}
            await kc.applyToHTTPSOptions(opts)
            return (opts.headers ?? {}) as Record<string, string>
          },
          catch: (cause) => new KubeUnreachable({ message: `cannot authenticate: ${describe(cause)}` })
        })
        if (plugin === undefined) return headers
        const token = yield* plugin.token.pipe(
          Effect.mapError((e) => new KubeUnreachable({ message: `cannot authenticate: ${e.message}` }))
        )
        return { ...headers, Authorization: `Bearer ${token}` }
      })
      const credentials = exec === undefined ? "no credentials" : `credential plugin ${exec.command} gave no token`

      /**
       * Credentials, then `send`, under one deadline of `timeoutMs`: `send` gets the time left as a signal.
       * A hung plugin is interrupted (and killed) at the deadline like a hung server.
       */
      const authorized = <A>(
        what: string,
        timeoutMs: number,
        send: (headers: Record<string, string>, deadline: AbortSignal) => Promise<A>
      ) =>
        Effect.gen(function*() {
          const started = Date.now()
          const headers = yield* authHeaders.pipe(Effect.timeoutOrElse({
            duration: timeoutMs,
            orElse: () =>
              Effect.fail(
                new KubeUnreachable({ message: `${what}: cannot authenticate: ${credentials} within ${timeoutMs}ms` })
              )
          }))
          const deadline = AbortSignal.timeout(Math.max(1, timeoutMs - (Date.now() - started)))
          return yield* Effect.tryPromise({
            try: (interrupted) => send(headers, AbortSignal.any([interrupted, deadline])),
            catch: (cause) =>
              new KubeUnreachable({
                message: `${what}: ${deadline.aborted ? `timed out after ${timeoutMs}ms` : describe(cause)}`
              })
          })
        })

      const open = (
        method: string,
        path: string,
        headers: Record<string, string>,
        signal: AbortSignal,
        body?: string
      ) =>
        new Promise<http.IncomingMessage>((resolve, reject) => {
          const req = (secure ? https : http).request(server + path, {
            method,
            agent: agent ?? false,
            headers: {
              ...headers,
              accept: "application/json",
              "user-agent": "just-one-init",
              ...(body === undefined
                ? {}
                : { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
            },
            signal
          })
          req.once("response", resolve)
          req.once("error", reject)
          req.end(body)
        })

      const request = Effect.fn("KubeClient.request")(function*(req: KubeRequest) {
        const body = req.body === undefined ? undefined : JSON.stringify(req.body)
        yield* Effect.annotateCurrentSpan({
          "http.request.method": req.method,
          "url.path": req.path,
          "k8s.verb": verbOf(req)
        })
        // One deadline for credentials, connecting, the answer and its whole body: a trickling body cannot outlast it.
        return yield* authorized(`${req.method} ${req.path}`, req.timeoutMs, async (headers, deadline) => {
          const res = await open(req.method, req.path, headers, deadline, body)
          const chunks: Array<Buffer> = []
          for await (const chunk of res) chunks.push(chunk as Buffer)
          if (!res.complete) throw new Error("the answer broke off")
          const header = res.headers["retry-after"]
          return {
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            retryAfterMs: retryAfter(typeof header === "string" ? header : null)
          }
        }).pipe(
          Effect.tap((res) =>
            Effect.andThen(
              counted(verbOf(req), res.status),
              Effect.annotateCurrentSpan("http.response.status_code", res.status)
            )
          ),
          Effect.tapError(() => counted(verbOf(req), undefined))
        )
      })

      const lines = Effect.fn("KubeClient.lines")(function*(path: string, idleTimeoutMs: number, timeoutMs: number) {
        // The stream lives as long as the caller's scope; the deadline only bounds getting the headers.
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort(new Error("watch closed"))))
        const { refused, res } = yield* authorized("watch", timeoutMs, async (headers, deadline) => {
          const onDeadline = () => controller.abort(deadline.reason)
          deadline.addEventListener("abort", onDeadline, { once: true })
          try {
            const res = await open("GET", path, headers, controller.signal)
            if (res.statusCode === 200) return { res, refused: undefined }
            // A refusal's body (a Status) says why; it is read under the same deadline.
            const chunks: Array<Buffer> = []
            for await (const chunk of res) chunks.push(chunk as Buffer)
            return { res, refused: Buffer.concat(chunks).toString("utf8") }
          } finally {
            deadline.removeEventListener("abort", onDeadline)
          }
        }).pipe(
          Effect.tap(({ res }) => counted("watch", res.statusCode)),
          Effect.tapError(() => counted("watch", undefined))
        )
        if (refused !== undefined) {
          return yield* new KubeWatchRefused({
            status: res.statusCode ?? 0,
            text: refused,
            message: `watch: HTTP ${res.statusCode}`
          })
        }
        return Stream.fromAsyncIterable(
          res as AsyncIterable<Buffer>,
          (cause) => new KubeUnreachable({ message: `watch: ${describe(cause)}` })
        ).pipe(
          // Bookmarks come every minute: a connection silent for longer is dead.
          Stream.timeoutOrElse({
            duration: idleTimeoutMs,
            orElse: () => Stream.fail(new KubeUnreachable({ message: `watch: no data for ${idleTimeoutMs}ms` }))
          }),
          Stream.map((chunk) => new Uint8Array(chunk)),
          Stream.decodeText(),
          Stream.splitLines
        )
      })

      return KubeClient.of({ server, request, lines })
    })
  )
}

/** The TLS fields of client-node's options, for our own keep-alive agent. */
const pick = (o: https.RequestOptions): https.AgentOptions => {
  const out: Record<string, unknown> = {}
  for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const) {
    if (o[k] !== undefined) out[k] = o[k]
  }
  return out as https.AgentOptions
}

const retryAfter = (header: string | null): number | undefined => {
  if (header === null) return undefined
  const seconds = Number(header)
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 60) * 1000 : undefined
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    const code = inner instanceof Error ? ((inner as { code?: string }).code ?? inner.message) : undefined
    return code === undefined ? cause.message : `${cause.message} (${code})`
  }
  return String(cause)
}
