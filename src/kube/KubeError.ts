/**
 * Everything a request to the API server can end in besides success, in one
 * error: KubeError, whose `reason` is a tag callers branch on (never a message
 * they compare), built by one classifier from the answer's HTTP status, its
 * Status body and its Retry-After header. Its message is the one line an
 * operator reads: what was asked, and, when only a change elsewhere can fix
 * it, what to change (the Role, the credentials, a namespace setting).
 */
import { Option, Schema } from "effect"
import { STATUS_CODES } from "node:http"
import { decodeStatusText, serverMessage } from "../domain/Wire.ts"

export class NotFound extends Schema.TaggedClass<NotFound>()("NotFound", {}) {}
/** 409: a resourceVersion or uid precondition failed, or the object already exists. */
export class Conflict extends Schema.TaggedClass<Conflict>()("Conflict", {}) {}
export class Unauthorized extends Schema.TaggedClass<Unauthorized>()("Unauthorized", {}) {}
export class Forbidden extends Schema.TaggedClass<Forbidden>()("Forbidden", {
  /** What the Role must grant, as the line says it. */
  needs: Schema.String
}) {}
export class NamespaceMissing extends Schema.TaggedClass<NamespaceMissing>()("NamespaceMissing", {
  namespace: Schema.String
}) {}
/** 429, or a 5xx that said when to come back. */
export class Throttled extends Schema.TaggedClass<Throttled>()("Throttled", {
  retryAfterMs: Schema.optional(Schema.Number)
}) {}
/** No answer (refused, reset, timed out, cut off, too big), a 5xx, or a body that is not what was asked for. */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", {}) {}
/** Any other refusal: the request itself was wrong (400, 422, ...). */
export class Invalid extends Schema.TaggedClass<Invalid>()("Invalid", {}) {}

export const KubeReason = Schema.Union([
  NotFound,
  Conflict,
  Unauthorized,
  Forbidden,
  NamespaceMissing,
  Throttled,
  Unavailable,
  Invalid
])
export type KubeReason = typeof KubeReason.Type

export class KubeError extends Schema.TaggedError<KubeError>()("KubeError", {
  reason: KubeReason,
  /** The API verb asked (get, list, watch, create, update, delete). */
  verb: Schema.String,
  /** The HTTP status; absent when no answer came. */
  status: Schema.optional(Schema.Number),
  /** The Status body's reason, else the status's name, for the log line. */
  serverReason: Schema.optional(Schema.String),
  /** The server's own words (its Status message), for the log line: a 403's names the service account. */
  serverMessage: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/** What a request is about, for its lines. */
export interface Access {
  /** As the lines name it: `lease default/x`, `jobs.batch in namespace default`. */
  readonly what: string
  /** What must be granted for it, as a 403 line says it after the colon. */
  readonly needs: string
  /** The setting that names the namespace, said when the namespace does not exist. */
  readonly namespaceSetting?: string
}

/** The usual `needs`: what the Role bound to the pod's service account must grant. */
export const roleNeeds = (verbs: string, resource: string) =>
  `the Role bound to this service account needs ${verbs} on ${resource}`

/** The one line for a 401, whoever asked. */
export const unauthorizedLine =
  "the API server rejected our credentials (401 Unauthorized); check KUBECONFIG or the service account token"

export interface Answer {
  readonly status: number
  readonly text: string
  /** From a Retry-After header, when the server sent one. */
  readonly retryAfterMs: number | undefined
}

/** A non-2xx answer as a KubeError: the one place a status, a Status body and Retry-After become a reason. */
export const classify = (verb: string, access: Access, answer: Answer): KubeError => {
  const { retryAfterMs, status, text } = answer
  const body = Option.getOrUndefined(decodeStatusText(text))
  const says = serverMessage(text)
  const fields = { verb, status, serverReason: body?.reason ?? STATUS_CODES[status] ?? "Unknown", serverMessage: says }
  const make = (reason: KubeReason, message: string) => new KubeError({ ...fields, reason, message })
  const http = `${verb} ${access.what}: HTTP ${status} ${says}`.trim()
  if (status === 401) return make(new Unauthorized(), unauthorizedLine)
  if (status === 403) {
    return make(new Forbidden({ needs: access.needs }), `forbidden to ${verb} ${access.what} (403): ${access.needs}`)
  }
  if (status === 404 && body?.details?.kind === "namespaces") {
    const namespace = body.details.name ?? ""
    const set = access.namespaceSetting === undefined ? "" : `; set ${access.namespaceSetting}`
    return make(
      new NamespaceMissing({ namespace }),
      `namespace ${JSON.stringify(namespace)} does not exist (404)${set}`
    )
  }
  if (status === 404) return make(new NotFound(), `${verb} ${access.what}: not found (404)`)
  if (status === 409) return make(new Conflict(), `${verb} ${access.what}: conflict`)
  if (status === 429 || (status >= 500 && retryAfterMs !== undefined)) {
    return make(new Throttled(retryAfterMs === undefined ? {} : { retryAfterMs }), http)
  }
  return make(status >= 500 ? new Unavailable() : new Invalid(), http)
}

/** A request that got no usable answer: `why` says what happened instead. */
export const unavailable = (verb: string, access: Access, why: string, status?: number): KubeError =>
  new KubeError({
    reason: new Unavailable(),
    verb,
    message: `${verb} ${access.what}: ${why}`,
    ...(status === undefined ? {} : { status })
  })

/** Only a change elsewhere fixes it (the Role, the credentials): worth a warning, not only a retry. */
export const isDenied = (e: KubeError) => e.reason._tag === "Unauthorized" || e.reason._tag === "Forbidden"

/** Worth trying again as it is. */
export const isTransient = (e: KubeError) => e.reason._tag === "Throttled" || e.reason._tag === "Unavailable"

/** The fields of a failed request's log line. */
export const kubeFields = (e: KubeError) => ({
  verb: e.verb,
  status: e.status ?? null,
  reason: e.serverReason ?? (e.status === undefined ? "NoAnswer" : null),
  kind: e.reason._tag,
  server: e.serverMessage ?? null
})
