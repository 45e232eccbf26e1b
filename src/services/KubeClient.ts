/**
 * Raw HTTP to the Kubernetes API server, authenticated the way
 * @kubernetes/client-node loads it (KUBECONFIG, the pod's service account, or
 * ~/.kube/config). Every request carries a hard timeout that also covers
 * reading the body, so a hung or trickling server cannot hold a caller past it.
 */
import { KubeConfig } from "@kubernetes/client-node"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

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

/** KUBECONFIG or the service account could not be loaded. */
export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  message: Schema.String
}) {}

export interface KubeRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  readonly path: string
  readonly body?: unknown
  readonly timeoutMs: number
}

export class KubeClient extends Context.Service<KubeClient, {
  readonly server: string
  request(req: KubeRequest): Effect.Effect<KubeResponse, KubeUnreachable>
  /** A streaming GET (watch), connected: one element per line; fails when no byte arrives for `idleTimeoutMs`. */
  lines(
    path: string,
    idleTimeoutMs: number
  ): Effect.Effect<Stream.Stream<string, KubeUnreachable>, KubeUnreachable, Scope.Scope>
}>()("just-one-init/KubeClient") {
  static readonly layer = Layer.effect(
    KubeClient,
    Effect.gen(function*() {
      const kc = yield* loadKubeConfig
      const cluster = kc.getCurrentCluster()
      if (cluster === null) {
        return yield* new KubeConfigError({ message: "KUBECONFIG: no current cluster in the configuration" })
      }
      const server = cluster.server.replace(/\/+$/, "")
      const secure = server.startsWith("https:")
      if (!secure && !cluster.skipTLSVerify) {
        return yield* new KubeConfigError({
          message: `KUBECONFIG: ${server} is plain http; set insecure-skip-tls-verify for it or use https`
        })
      }
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

      /** Headers per request: client-node refreshes tokens (service account file, exec plugins) here. */
      const authHeaders = Effect.tryPromise({
        try: async () => {
          const opts: https.RequestOptions = {}
          await kc.applyToHTTPSOptions(opts)
          return (opts.headers ?? {}) as Record<string, string>
        },
        catch: (cause) => new KubeUnreachable({ message: `cannot authenticate: ${describe(cause)}` })
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
        // An exec credential plugin can hang too; the request's deadline covers it.
        const headers = yield* authHeaders.pipe(
          Effect.timeoutOrElse({
            duration: req.timeoutMs,
            orElse: () => Effect.fail(new KubeUnreachable({ message: "timed out getting credentials" }))
          })
        )
        return yield* Effect.tryPromise({
          try: async (interrupted) => {
            // One deadline for connecting, the answer and its whole body: a trickling body cannot outlast it.
            const signal = AbortSignal.any([interrupted, AbortSignal.timeout(req.timeoutMs)])
            const res = await open(
              req.method,
              req.path,
              headers,
              signal,
              req.body === undefined ? undefined : JSON.stringify(req.body)
            )
            const chunks: Array<Buffer> = []
            for await (const chunk of res) chunks.push(chunk as Buffer)
            if (!res.complete) throw new Error("the answer broke off")
            const header = res.headers["retry-after"]
            return {
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString("utf8"),
              retryAfterMs: retryAfter(typeof header === "string" ? header : null)
            }
          },
          catch: (cause) => new KubeUnreachable({ message: `${req.method} ${req.path}: ${describe(cause)}` })
        })
      })

      const lines = Effect.fn("KubeClient.lines")(function*(path: string, idleTimeoutMs: number) {
        const headers = yield* authHeaders
        const controller = new AbortController()
        let idle: ReturnType<typeof setTimeout> | undefined
        const touch = () => {
          if (idle !== undefined) clearTimeout(idle)
          idle = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs}ms`)), idleTimeoutMs)
        }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (idle !== undefined) clearTimeout(idle)
            controller.abort(new Error("watch closed"))
          })
        )
        touch()
        const res = yield* Effect.tryPromise({
          try: () => open("GET", path, headers, controller.signal),
          catch: (cause) => new KubeUnreachable({ message: `watch: ${describe(cause)}` })
        })
        if (res.statusCode !== 200) {
          res.resume()
          return yield* new KubeUnreachable({ message: `watch: HTTP ${res.statusCode}` })
        }
        return Stream.fromAsyncIterable(
          res as AsyncIterable<Buffer>,
          (cause) => new KubeUnreachable({ message: `watch: ${describe(cause)}` })
        ).pipe(
          Stream.tap(() => Effect.sync(touch)),
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

const loadKubeConfig = Effect.try({
  try: () => {
    const kc = new KubeConfig()
    // KUBECONFIG wins when set; in a pod the service account; else ~/.kube/config.
    if (process.env["KUBECONFIG"] === undefined && existsSync(`${serviceAccountDir}/token`)) kc.loadFromCluster()
    else kc.loadFromDefault()
    return kc
  },
  catch: (cause) =>
    new KubeConfigError({ message: `KUBECONFIG: cannot load the Kubernetes configuration: ${describe(cause)}` })
})

/** The namespace of the pod we run in, when there is one. */
export const inClusterNamespace = (): string | undefined => {
  try {
    return readFileSync(`${serviceAccountDir}/namespace`, "utf8")
  } catch {
    return undefined
  }
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
