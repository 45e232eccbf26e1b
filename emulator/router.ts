/**
 * One request: the path resolved to a resource (404 as kube-apiserver answers
 * an unknown group, version or resource), the verb, bearer-token
 * authentication, RBAC denials, per-client faults and counting, then the
 * verb's handler or the discovery documents.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { discovery } from "./discovery.ts"
import { mangle, replaceAnswer } from "./faults.ts"
import type { Faults } from "./faults.ts"
import type { Handlers } from "./handlers.ts"
import type { Reply } from "./http.ts"
import { send } from "./http.ts"
import type { Registry, ResourceType } from "./resources.ts"
import { resourceMatches } from "./resources.ts"
import { ApiError, forbidden, methodNotAllowed, notFoundGeneric, statusBody } from "./status.ts"
import type { Store } from "./store.ts"
import type { ForbiddenRule, RbacVerb, Verb } from "./types.ts"

export interface Route {
  readonly rt: ResourceType
  readonly ns: string | undefined
  readonly name: string | undefined
  readonly subresource: string | undefined
}

/** A resource path's route; "missing" for an API path nothing serves; undefined for a non-resource path (discovery and the like). */
export const route = (registry: Registry, pathname: string): Route | "missing" | undefined => {
  let segs: Array<string>
  try {
    segs = pathname.split("/").filter((s) => s !== "").map(decodeURIComponent)
  } catch {
    return "missing"
  }
  let group: string
  let version: string
  let rest: Array<string>
  if (segs[0] === "api" && segs.length >= 3) [group, version, rest] = ["", segs[1]!, segs.slice(2)]
  else if (segs[0] === "apis" && segs.length >= 4) [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)]
  else return undefined
  if (!registry.hasGroupVersion(group, version)) return "missing"
  let ns: string | undefined
  if (rest[0] === "namespaces" && rest.length >= 3 && registry.byPath(group, version, rest[2]!)?.namespaced === true) {
    ns = rest[1]
    rest = rest.slice(2)
  }
  const rt = registry.byPath(group, version, rest[0]!)
  const [, name, subresource] = rest
  if (rt === undefined || rest.length > 3) return "missing"
  if ((!rt.namespaced && ns !== undefined) || (rt.namespaced && ns === undefined && name !== undefined)) {
    return "missing"
  }
  if (subresource !== undefined && !(subresource === "status" && rt.status)) return "missing"
  return { rt, ns, name, subresource }
}

const verbOf = (method: string, named: boolean, watch: boolean): Verb | undefined => {
  if (watch) return method === "GET" ? "watch" : undefined
  const table: Record<string, Verb> = named
    ? { GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete" }
    : { GET: "list", POST: "create", DELETE: "delete" }
  return table[method]
}

/** The object name the authorizer sees for a list/watch pinned by fieldSelector metadata.name. */
const pinnedName = (fs: string | null) => {
  const m = /(?:^|,)\s*metadata\.name\s*==?\s*([^,]*)/.exec(fs ?? "")
  return m === null ? undefined : m[1]!.trim()
}

export interface RouterDeps {
  readonly registry: Registry
  readonly store: Store
  readonly handlers: Handlers
  readonly faults: Faults
  readonly host: string
  port(): number
  readonly tokens: ReadonlyArray<string> | undefined
  readonly forbidden: ReadonlyArray<ForbiddenRule>
  count(client: string, verb: Verb, rt: ResourceType): void
  /** Sleep that close()/restart() cut short; answers whether the server is still the same incarnation. */
  sleep(ms: number): Promise<boolean>
  epoch(): number
}

export const makeRouter = (d: RouterDeps) => {
  const authenticate = (req: IncomingMessage): { client: string; ok: boolean; anonymous: boolean } => {
    const auth = req.headers.authorization
    const m = auth === undefined ? null : /^Bearer\s+(.+)$/i.exec(auth)
    const token = m?.[1]?.trim()
    if (token === undefined || token === "") return { client: "anonymous", ok: true, anonymous: true }
    if (d.tokens !== undefined && !d.tokens.includes(token)) return { client: token, ok: false, anonymous: false }
    return { client: token, ok: true, anonymous: false }
  }
  const unauthorized: Reply = { code: 401, body: statusBody(401, "Unauthorized", "Unauthorized") }

  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", `http://${d.host}`)
    const pretty = url.searchParams.get("pretty") === "true" || url.searchParams.get("pretty") === "1"
    const method = req.method ?? "GET"
    const who = authenticate(req)
    const r = route(d.registry, url.pathname)
    if (r === undefined || r === "missing") {
      if (!who.ok) return send(res, unauthorized)
      const doc = r === undefined
        ? discovery(d.registry, url.pathname, req.headers.accept, `${d.host}:${d.port()}`)
        : undefined
      if (doc !== undefined) return send(res, method === "GET" ? doc : { code: 405, body: methodNotAllowed() }, pretty)
      return send(res, { code: 404, body: notFoundGeneric() })
    }
    const { rt, ns, name, subresource } = r
    const w = url.searchParams.get("watch")
    const verb = verbOf(method, name !== undefined, w === "true" || w === "1")
    if (verb === undefined) return send(res, { code: 405, body: methodNotAllowed() })
    const rbacVerb: RbacVerb = verb === "delete" && name === undefined ? "deletecollection" : verb
    const client = who.client
    d.count(client, verb, rt)
    const fault = d.faults.take(client, verb, rt, subresource)
    if (fault?.latencyMs !== undefined && fault.latencyMs > 0) {
      if (!(await d.sleep(fault.latencyMs))) return
    }
    if (fault !== undefined && !fault.afterCommit && replaceAnswer(fault, res, rt, name)) return
    const startEpoch = d.epoch()
    let reply: Reply | undefined
    try {
      // A Namespace's own requests are in that namespace for the authorizer.
      const authzNs = ns ?? (rt.kind === "Namespace" ? name : undefined)
      const authzName = name
        ?? (verb === "list" || verb === "watch" ? pinnedName(url.searchParams.get("fieldSelector")) : undefined)
      const denied = d.forbidden.some((f) =>
        f.client === client && (f.verbs === undefined || f.verbs.includes(rbacVerb))
        && (f.resource === undefined || resourceMatches(f.resource, rt, subresource))
      )
      if (!who.ok) reply = unauthorized
      else if ((who.anonymous && d.tokens !== undefined) || denied) {
        const user = who.anonymous ? "system:anonymous" : `system:serviceaccount:${ns ?? "default"}:${client}`
        reply = { code: 403, body: forbidden(user, rbacVerb, rt, subresource, authzNs, authzName) }
      } else if (verb === "watch" && fault?.body !== undefined && fault.body !== "html" && fault.body !== "garbage") {
        // a mangled watch: the initial events as one body
        const lines = d.store.list(rt.key, ns).filter((o) => name === undefined || o.metadata.name === name)
          .map((o) => JSON.stringify({ type: "ADDED", object: o })).join("\n")
        reply = { code: 200, body: lines + "\n" }
      } else reply = await d.handlers.handle({ req, res, url, rt, ns, name, subresource, verb, client })
    } catch (e) {
      if (e instanceof ApiError) reply = { code: e.code, body: e.status }
      else if (res.destroyed || d.epoch() !== startEpoch) return
      else throw e
    }
    if (reply === undefined) return // a watch stream owns the response
    if (fault !== undefined && fault.afterCommit && replaceAnswer(fault, res, rt, name)) return
    if (fault?.body === "truncated" || fault?.body === "slowloris") return mangle(fault, res, reply)
    send(res, reply, pretty)
  }
}
