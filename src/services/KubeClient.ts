/**
 * Raw HTTP to the Kubernetes API server, authenticated the way
 * @kubernetes/client-node loads it (KUBECONFIG, the pod's service account, or
 * ~/.kube/config). Every request carries a hard timeout that also covers
 * reading the body, so a hung or trickling server cannot hold a caller past it.
 */
import { KubeConfig, RequestContext } from "@kubernetes/client-node"
import type { HttpMethod } from "@kubernetes/client-node"
import { existsSync, readFileSync } from "node:fs"
import { Context, Effect, Layer, Schema, Scope, Stream } from "effect"
import { fetch } from "undici"
import type { Dispatcher } from "undici"

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
  lines(path: string, idleTimeoutMs: number): Effect.Effect<Stream.Stream<string, KubeUnreachable>, KubeUnreachable, Scope.Scope>
}>()("just-one-init/KubeClient") {
  static readonly layer = Layer.effect(
    KubeClient,
    Effect.gen(function*() {
      const kc = yield* loadKubeConfig
      const cluster = kc.getCurrentCluster()
      if (cluster === null) return yield* new KubeConfigError({ message: "KUBECONFIG: no current cluster in the configuration" })
      const server = cluster.server.replace(/\/+$/, "")

      const prepare = (method: string, url: string) =>
        Effect.tryPromise({
          try: async () => {
            const ctx = new RequestContext(url, method as HttpMethod)
            await kc.applySecurityAuthentication(ctx)
            return { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as Dispatcher | undefined }
          },
          catch: (cause) => new KubeUnreachable({ message: `cannot authenticate: ${describe(cause)}` })
        })

      const request = Effect.fn("KubeClient.request")(function*(req: KubeRequest) {
        const url = server + req.path
        const auth = yield* prepare(req.method, url)
        return yield* Effect.tryPromise({
          try: async (interrupted) => {
            const signal = AbortSignal.any([interrupted, AbortSignal.timeout(req.timeoutMs)])
            const res = await fetch(url, {
              method: req.method,
              headers: { ...auth.headers, accept: "application/json", "user-agent": "just-one-init", ...(req.body === undefined ? {} : { "content-type": "application/json" }) },
              ...(auth.dispatcher === undefined ? {} : { dispatcher: auth.dispatcher }),
              ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
              signal
            })
            const text = await res.text()
            return { status: res.status, text, retryAfterMs: retryAfter(res.headers.get("retry-after")) }
          },
          catch: (cause) => new KubeUnreachable({ message: `${req.method} ${req.path}: ${describe(cause)}` })
        })
      })

      const lines = Effect.fn("KubeClient.lines")(function*(path: string, idleTimeoutMs: number) {
        const url = server + path
        const auth = yield* prepare("GET", url)
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
          try: () =>
            fetch(url, {
              headers: { ...auth.headers, accept: "application/json", "user-agent": "just-one-init" },
              ...(auth.dispatcher === undefined ? {} : { dispatcher: auth.dispatcher }),
              signal: controller.signal
            }),
          catch: (cause) => new KubeUnreachable({ message: `watch: ${describe(cause)}` })
        })
        if (res.status !== 200 || res.body === null) {
          const body = yield* Effect.promise(() => res.text().catch(() => ""))
          return yield* new KubeUnreachable({ message: `watch: HTTP ${res.status} ${body.slice(0, 200)}` })
        }
        return Stream.fromAsyncIterable(res.body, (cause) => new KubeUnreachable({ message: `watch: ${describe(cause)}` })).pipe(
          Stream.tap(() => Effect.sync(touch)),
          Stream.decodeText(),
          Stream.splitLines
        )
      })

      return KubeClient.of({ server, request, lines })
    })
  )
}

const loadKubeConfig = Effect.try({
  try: () => {
    const kc = new KubeConfig()
    // KUBECONFIG wins when set; in a pod the service account; else ~/.kube/config.
    if (process.env["KUBECONFIG"] === undefined && existsSync(`${serviceAccountDir}/token`)) kc.loadFromCluster()
    else kc.loadFromDefault()
    return kc
  },
  catch: (cause) => new KubeConfigError({ message: `KUBECONFIG: cannot load the Kubernetes configuration: ${describe(cause)}` })
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
