/**
 * The one Lease this replica contends for: read, create, conditional replace,
 * and watch. Writes are always conditional (POST, or PUT carrying the
 * resourceVersion we read), never blind patches, so two replicas can never
 * both win.
 */
import { Context, Effect, Layer, Option, Ref, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { STATUS_CODES } from "node:http"
import type { ApiFailure } from "../domain/Election.ts"
import type { LeaseView, SpecFields } from "../domain/Lease.ts"
import { fromJson, incarnationAnnotation } from "../domain/Lease.ts"
import { decodeBookmark, decodeStatus, decodeStatusText, decodeWatchLine, parseJson } from "../domain/Wire.ts"
import { KubeClient, watchIdleTimeoutMs, watchTimeoutSeconds } from "./KubeClient.ts"

export class LeaseApiError extends Schema.TaggedError<LeaseApiError>()("LeaseApiError", {
  kind: Schema.Literals(["conflict", "transient", "denied", "invalid"]),
  message: Schema.String,
  retryAfterMs: Schema.optional(Schema.Number),
  /** For the log line: the API verb, the HTTP status (none: no answer) and the Status reason. */
  verb: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String)
}) {
  get failure(): ApiFailure {
    return { kind: this.kind, message: this.message, retryAfterMs: this.retryAfterMs }
  }
}

export type WatchEvent =
  | { readonly _tag: "Changed"; readonly lease: LeaseView }
  | { readonly _tag: "Deleted" }
  /** The server forgot our resourceVersion (410): re-list. */
  | { readonly _tag: "Expired" }
  /** A watch ERROR event other than 410: the session is over. */
  | { readonly _tag: "Error"; readonly message: string }
  | { readonly _tag: "Bookmark"; readonly resourceVersion: string }

export interface LeaseTarget {
  readonly namespace: string
  readonly name: string
  readonly requestTimeoutMs: number
}

export class LeaseStore extends Context.Service<LeaseStore, {
  /** undefined when the Lease does not exist. */
  readonly get: Effect.Effect<LeaseView | undefined, LeaseApiError>
  /** POST a new Lease claimed by this incarnation. */
  create(spec: SpecFields, incarnation: string): Effect.Effect<LeaseView, LeaseApiError>
  /** PUT of a whole object that carries the resourceVersion it was read at. */
  replace(object: Record<string, unknown>): Effect.Effect<LeaseView, LeaseApiError>
  /** Connect a watch; the stream has the changes after `resourceVersion` ("" = the current state first) and ends when the server ends it. */
  watch(resourceVersion: string): Effect.Effect<Stream.Stream<WatchEvent, LeaseApiError>, LeaseApiError, Scope.Scope>
  /** Watch lines that were not watch events, so far (the first is logged). */
  readonly garbledLines: Effect.Effect<number>
}>()("just-one-init/LeaseStore") {
  static readonly layer = (target: LeaseTarget) =>
    Layer.effect(
      LeaseStore,
      Effect.gen(function*() {
        const kube = yield* KubeClient
        const { namespace, name, requestTimeoutMs } = target
        const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`
        const item = `${collection}/${name}`
        const call = (
          verb: "get" | "create" | "update",
          method: "GET" | "POST" | "PUT",
          path: string,
          body?: unknown
        ) =>
          kube.request({ method, path, body, timeoutMs: requestTimeoutMs, verb }).pipe(
            Effect.mapError((e) =>
              new LeaseApiError({ kind: "transient", message: e.message, verb, reason: "NoAnswer" })
            ),
            Effect.flatMap((res) => {
              if (res.status >= 200 && res.status < 300) {
                const lease = fromJson(Option.getOrUndefined(parseJson(res.text)))
                return lease === undefined
                  ? Effect.fail(
                    new LeaseApiError({
                      kind: "transient",
                      message: `${verb} lease: HTTP ${res.status} with a body that is not a Lease`,
                      verb,
                      status: res.status,
                      reason: "NotALease"
                    })
                  )
                  : Effect.succeed(lease)
              }
              return Effect.fail(classify(verb, target, res.status, res.text, res.retryAfterMs))
            })
          )

        const get = call("get", "GET", item).pipe(
          Effect.map((lease): LeaseView | undefined => lease),
          Effect.catchIf(
            (e) => e.kind === "invalid" && e.message === notFoundMarker,
            () => Effect.succeed(undefined)
          ),
          Effect.withSpan("LeaseStore.get")
        )

        const create = Effect.fn("LeaseStore.create")(function*(spec: SpecFields, incarnation: string) {
          return yield* call("create", "POST", collection, {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace, annotations: { [incarnationAnnotation]: incarnation } },
            spec
          })
        })

        const replace = Effect.fn("LeaseStore.replace")(function*(object: Record<string, unknown>) {
          return yield* call("update", "PUT", item, object)
        })

        const watch = Effect.fn("LeaseStore.watch")(function*(resourceVersion: string) {
          const query = new URLSearchParams({
            watch: "true",
            fieldSelector: `metadata.name=${name}`,
            allowWatchBookmarks: "true",
            timeoutSeconds: String(watchTimeoutSeconds),
            ...(resourceVersion === "" ? {} : { resourceVersion })
          })
          const lines = yield* kube.lines(`${collection}?${query}`, watchIdleTimeoutMs, requestTimeoutMs).pipe(
            Effect.mapError((e) => new LeaseApiError({ kind: "transient", message: e.message }))
          )
          return lines.pipe(
            Stream.mapError((e) => new LeaseApiError({ kind: "transient", message: e.message })),
            Stream.mapEffect((line) => {
              const event = parseWatchLine(line)
              return event !== undefined || line.trim() === "" ? Effect.succeed(event) : garbled(line)
            }),
            Stream.filter((e): e is WatchEvent => e !== undefined)
          )
        })

        const garbledCount = yield* Ref.make(0)
        /** A line that is not a watch event is dropped: counted, and the first one logged. */
        const garbled = (line: string) =>
          Ref.getAndUpdate(garbledCount, (n) => n + 1).pipe(
            Effect.flatMap((before) =>
              before > 0 ? Effect.void : Effect.logWarning(
                `lease watch: dropped a line that is not a watch event (later ones are only counted): ${
                  JSON.stringify(line.slice(0, 120))
                }`
              )
            ),
            Effect.as(undefined)
          )

        return LeaseStore.of({ get, create, replace, watch, garbledLines: Ref.get(garbledCount) })
      })
    )
}

const notFoundMarker = "lease not found"

const parseWatchLine = (line: string): WatchEvent | undefined => {
  const decoded = decodeWatchLine(line)
  if (decoded._tag === "None") return undefined
  const { object, type } = decoded.value
  switch (type) {
    case "ADDED":
    case "MODIFIED": {
      const lease = fromJson(object)
      return lease === undefined ? undefined : { _tag: "Changed", lease }
    }
    case "DELETED":
      return { _tag: "Deleted" }
    case "BOOKMARK":
      return Option.match(decodeBookmark(object), {
        onNone: () => undefined,
        onSome: (b) => ({ _tag: "Bookmark", resourceVersion: b.metadata.resourceVersion })
      })
    case "ERROR": {
      const status = Option.getOrUndefined(decodeStatus(object))
      return status?.code === 410
        ? { _tag: "Expired" }
        : { _tag: "Error", message: `watch ERROR ${status?.code ?? "?"} ${status?.message ?? ""}`.trim() }
    }
  }
}

/** Turn a non-2xx answer into what the elector needs to know, with one clear message. */
export const classify = (
  verb: "get" | "create" | "update",
  target: Pick<LeaseTarget, "namespace" | "name">,
  status: number,
  text: string,
  retryAfterMs: number | undefined
): LeaseApiError => {
  const reason = Option.getOrUndefined(decodeStatusText(text))?.reason ?? STATUS_CODES[status] ?? "Unknown"
  return new LeaseApiError({ ...classifyKind(verb, target, status, text, retryAfterMs), verb, status, reason })
}

const classifyKind = (
  verb: "get" | "create" | "update",
  target: Pick<LeaseTarget, "namespace" | "name">,
  status: number,
  text: string,
  retryAfterMs: number | undefined
): Pick<LeaseApiError, "kind" | "message" | "retryAfterMs"> => {
  const body = Option.getOrUndefined(decodeStatusText(text))
  const serverMessage = body?.message !== undefined
    ? body.message.slice(0, 300)
    : text.slice(0, 120).replace(/\s+/g, " ")
  const lease = `lease ${target.namespace}/${target.name}`
  if (status === 409) return ({ kind: "conflict", message: `${verb} ${lease}: conflict` })
  if (status === 401) {
    return ({
      kind: "denied",
      message:
        `the API server rejected our credentials (401 Unauthorized); check KUBECONFIG or the service account token`
    })
  }
  if (status === 403) {
    return ({
      kind: "denied",
      message:
        `forbidden to ${verb} ${lease} (403): the Role bound to this service account needs get, create and update on leases.coordination.k8s.io (${serverMessage})`
    })
  }
  if (status === 404) {
    if (body?.details?.kind === "namespaces") {
      return ({
        kind: "denied",
        message: `namespace ${JSON.stringify(target.namespace)} does not exist (404); set --namespace or POD_NAMESPACE`
      })
    }
    return ({ kind: "invalid", message: notFoundMarker })
  }
  if (status === 429 || status >= 500) {
    return ({
      kind: "transient",
      message: `${verb} ${lease}: HTTP ${status} ${serverMessage}`,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs })
    })
  }
  return ({ kind: "invalid", message: `${verb} ${lease}: HTTP ${status} ${serverMessage}` })
}
