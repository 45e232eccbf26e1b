/**
 * The Kubernetes API over HTTP, authenticated the way @kubernetes/client-node
 * loads it (KubeConfigSource.ts: KUBECONFIG, the pod's service account, or
 * ~/.kube/config), exec plugins run by ExecCredentials. One request function
 * with one deadline over credentials, the connect and the whole body, so a
 * slow plugin, a hung server or a trickling body cannot hold a caller past it;
 * and watches, read as whole lines, each with an idle timer that only a whole
 * line resets. Every outcome but success is one KubeError (KubeError.ts).
 *
 * No body and no watch line is read past a cap (Answers.ts): a server or
 * proxy that sends more cannot grow the wrapper until the kernel kills it,
 * which would take the child down with no grace.
 */
import { Context, Effect, Layer, Metric } from "effect"
import type { Scope, Stream } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { apiRequests } from "../services/Telemetry.ts"
import { describe, readBody, readLimit, retryAfter, TooLong, watchLines } from "./Answers.ts"
import { makeExecCredentials, pluginRunTimeoutMs } from "./ExecCredentials.ts"
import { KubeConfigError, loadKubeConfig } from "./KubeConfigSource.ts"
import type { Access, KubeError } from "./KubeError.ts"
import { classify, unavailable } from "./KubeError.ts"

export { inClusterNamespace, KubeConfigError } from "./KubeConfigSource.ts"

/** Server-side lifetime of a watch: long enough to cost little, short enough to refresh auth. */
export const watchTimeoutSeconds = 290
/** Bookmarks arrive about once a minute: a watch that sends no whole line for longer is dead. */
export const watchIdleTimeoutMs = 75_000
export interface KubeRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  readonly path: string
  readonly body?: unknown
  readonly timeoutMs: number
  /** The API verb: the request metric's label and the first word of its lines ("list" for a collection's GET). */
  readonly verb: string
  readonly access: Access
}

/** A 2xx answer. */
export interface KubeAnswer {
  readonly status: number
  readonly text: string
}

export interface KubeWatch {
  /** The collection's path with the watch's query. */
  readonly path: string
  /** Credentials and the connect, up to the response headers. */
  readonly timeoutMs: number
  /** The longest wait for the next whole line. */
  readonly idleTimeoutMs: number
  readonly access: Access
}

export interface KubeClientOptions {
  /** An exec credential plugin's own bound (tests shorten it). */
  readonly pluginRunTimeoutMs: number
}

/** One more request in just_one_init_api_requests_total; `code` is the HTTP status, or <error> when none came. */
const counted = (verb: string, code: number | undefined) =>
  Metric.update(Metric.withAttributes(apiRequests, { verb, code: code === undefined ? "<error>" : String(code) }), 1)

const make = (options: KubeClientOptions) =>
  Effect.gen(function*() {
    const { exec, kc } = yield* loadKubeConfig
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

    const plugin = exec === undefined ? undefined : yield* makeExecCredentials(exec, options.pluginRunTimeoutMs)
    const noToken = exec === undefined ? "no credentials" : `credential plugin ${exec.command} gave no token`

    /** Headers per request (client-node re-reads token files here), and the plugin's token when there is one. */
    const credentials = (verb: string, access: Access, timeoutMs: number) =>
      Effect.gen(function*() {
        const headers = yield* Effect.tryPromise({
          try: async () => {
            const opts: https.RequestOptions = {}
            await kc.applyToHTTPSOptions(opts)
            return (opts.headers ?? {}) as Record<string, string>
          },
          catch: (cause) => unavailable(verb, access, `cannot authenticate: ${describe(cause)}`)
        })
        if (plugin === undefined) return { headers, token: undefined }
        const token = yield* plugin.token.pipe(
          Effect.mapError((e) => unavailable(verb, access, `cannot authenticate: ${e.message}`))
        )
        return { headers: { ...headers, Authorization: `Bearer ${token}` }, token }
      }).pipe(Effect.timeoutOrElse({
        duration: timeoutMs,
        // Only this wait ends: a plugin run under way goes on for the next caller.
        orElse: () => Effect.fail(unavailable(verb, access, `cannot authenticate: ${noToken} within ${timeoutMs}ms`))
      }))

    /** Credentials, then `send`, under one deadline of `timeoutMs`: `send` gets the time left as a signal. */
    const authorized = <A>(
      verb: string,
      access: Access,
      timeoutMs: number,
      send: (headers: Record<string, string>, deadline: AbortSignal) => Promise<A>
    ) =>
      Effect.gen(function*() {
        const started = Date.now()
        const { headers, token } = yield* credentials(verb, access, timeoutMs)
        const deadline = AbortSignal.timeout(Math.max(1, timeoutMs - (Date.now() - started)))
        const value = yield* Effect.tryPromise({
          try: (interrupted) => send(headers, AbortSignal.any([interrupted, deadline])),
          catch: (cause) =>
            unavailable(
              verb,
              access,
              cause instanceof TooLong
                ? `the answer is larger than ${readLimit}; dropped`
                : deadline.aborted
                ? `timed out after ${timeoutMs}ms`
                : describe(cause)
            )
        })
        return { value, token }
      })

    /** A 401 tells the plugin its token is no good: the next run replaces it. */
    const rejected = (status: number, token: string | undefined) =>
      status === 401 && plugin !== undefined && token !== undefined ? plugin.rejected(token) : Effect.void

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
        "k8s.verb": req.verb
      })
      const { token, value: answer } = yield* authorized(
        req.verb,
        req.access,
        req.timeoutMs,
        async (headers, signal) => {
          const res = await open(req.method, req.path, headers, signal, body)
          const header = res.headers["retry-after"]
          return {
            status: res.statusCode ?? 0,
            text: await readBody(res),
            retryAfterMs: retryAfter(typeof header === "string" ? header : null)
          }
        }
      ).pipe(
        Effect.tap(({ value }) => counted(req.verb, value.status)),
        Effect.tapError(() => counted(req.verb, undefined))
      )
      yield* Effect.annotateCurrentSpan("http.response.status_code", answer.status)
      yield* rejected(answer.status, token)
      if (answer.status >= 200 && answer.status < 300) return { status: answer.status, text: answer.text }
      return yield* classify(req.verb, req.access, answer)
    })

    const watch = Effect.fn("KubeClient.watch")(function*(w: KubeWatch) {
      // The stream lives as long as the caller's scope; the deadline only bounds getting the headers.
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort(new Error("watch closed"))))
      const { token, value: { refused, res } } = yield* authorized(
        "watch",
        w.access,
        w.timeoutMs,
        async (headers, deadline) => {
          const onDeadline = () => controller.abort(deadline.reason)
          deadline.addEventListener("abort", onDeadline, { once: true })
          try {
            const res = await open("GET", w.path, headers, controller.signal)
            // A refusal's body (a Status) says why; it is read under the same deadline.
            return { res, refused: res.statusCode === 200 ? undefined : await readBody(res) }
          } finally {
            deadline.removeEventListener("abort", onDeadline)
          }
        }
      ).pipe(
        Effect.tap(({ value }) => counted("watch", value.res.statusCode)),
        Effect.tapError(() => counted("watch", undefined))
      )
      const status = res.statusCode ?? 0
      yield* rejected(status, token)
      if (refused !== undefined) {
        const header = res.headers["retry-after"]
        return yield* classify("watch", w.access, {
          status,
          text: refused,
          retryAfterMs: retryAfter(typeof header === "string" ? header : null)
        })
      }
      return watchLines(res, w.idleTimeoutMs, (why) => unavailable("watch", w.access, why, status))
    })

    return KubeClient.of({ request, watch })
  })

export class KubeClient extends Context.Service<KubeClient, {
  /** One request under one deadline: the 2xx answer, or what else came of it. */
  request(req: KubeRequest): Effect.Effect<KubeAnswer, KubeError>
  /** A watch: connected (or refused) within `timeoutMs`, then its lines until the server ends it. */
  watch(w: KubeWatch): Effect.Effect<Stream.Stream<string, KubeError>, KubeError, Scope.Scope>
}>()("just-one-init/KubeClient") {
  static readonly layerWith = (options: KubeClientOptions) => Layer.effect(KubeClient, make(options))
  static readonly layer = Layer.effect(KubeClient, make({ pluginRunTimeoutMs }))
}

/** The TLS fields of client-node's options, for our own keep-alive agent. */
const pick = (o: https.RequestOptions): https.AgentOptions => {
  const out: Record<string, unknown> = {}
  for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const) {
    if (o[k] !== undefined) out[k] = o[k]
  }
  return out as https.AgentOptions
}
