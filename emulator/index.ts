/**
 * A kube-apiserver test double for coordination.k8s.io/v1 Leases: real HTTP,
 * the API server's status codes and Status bodies, resourceVersion conflicts,
 * create-on-update, MicroTime validation, merge/strategic/JSON/apply patches,
 * list and watch (bookmarks, 410 Expired, timeouts), bearer-token clients,
 * RBAC denials, enough discovery and OpenAPI for kubectl, and fault injection
 * per client (latency, hangs, 5xx, 429, resets, hostile bodies, dropped
 * watches, restarts that lose state). Used by tests, demo, bench and soak.
 * Only Node built-ins.
 */
import { createHash, randomUUID } from "node:crypto"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { fieldSelector, jsonPatch, labelSelector, mergePatch, PatchFailed } from "./patch.ts"
import type { Change, Lease, LeaseSpec, Status } from "./store.ts"
import {
  ApiError,
  badRequest,
  conflict,
  failure,
  gone,
  invalidFor,
  namespaceNotFound,
  notFound,
  nowSeconds,
  statusBody,
  Store,
  strictCheck
} from "./store.ts"

export type { Lease, LeaseSpec, ManagedFieldsEntry, Status } from "./store.ts"

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"
export const allVerbs: ReadonlyArray<Verb> = ["get", "list", "watch", "create", "update", "patch", "delete"]

export interface Fault {
  /** Delay before answering (before the request is processed). */
  latencyMs?: number
  /** Accept the request and never answer; the socket stays open until the client or close()/restart() ends it. */
  hang?: boolean
  /** Answer with this HTTP status and a real Status body (500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests, 504 Timeout, 409 Conflict ...). */
  status?: number
  /** With status: a Retry-After header and details.retryAfterSeconds. */
  retryAfterSeconds?: number
  /** Destroy the socket without answering (TCP RST). */
  reset?: boolean
  /**
   * Hostile bodies: html = a 502 HTML page from a proxy; garbage = 200 with non-JSON text;
   * truncated = the real answer's headers and half its body, then the socket is destroyed;
   * slowloris = the real answer trickling 1 byte per second. truncated and slowloris process the request (writes commit).
   */
  body?: "html" | "garbage" | "truncated" | "slowloris"
  /**
   * Extension: process the request (commit the write) first, then apply hang/reset/status/html/garbage
   * instead of the real answer: an ambiguous write.
   */
  afterCommit?: boolean
  /** Only these verbs (default all). */
  verbs?: ReadonlyArray<Verb>
  /** Apply to this many matching requests, then clear itself (default: until cleared). */
  count?: number
}

export interface EmulatorOptions {
  port?: number
  host?: string
  /** Existing namespaces, default ["default", "kube-system"]. Creating in another gets 404 `namespaces "x" not found`. */
  namespaces?: ReadonlyArray<string>
  /** Accepted bearer tokens; undefined = any token or none. Bad token -> 401; no token when set -> 403 as system:anonymous. */
  tokens?: ReadonlyArray<string>
  /** 403 with the exact Forbidden body (user "system:serviceaccount:<ns>:<client>", or "system:anonymous"). */
  forbidden?: ReadonlyArray<{ client: string; verbs: ReadonlyArray<Verb> }>
  /** BOOKMARK interval for watches with allowWatchBookmarks=true (default 60 000). */
  bookmarkIntervalMs?: number
  /** Watch events kept for resumption (default 10 000); older resourceVersions get 410. */
  historyLimit?: number
}

export type ChangeEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; lease: Lease }

export interface Emulator {
  readonly url: string
  readonly port: number
  setFault(client: string, fault: Fault | undefined): void
  dropWatches(client?: string): void
  expireWatches(client?: string): void
  compact(): void
  restart(opts: { loseState: boolean; downMs?: number }): Promise<void>
  requests(client?: string): Record<Verb, number>
  resetCounts(): void
  kubeconfig(client: string, namespace?: string): string
  writeKubeconfig(path: string, client: string, namespace?: string): void
  getLease(namespace: string, name: string): Lease | undefined
  setLease(namespace: string, name: string, spec: LeaseSpec): Lease
  deleteLease(namespace: string, name: string): void
  onChange(listener: (ev: ChangeEvent) => void): () => void
  /** Extension: the current resourceVersion counter. */
  readonly resourceVersion: number
  /** Extension: number of open watch streams (for a client, or all). */
  openWatches(client?: string): number
  /** Extension: resolves once a watch stream (for a client, or any) is open, at once if one already is. */
  watchOpened(client?: string): Promise<void>
  close(): Promise<void>
}

interface Watcher {
  readonly client: string
  end(): void
  expire(): void
}

interface Reply {
  readonly code: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

const zeroCounts = (): Record<Verb, number> => ({
  get: 0,
  list: 0,
  watch: 0,
  create: 0,
  update: 0,
  patch: 0,
  delete: 0
})

const leasePath = /^\/apis\/coordination\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?leases(?:\/([^/]+))?\/?$/
const namespacePath = /^\/api\/v1\/namespaces(?:\/([^/]+))?\/?$/

const groupVersion = { groupVersion: "coordination.k8s.io/v1", version: "v1" }
const leaseResource = {
  name: "leases",
  singularName: "lease",
  namespaced: true,
  kind: "Lease",
  verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
}

/** The minimal OpenAPI v3 document kubectl create/replace/apply need (fieldValidation + GVK per operation). */
const openapiLeases = (() => {
  const params = ["dryRun", "fieldManager", "fieldValidation"].map((name) => ({
    name,
    in: "query",
    schema: { type: "string" }
  }))
  const gvk = { group: "coordination.k8s.io", version: "v1", kind: "Lease" }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.0" },
    paths: {
      "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases": {
        post: {
          operationId: "createCoordinationV1NamespacedLease",
          parameters: params,
          responses: { "201": { description: "Created" } },
          "x-kubernetes-action": "post",
          "x-kubernetes-group-version-kind": gvk
        }
      },
      "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}": {
        patch: {
          operationId: "patchCoordinationV1NamespacedLease",
          parameters: [...params, { name: "force", in: "query", schema: { type: "boolean" } }],
          responses: { "200": { description: "OK" } },
          "x-kubernetes-action": "patch",
          "x-kubernetes-group-version-kind": gvk
        },
        put: {
          operationId: "replaceCoordinationV1NamespacedLease",
          parameters: params,
          responses: { "200": { description: "OK" } },
          "x-kubernetes-action": "put",
          "x-kubernetes-group-version-kind": gvk
        }
      }
    },
    components: { schemas: {} }
  }
})()
const openapiHash = createHash("sha512").update(JSON.stringify(openapiLeases)).digest("hex").slice(0, 128).toUpperCase()

const notFoundGeneric = (): Reply => ({
  code: 404,
  body: statusBody(404, "NotFound", "the server could not find the requested resource", {})
})
const methodNotAllowed = (): Reply => ({
  code: 405,
  body: statusBody(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
})

const faultStatus = (code: number, name: string | undefined, retryAfterSeconds: number | undefined): Status => {
  const retry = retryAfterSeconds === undefined ? {} : { retryAfterSeconds }
  switch (code) {
    case 429:
      return statusBody(429, "TooManyRequests", "Too many requests, please try again later.", retry)
    case 500:
      return statusBody(500, "InternalError", "Internal error occurred: injected fault", {
        causes: [{ message: "injected fault" }],
        ...retry
      })
    case 503:
      return statusBody(503, "ServiceUnavailable", "The server is currently unable to handle the request", retry)
    case 504:
      return statusBody(504, "Timeout", "Timeout: request did not complete within the allotted timeout", retry)
    case 409:
      return conflict(name ?? "").status
    case 404:
      return notFound(name ?? "").status
    case 401:
      return statusBody(401, "Unauthorized", "Unauthorized")
    case 410:
      return statusBody(410, "Expired", "The resourceVersion for the provided watch is too old.")
    default:
      return statusBody(code, code >= 500 ? "InternalError" : "BadRequest", `injected fault (HTTP ${code})`, retry)
  }
}

const htmlPage =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

const yamlString = (s: string) => JSON.stringify(s)

export const startEmulator = async (opts: EmulatorOptions = {}): Promise<Emulator> => {
  const host = opts.host ?? "127.0.0.1"
  const namespaces = new Set(opts.namespaces ?? ["default", "kube-system"])
  const namespaceCreated = nowSeconds()
  const bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000
  const store = new Store(opts.historyLimit)
  const faults = new Map<string, Fault>()
  const counts = new Map<string, Record<Verb, number>>()
  const watchers = new Set<Watcher>()
  const sockets = new Set<Socket>()
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  const watchWaiters = new Set<{ client: string | undefined; resolve: () => void }>()
  let server: Server | undefined
  let port = opts.port ?? 0
  let epoch = 0
  let closed = false

  const count = (client: string, verb: Verb) => {
    let c = counts.get(client)
    if (c === undefined) counts.set(client, c = zeroCounts())
    c[verb]++
  }

  /** Sleep that close()/restart() cut short; answers whether the server is still the same incarnation. */
  const sleep = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const start = epoch
      const t = { timer: setTimeout(() => done(), ms), resolve: () => done() }
      const done = () => {
        clearTimeout(t.timer)
        timers.delete(t)
        resolve(start === epoch && !closed)
      }
      timers.add(t)
    })

  const alive = (res: ServerResponse) => !res.destroyed && !res.writableEnded

  const serialize = (
    body: unknown,
    pretty: boolean
  ) => (typeof body === "string" ? body : JSON.stringify(body, null, pretty ? 2 : undefined) + (pretty ? "\n" : ""))

  const send = (res: ServerResponse, r: Reply, pretty = false) => {
    if (!alive(res)) return
    const text = serialize(r.body, pretty)
    res.writeHead(r.code, {
      "content-type": "application/json",
      "audit-id": randomUUID(),
      "cache-control": "no-cache, private",
      "content-length": Buffer.byteLength(text),
      ...r.headers
    })
    res.end(text)
  }

  const authenticate = (req: IncomingMessage): { client: string; ok: boolean; anonymous: boolean } => {
    const auth = req.headers.authorization
    const m = auth === undefined ? null : /^Bearer\s+(.+)$/i.exec(auth)
    const token = m?.[1]?.trim()
    if (token === undefined || token === "") return { client: "anonymous", ok: true, anonymous: true }
    if (opts.tokens !== undefined && !opts.tokens.includes(token)) return { client: token, ok: false, anonymous: false }
    return { client: token, ok: true, anonymous: false }
  }

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      req.on("error", reject)
      req.on("close", () => {
        if (!req.complete) reject(new Error("request aborted"))
      })
    })

  const takeFault = (client: string, verb: Verb): Fault | undefined => {
    for (const key of [client, "*"]) {
      const f = faults.get(key)
      if (f === undefined || (f.verbs !== undefined && !f.verbs.includes(verb))) continue
      if (f.count !== undefined) {
        if (f.count <= 1) faults.delete(key)
        else f.count--
      }
      return f
    }
    return undefined
  }

  const resetSocket = (res: ServerResponse) => {
    const s = res.socket
    if (s === null) return
    if (typeof s.resetAndDestroy === "function") s.resetAndDestroy()
    else s.destroy()
  }

  /** A fault that replaces the answer entirely (hang/reset/status/html/garbage). Answers whether it did. */
  const replaceAnswer = (f: Fault, res: ServerResponse, name: string | undefined): boolean => {
    if (f.hang) return true // never answer; the socket is destroyed by the client, close() or restart()
    if (f.reset) {
      resetSocket(res)
      return true
    }
    if (f.status !== undefined) {
      send(res, {
        code: f.status,
        body: faultStatus(f.status, name, f.retryAfterSeconds),
        ...(f.retryAfterSeconds === undefined ? {} : { headers: { "retry-after": String(f.retryAfterSeconds) } })
      })
      return true
    }
    if (f.body === "html") {
      if (alive(res)) {
        res.writeHead(502, {
          "content-type": "text/html",
          "content-length": Buffer.byteLength(htmlPage),
          server: "nginx"
        })
        res.end(htmlPage)
      }
      return true
    }
    if (f.body === "garbage") {
      if (alive(res)) {
        const text = "<<<this is not JSON>>> \u0000\u0001 {\"kind\":"
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
        res.end(text)
      }
      return true
    }
    return false
  }

  /** truncated/slowloris applied to the real answer. */
  const mangle = (f: Fault, res: ServerResponse, r: Reply) => {
    if (!alive(res)) return
    const text = Buffer.from(serialize(r.body, false))
    res.writeHead(r.code, {
      "content-type": "application/json",
      "audit-id": randomUUID(),
      "content-length": text.length,
      ...r.headers
    })
    if (f.body === "truncated") {
      res.write(text.subarray(0, text.length >> 1), () => setTimeout(() => res.socket?.destroy(), 5))
      return
    }
    let i = 0
    res.flushHeaders()
    const timer = setInterval(() => {
      if (!alive(res)) return clearInterval(timer)
      if (i >= text.length - 1) {
        clearInterval(timer)
        res.end(text.subarray(i))
      } else res.write(text.subarray(i, ++i))
    }, 1000)
    res.on("close", () => clearInterval(timer))
  }

  const forbiddenReply = (
    user: string,
    verb: Verb,
    ns: string | undefined,
    name: string | undefined,
    resource = "leases",
    group = "coordination.k8s.io"
  ): Reply => {
    const qualified = group === "" ? resource : `${resource}.${group}`
    const where = ns === undefined ? "at the cluster scope" : `in the namespace "${ns}"`
    return {
      code: 403,
      body: statusBody(
        403,
        "Forbidden",
        `${qualified}${
          name === undefined ? "" : ` "${name}"`
        } is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`,
        { ...(name === undefined ? {} : { name }), group, kind: resource }
      )
    }
  }

  const userOf = (
    client: string,
    anonymous: boolean,
    ns: string | undefined
  ) => (anonymous ? "system:anonymous" : `system:serviceaccount:${ns ?? "default"}:${client}`)

  const watch = (
    client: string,
    ns: string | undefined,
    name: string | undefined,
    url: URL,
    res: ServerResponse
  ): Reply | undefined => {
    const fs = fieldSelector(url.searchParams.get("fieldSelector"))
    const ls = labelSelector(url.searchParams.get("labelSelector"))
    const matches = (l: Lease) =>
      (ns === undefined || l.metadata.namespace === ns) && (name === undefined || l.metadata.name === name)
      && fs.test(l) && ls(l)
    const rvParam = url.searchParams.get("resourceVersion")
    const line = (type: string, object: unknown) => {
      if (alive(res)) res.write(`${JSON.stringify({ type, object })}\n`)
    }
    res.writeHead(200, {
      "content-type": "application/json",
      "audit-id": randomUUID(),
      "cache-control": "no-cache, private"
    })
    res.flushHeaders()
    const expire = (from: string) => {
      line("ERROR", statusBody(410, "Expired", `too old resource version: ${from} (${store.compactedRv + 1})`))
      res.end()
    }
    if (rvParam !== null && rvParam !== "" && rvParam !== "0") {
      const from = Number(rvParam)
      if (!Number.isInteger(from) || from < 0) {
        res.end()
        return undefined
      }
      if (from < store.compactedRv) {
        expire(rvParam)
        return undefined
      }
      for (const c of store.history) if (c.rv > from && matches(c.lease)) line(c.type, c.lease)
    } else {
      for (const l of store.list(ns)) if (matches(l)) line("ADDED", l)
    }
    const unsubscribe = store.subscribe((c: Change) => {
      if (matches(c.lease)) line(c.type, c.lease)
    })
    const bookmarks = url.searchParams.get("allowWatchBookmarks") === "true"
      ? setInterval(
        () =>
          line("BOOKMARK", {
            kind: "Lease",
            apiVersion: "coordination.k8s.io/v1",
            metadata: { resourceVersion: String(store.rv) },
            spec: {}
          }),
        bookmarkIntervalMs
      )
      : undefined
    const timeoutSeconds = Number(url.searchParams.get("timeoutSeconds") ?? "0")
    const timeout = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined
    const w: Watcher = { client, end: () => res.end(), expire: () => expire(String(store.rv)) }
    watchers.add(w)
    for (const waiter of [...watchWaiters]) {
      if (waiter.client === undefined || waiter.client === client) {
        watchWaiters.delete(waiter)
        waiter.resolve()
      }
    }
    const cleanup = () => {
      unsubscribe()
      if (bookmarks !== undefined) clearInterval(bookmarks)
      if (timeout !== undefined) clearTimeout(timeout)
      watchers.delete(w)
    }
    res.on("close", cleanup)
    res.on("finish", cleanup)
    return undefined
  }

  const parseJson = (text: string, what = "Lease"): Record<string, unknown> => {
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch (e) {
      throw badRequest(
        `${what} in version "v1" cannot be handled as a ${what}: ${
          text.trim() === "" ? "unexpected end of JSON input" : `invalid character: ${(e as Error).message}`
        }`
      )
    }
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
    throw badRequest(
      `${what} in version "v1" cannot be handled as a ${what}: json: cannot unmarshal ${
        Array.isArray(v) ? "array" : typeof v
      } into Go value of type struct`
    )
  }

  const patch = async (
    req: IncomingMessage,
    ns: string,
    name: string,
    url: URL,
    manager: string,
    dryRun: boolean
  ): Promise<Reply> => {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    const known = [
      "application/json-patch+json",
      "application/merge-patch+json",
      "application/strategic-merge-patch+json",
      "application/apply-patch+yaml"
    ]
    if (!known.includes(type)) {
      throw failure(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ${known.join(", ")}`
      )
    }
    const apply = type === "application/apply-patch+yaml"
    const fieldManager = url.searchParams.get("fieldManager")
    const force = url.searchParams.get("force")
    if (apply && (fieldManager === null || fieldManager === "")) {
      throw invalidFor("PatchOptions", "meta.k8s.io", "", [{
        field: "fieldManager",
        message: "Required value: is required for apply patch",
        reason: "FieldValueRequired"
      }])
    }
    if (!apply && force !== null) {
      throw invalidFor("PatchOptions", "meta.k8s.io", "", [{
        field: "force",
        message: "Forbidden: may not be specified for non-apply patch",
        reason: "FieldValueForbidden"
      }])
    }
    const text = await readBody(req)
    const current = store.get(ns, name)
    if (apply) {
      let body: Record<string, unknown>
      try {
        body = parseJson(text)
      } catch {
        throw badRequest("error decoding YAML: this emulator accepts apply patches written as JSON")
      }
      if (body["apiVersion"] !== "coordination.k8s.io/v1" || body["kind"] !== "Lease") {
        throw badRequest(`invalid object type: /, Kind=`)
      }
      const meta =
        (typeof body["metadata"] === "object" && body["metadata"] !== null ? body["metadata"] : {}) as Record<
          string,
          unknown
        >
      if (meta["name"] !== undefined && meta["name"] !== name) {
        throw badRequest(
          `the name of the object (${String(meta["name"])}) does not match the name on the URL (${name})`
        )
      }
      if (current === undefined) {
        if (!namespaces.has(ns)) throw namespaceNotFound(ns)
        const { resourceVersion: _rv, ...rest } = meta
        return {
          code: 201,
          body: store.create(ns, { ...body, metadata: { ...rest, name } }, {
            manager: fieldManager!,
            operation: "Apply",
            dryRun
          })
        }
      }
      const merged = mergePatch(current, body) as Record<string, unknown>
      const mm = merged["metadata"] as Record<string, unknown>
      if (meta["resourceVersion"] === undefined) mm["resourceVersion"] = current.metadata.resourceVersion
      return {
        code: 200,
        body: store.update(ns, name, merged, { manager: fieldManager!, operation: "Apply", dryRun }).lease
      }
    }
    if (current === undefined) throw notFound(name)
    let patched: unknown
    if (type === "application/json-patch+json") {
      let ops: unknown
      try {
        ops = JSON.parse(text)
      } catch {
        throw badRequest(`error decoding patch: invalid character in JSON patch`)
      }
      try {
        patched = jsonPatch(current, ops)
      } catch (e) {
        if (e instanceof PatchFailed) {
          throw failure(422, "Invalid", "the server rejected our request due to an error in our request", {})
        }
        throw e
      }
    } else {
      patched = mergePatch(current, parseJson(text))
    }
    if (typeof patched !== "object" || patched === null || Array.isArray(patched)) {
      throw failure(422, "Invalid", "the server rejected our request due to an error in our request", {})
    }
    const p = patched as Record<string, unknown>
    const meta = (typeof p["metadata"] === "object" && p["metadata"] !== null ? p["metadata"] : {}) as Record<
      string,
      unknown
    >
    p["metadata"] = meta
    if (meta["resourceVersion"] === undefined || meta["resourceVersion"] === null || meta["resourceVersion"] === "") {
      meta["resourceVersion"] = current.metadata.resourceVersion
    } else if (meta["resourceVersion"] !== current.metadata.resourceVersion) throw conflict(name)
    return { code: 200, body: store.update(ns, name, p, { manager, dryRun }).lease }
  }

  const leaseRequest = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    ns: string | undefined,
    name: string | undefined,
    verb: Verb,
    client: string
  ): Promise<Reply | undefined> => {
    const method = req.method ?? "GET"
    const manager = url.searchParams.get("fieldManager") ?? (req.headers["user-agent"] ?? "unknown").split("/")[0]!
    const dryRun = url.searchParams.getAll("dryRun").includes("All")
    const strict = url.searchParams.get("fieldValidation") === "Strict"
    switch (verb) {
      case "get": {
        if (method !== "GET") return methodNotAllowed()
        const l = store.get(ns!, name!)
        if (l === undefined) throw notFound(name!)
        return { code: 200, body: l }
      }
      case "list": {
        if (method !== "GET") return methodNotAllowed()
        const fs = fieldSelector(url.searchParams.get("fieldSelector"))
        const ls = labelSelector(url.searchParams.get("labelSelector"))
        const rv = url.searchParams.get("resourceVersion")
        if (url.searchParams.get("resourceVersionMatch") === "Exact" && rv !== null && Number(rv) < store.compactedRv) {
          throw gone("The resourceVersion for the provided list is too old.")
        }
        const items = store.list(ns).filter((l) => fs.test(l) && ls(l)).map(({ kind: _k, apiVersion: _a, ...rest }) =>
          rest
        )
        return {
          code: 200,
          body: {
            kind: "LeaseList",
            apiVersion: "coordination.k8s.io/v1",
            metadata: { resourceVersion: String(store.rv) },
            items
          }
        }
      }
      case "watch":
        return watch(client, ns, name, url, res)
      case "create": {
        if (ns === undefined) return methodNotAllowed()
        const body = parseJson(await readBody(req))
        if (strict) strictCheck(body)
        if (!namespaces.has(ns)) throw namespaceNotFound(ns)
        return { code: 201, body: store.create(ns, body, { manager, dryRun }) }
      }
      case "update": {
        const body = parseJson(await readBody(req))
        if (strict) strictCheck(body)
        if (!namespaces.has(ns!) && store.get(ns!, name!) === undefined) throw namespaceNotFound(ns!)
        const { created, lease } = store.update(ns!, name!, body, { manager, dryRun })
        return { code: created ? 201 : 200, body: lease }
      }
      case "patch":
        return patch(req, ns!, name!, url, manager, dryRun)
      case "delete": {
        const text = await readBody(req)
        let preconditions: { uid?: unknown; resourceVersion?: unknown } | undefined
        if (text.trim() !== "") {
          const opts = parseJson(text, "DeleteOptions")
          if (typeof opts["preconditions"] === "object" && opts["preconditions"] !== null) {
            preconditions = opts["preconditions"] as { uid?: unknown; resourceVersion?: unknown }
          }
          if (Array.isArray(opts["dryRun"]) && opts["dryRun"].includes("All")) {
            return deleted(store.delete(ns!, name!, preconditions, true), name!)
          }
        }
        return deleted(store.delete(ns!, name!, preconditions, dryRun), name!)
      }
    }
  }

  const deleted = (l: Lease, name: string): Reply => ({
    code: 200,
    body: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, group: "coordination.k8s.io", kind: "leases", uid: l.metadata.uid }
    }
  })

  const discovery = (path: string, method: string, anonymous: boolean): Reply | undefined => {
    switch (path) {
      case "/version":
      case "/version/":
        return {
          code: 200,
          body: {
            major: "1",
            minor: "32",
            gitVersion: "v1.32.4-emulator",
            gitCommit: "0000000000000000000000000000000000000000",
            gitTreeState: "clean",
            buildDate: "2026-01-01T00:00:00Z",
            goVersion: "go1.23.6",
            compiler: "gc",
            platform: "linux/amd64"
          }
        }
      case "/healthz":
      case "/livez":
      case "/readyz":
        return { code: 200, body: "ok" }
      case "/api":
        return {
          code: 200,
          body: {
            kind: "APIVersions",
            versions: ["v1"],
            serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `${host}:${port}` }]
          }
        }
      case "/api/v1":
        return {
          code: 200,
          body: {
            kind: "APIResourceList",
            groupVersion: "v1",
            resources: [{
              name: "namespaces",
              singularName: "namespace",
              namespaced: false,
              kind: "Namespace",
              verbs: ["get", "list"],
              shortNames: ["ns"]
            }]
          }
        }
      case "/apis":
        return {
          code: 200,
          body: {
            kind: "APIGroupList",
            apiVersion: "v1",
            groups: [{ name: "coordination.k8s.io", versions: [groupVersion], preferredVersion: groupVersion }]
          }
        }
      case "/apis/coordination.k8s.io":
        return {
          code: 200,
          body: {
            kind: "APIGroup",
            apiVersion: "v1",
            name: "coordination.k8s.io",
            versions: [groupVersion],
            preferredVersion: groupVersion
          }
        }
      case "/apis/coordination.k8s.io/v1":
        return {
          code: 200,
          body: {
            kind: "APIResourceList",
            apiVersion: "v1",
            groupVersion: "coordination.k8s.io/v1",
            resources: [leaseResource]
          }
        }
      case "/openapi/v3":
        return {
          code: 200,
          body: {
            paths: {
              "apis/coordination.k8s.io/v1": {
                serverRelativeURL: `/openapi/v3/apis/coordination.k8s.io/v1?hash=${openapiHash}`
              }
            }
          }
        }
      case "/openapi/v3/apis/coordination.k8s.io/v1":
        return { code: 200, body: openapiLeases }
    }
    const m = namespacePath.exec(path)
    if (m !== null) {
      if (method !== "GET") return methodNotAllowed()
      const name = m[1] === undefined ? undefined : decodeURIComponent(m[1])
      if (anonymous && opts.tokens !== undefined) {
        return forbiddenReply(
          "system:anonymous",
          name === undefined ? "list" : "get",
          undefined,
          name,
          "namespaces",
          ""
        )
      }
      const nsObject = (n: string) => ({
        metadata: {
          name: n,
          uid: createHash("sha1").update(n).digest("hex").replace(
            /^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/,
            "$1-$2-$3-$4-$5"
          ),
          resourceVersion: "1",
          creationTimestamp: namespaceCreated,
          labels: { "kubernetes.io/metadata.name": n }
        },
        spec: { finalizers: ["kubernetes"] },
        status: { phase: "Active" }
      })
      if (name === undefined) {
        return {
          code: 200,
          body: {
            kind: "NamespaceList",
            apiVersion: "v1",
            metadata: { resourceVersion: String(store.rv) },
            items: [...namespaces].map(nsObject)
          }
        }
      }
      return namespaces.has(name)
        ? { code: 200, body: { kind: "Namespace", apiVersion: "v1", ...nsObject(name) } }
        : { code: 404, body: namespaceNotFound(name).status }
    }
    return undefined
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", `http://${host}`)
    const pretty = url.searchParams.get("pretty") === "true" || url.searchParams.get("pretty") === "1"
    const method = req.method ?? "GET"
    const who = authenticate(req)
    const m = leasePath.exec(url.pathname)
    if (m === null) {
      if (!who.ok) return send(res, { code: 401, body: statusBody(401, "Unauthorized", "Unauthorized") })
      const d = discovery(url.pathname, method, who.anonymous)
      if (d !== undefined && (method === "GET" || d.code === 405)) return send(res, d, pretty)
      return send(res, notFoundGeneric())
    }
    const client = who.client
    const ns = m[1] === undefined ? undefined : decodeURIComponent(m[1])
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2])
    const w = url.searchParams.get("watch")
    const isWatch = w === "true" || w === "1"
    const verb: Verb = isWatch
      ? "watch"
      : name !== undefined
      ? (({ GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<string, Verb>)[method] ?? "get")
      : method === "POST"
      ? "create"
      : "list"
    count(client, verb)
    const fault = takeFault(client, verb)
    if (fault?.latencyMs !== undefined && fault.latencyMs > 0) {
      if (!(await sleep(fault.latencyMs))) return
    }
    if (fault !== undefined && !fault.afterCommit && replaceAnswer(fault, res, name)) return
    const startEpoch = epoch
    let reply: Reply | undefined
    try {
      if (!who.ok) reply = { code: 401, body: statusBody(401, "Unauthorized", "Unauthorized") }
      else {
        const rule = opts.forbidden?.find((f) => f.client === client && f.verbs.includes(verb))
        const authzName = name
          ?? (verb === "list" || verb === "watch"
            ? fieldSelector(url.searchParams.get("fieldSelector")).name
            : undefined)
        if (who.anonymous && opts.tokens !== undefined) reply = forbiddenReply("system:anonymous", verb, ns, authzName)
        else if (rule !== undefined) reply = forbiddenReply(userOf(client, who.anonymous, ns), verb, ns, authzName)
        else if (verb === "watch" && fault?.body !== undefined && fault.body !== "html" && fault.body !== "garbage") {
          // a mangled watch: the initial events as one body
          const lines = store.list(ns).filter((l) => name === undefined || l.metadata.name === name).map((l) =>
            JSON.stringify({ type: "ADDED", object: l })
          ).join("\n")
          reply = { code: 200, body: lines + "\n" }
        } else reply = await leaseRequest(req, res, url, ns, name, verb, client)
      }
    } catch (e) {
      if (e instanceof ApiError) reply = { code: e.code, body: e.status }
      else if (res.destroyed || epoch !== startEpoch) return
      else throw e
    }
    if (reply === undefined) return // a watch stream owns the response
    if (fault !== undefined && fault.afterCommit && replaceAnswer(fault, res, name)) return
    if (fault?.body === "truncated" || fault?.body === "slowloris") return mangle(fault, res, reply)
    send(res, reply, pretty)
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        handle(req, res).catch((e: unknown) => {
          send(res, { code: 500, body: statusBody(500, "InternalError", `Internal error occurred: ${String(e)}`) })
        })
      })
      s.keepAliveTimeout = 30_000
      s.headersTimeout = 35_000
      s.requestTimeout = 0
      s.on("connection", (sock: Socket) => {
        sockets.add(sock)
        sock.on("close", () => sockets.delete(sock))
      })
      s.on("clientError", (_e, sock: Socket) => sock.destroy())
      s.once("error", reject)
      s.listen(port, host, () => {
        s.off("error", reject)
        const a = s.address()
        if (typeof a === "object" && a !== null) port = a.port
        server = s
        resolve()
      })
    })

  const stop = () =>
    new Promise<void>((resolve) => {
      epoch++
      for (const t of [...timers]) t.resolve()
      const s = server
      server = undefined
      for (const sock of sockets) sock.destroy()
      if (s === undefined) return resolve()
      s.close(() => resolve())
      s.closeAllConnections()
    })

  await listen()

  const kubeconfig = (client: string, namespace = "default") =>
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: emulator",
      "  cluster:",
      `    server: ${yamlString(`http://${host}:${port}`)}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      `- name: ${yamlString(client)}`,
      client === "anonymous" ? "  user: {}" : `  user:\n    token: ${yamlString(client)}`,
      "contexts:",
      "- name: emulator",
      "  context:",
      "    cluster: emulator",
      `    user: ${yamlString(client)}`,
      `    namespace: ${yamlString(namespace)}`,
      "current-context: emulator",
      ""
    ].join("\n")

  return {
    get url() {
      return `http://${host}:${port}`
    },
    get port() {
      return port
    },
    get resourceVersion() {
      return store.rv
    },
    setFault: (client, fault) => {
      if (fault === undefined) faults.delete(client)
      else faults.set(client, { ...fault })
    },
    dropWatches: (client) => {
      for (const w of [...watchers]) if (client === undefined || w.client === client) w.end()
    },
    expireWatches: (client) => {
      for (const w of [...watchers]) if (client === undefined || w.client === client) w.expire()
    },
    openWatches: (client) => [...watchers].filter((w) => client === undefined || w.client === client).length,
    watchOpened: (client) =>
      [...watchers].some((w) => client === undefined || w.client === client)
        ? Promise.resolve()
        : new Promise<void>((resolve) => void watchWaiters.add({ client, resolve })),
    compact: () => store.compact(),
    restart: async ({ downMs = 200, loseState }) => {
      if (closed) throw new Error("emulator is closed")
      await stop()
      if (loseState) store.clear()
      await new Promise((r) => setTimeout(r, downMs))
      if (closed) return
      // The port was ours a moment ago; retry briefly in case the kernel is slow to free it.
      for (let attempt = 0;; attempt++) {
        try {
          await listen()
          return
        } catch (e) {
          if (attempt >= 50) throw e
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    },
    requests: (client) => {
      if (client !== undefined) return { ...(counts.get(client) ?? zeroCounts()) }
      const total = zeroCounts()
      for (const c of counts.values()) for (const v of allVerbs) total[v] += c[v]
      return total
    },
    resetCounts: () => counts.clear(),
    kubeconfig,
    writeKubeconfig: (path, client, namespace) => writeFileSync(path, kubeconfig(client, namespace)),
    getLease: (namespace, name) => store.get(namespace, name),
    setLease: (namespace, name, spec) => {
      const current = store.get(namespace, name)
      if (current === undefined) return store.create(namespace, { metadata: { name }, spec }, { manager: "emulator" })
      return store.update(namespace, name, { ...current, spec }, { manager: "emulator" }).lease
    },
    deleteLease: (namespace, name) => {
      if (store.get(namespace, name) !== undefined) store.delete(namespace, name)
    },
    onChange: (listener) => store.subscribe((c) => listener({ type: c.type, lease: structuredClone(c.lease) })),
    close: async () => {
      if (closed) return
      closed = true
      await stop()
    }
  }
}
