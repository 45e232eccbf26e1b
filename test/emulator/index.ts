/**
 * A kube-apiserver test double for coordination.k8s.io/v1 Leases: real HTTP,
 * the API server's status codes and Status bodies, resourceVersion conflicts,
 * create-on-update, MicroTime validation, list and watch (with bookmarks, 410
 * Expired and timeouts), bearer-token clients, RBAC denials, and fault
 * injection per client (latency, hangs, 5xx, 429, resets, hostile bodies,
 * dropped watches, restarts that lose state). Used by tests, demo, bench and soak.
 */
import { randomUUID } from "node:crypto"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import type { Change, Lease, LeaseSpec } from "./store.ts"
import { ApiError, badRequest, namespaceNotFound, notFound, Store } from "./store.ts"

export type { Lease, LeaseSpec } from "./store.ts"

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"
const verbs: ReadonlyArray<Verb> = ["get", "list", "watch", "create", "update", "patch", "delete"]

export interface Fault {
  latencyMs?: number
  hang?: boolean
  status?: number
  retryAfterSeconds?: number
  reset?: boolean
  body?: "html" | "garbage" | "truncated" | "slowloris"
  verbs?: ReadonlyArray<Verb>
  count?: number
}

export interface EmulatorOptions {
  port?: number
  host?: string
  namespaces?: ReadonlyArray<string>
  tokens?: ReadonlyArray<string>
  forbidden?: ReadonlyArray<{ client: string; verbs: ReadonlyArray<Verb> }>
  bookmarkIntervalMs?: number
}

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
  onChange(listener: (ev: { type: "ADDED" | "MODIFIED" | "DELETED"; lease: Lease }) => void): () => void
  close(): Promise<void>
}

interface Watcher {
  readonly client: string
  readonly res: ServerResponse
  end(): void
  expire(): void
}

const zeroCounts = (): Record<Verb, number> => ({ get: 0, list: 0, watch: 0, create: 0, update: 0, patch: 0, delete: 0 })

const leasePath = /^\/apis\/coordination\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?leases(?:\/([^/]+))?$/

export const startEmulator = async (opts: EmulatorOptions = {}): Promise<Emulator> => {
  const host = opts.host ?? "127.0.0.1"
  const namespaces = new Set(opts.namespaces ?? ["default", "kube-system"])
  const bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000
  const store = new Store()
  const faults = new Map<string, Fault>()
  const counts = new Map<string, Record<Verb, number>>()
  const watchers = new Set<Watcher>()
  const sockets = new Set<Socket>()
  const hung = new Set<ServerResponse>()
  let server: Server
  let port = opts.port ?? 0

  const count = (client: string, verb: Verb) => {
    const c = counts.get(client) ?? zeroCounts()
    c[verb]++
    counts.set(client, c)
  }

  const send = (res: ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(code, { "content-type": "application/json", "audit-id": randomUUID(), "content-length": Buffer.byteLength(text) })
    res.end(text)
  }
  const sendError = (res: ServerResponse, e: ApiError) => send(res, e.code, e.status)

  const clientOf = (req: IncomingMessage): { client: string; ok: boolean } => {
    const auth = req.headers.authorization
    const token = auth?.startsWith("Bearer ") ? auth.slice(7) : undefined
    if (token === undefined) return { client: "anonymous", ok: true }
    if (opts.tokens !== undefined && !opts.tokens.includes(token)) return { client: token, ok: false }
    return { client: token, ok: true }
  }

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = ""
      req.setEncoding("utf8")
      req.on("data", (c: string) => (text += c))
      req.on("end", () => resolve(text))
      req.on("error", reject)
    })

  /** Apply the client's fault, if any; answers whether the request was consumed by it. */
  const applyFault = async (client: string, verb: Verb, req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const f = faults.get(client) ?? faults.get("*")
    if (f === undefined || (f.verbs !== undefined && !f.verbs.includes(verb))) return false
    if (f.count !== undefined) {
      if (f.count <= 1) faults.delete(faults.has(client) ? client : "*")
      else f.count--
    }
    if (f.latencyMs !== undefined && f.latencyMs > 0) await new Promise((r) => setTimeout(r, f.latencyMs))
    if (f.hang) {
      hung.add(res)
      res.on("close", () => hung.delete(res))
      return true
    }
    if (f.reset) {
      req.socket.destroy()
      return true
    }
    if (f.status !== undefined) {
      const reason = f.status === 429 ? "TooManyRequests" : f.status === 503 ? "ServiceUnavailable" : f.status === 504 ? "Timeout" : "InternalError"
      const message = f.status === 429 ? "the server has received too many requests and has asked us to try again later" : "an error on the server (\"\") has prevented the request from succeeding"
      const body = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, details: f.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: f.retryAfterSeconds }, code: f.status }
      const text = JSON.stringify(body)
      res.writeHead(f.status, { "content-type": "application/json", ...(f.retryAfterSeconds === undefined ? {} : { "retry-after": String(f.retryAfterSeconds) }) })
      res.end(text)
      return true
    }
    switch (f.body) {
      case "html":
        res.writeHead(502, { "content-type": "text/html" })
        res.end("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
        return true
      case "garbage":
        res.writeHead(200, { "content-type": "application/json" })
        res.end("this is not json {{{")
        return true
      case "truncated": {
        const text = JSON.stringify({ kind: "Lease", apiVersion: "coordination.k8s.io/v1", metadata: { name: "x", resourceVersion: "1" }, spec: {} })
        res.writeHead(200, { "content-type": "application/json", "content-length": text.length })
        res.write(text.slice(0, text.length >> 1))
        setTimeout(() => req.socket.destroy(), 10)
        return true
      }
      case "slowloris": {
        res.writeHead(200, { "content-type": "application/json" })
        hung.add(res)
        const timer = setInterval(() => res.write(" "), 1000)
        res.on("close", () => {
          clearInterval(timer)
          hung.delete(res)
        })
        return true
      }
    }
    return false
  }

  const denied = (client: string, verb: Verb, ns: string | undefined, name: string | undefined, res: ServerResponse): boolean => {
    const rule = opts.forbidden?.find((f) => f.client === client && f.verbs.includes(verb))
    if (rule === undefined) return false
    const user = client === "anonymous" ? "system:anonymous" : `system:serviceaccount:${ns ?? "default"}:${client}`
    const where = ns === undefined ? "at the cluster scope" : `in the namespace "${ns}"`
    send(res, 403, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `leases.coordination.k8s.io${name === undefined ? "" : ` "${name}"`} is forbidden: User "${user}" cannot ${verb} resource "leases" in API group "coordination.k8s.io" ${where}`,
      reason: "Forbidden",
      details: { ...(name === undefined ? {} : { name }), group: "coordination.k8s.io", kind: "leases" },
      code: 403
    })
    return true
  }

  const watch = (client: string, ns: string | undefined, url: URL, res: ServerResponse) => {
    const nameSelector = /metadata\.name=([^,]+)/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1]
    const matches = (l: Lease) => (ns === undefined || l.metadata.namespace === ns) && (nameSelector === undefined || l.metadata.name === nameSelector)
    const line = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`)
    const rvParam = url.searchParams.get("resourceVersion")
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked", "audit-id": randomUUID() })
    const expire = () => {
      line("ERROR", { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${rvParam ?? 0} (${store.rv})`, reason: "Expired", code: 410 })
      res.end()
    }
    if (rvParam !== null && rvParam !== "" && rvParam !== "0") {
      const from = Number(rvParam)
      if (!(from >= store.compactedRv)) return expire()
      for (const c of store.history) if (c.rv > from && matches(c.lease)) line(c.type, c.lease)
    } else {
      for (const l of store.list(ns)) if (matches(l)) line("ADDED", l)
    }
    const unsubscribe = store.subscribe((c: Change) => {
      if (matches(c.lease)) line(c.type, c.lease)
    })
    const bookmarks = url.searchParams.get("allowWatchBookmarks") === "true"
      ? setInterval(() => line("BOOKMARK", { kind: "Lease", apiVersion: "coordination.k8s.io/v1", metadata: { resourceVersion: String(store.rv) }, spec: {} }), bookmarkIntervalMs)
      : undefined
    const timeoutSeconds = Number(url.searchParams.get("timeoutSeconds") ?? "0")
    const timeout = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined
    const w: Watcher = { client, res, end: () => res.end(), expire }
    watchers.add(w)
    res.on("close", () => {
      unsubscribe()
      if (bookmarks !== undefined) clearInterval(bookmarks)
      if (timeout !== undefined) clearTimeout(timeout)
      watchers.delete(w)
    })
  }

  const discovery = (path: string): unknown => {
    switch (path) {
      case "/version":
        return { major: "1", minor: "32", gitVersion: "v1.32.0-emulator", platform: "linux/amd64" }
      case "/api":
        return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `${host}:${port}` }] }
      case "/api/v1":
        return { kind: "APIResourceList", groupVersion: "v1", resources: [{ name: "namespaces", singularName: "namespace", namespaced: false, kind: "Namespace", verbs: ["get", "list"] }] }
      case "/apis":
        return {
          kind: "APIGroupList",
          apiVersion: "v1",
          groups: [{ name: "coordination.k8s.io", versions: [{ groupVersion: "coordination.k8s.io/v1", version: "v1" }], preferredVersion: { groupVersion: "coordination.k8s.io/v1", version: "v1" } }]
        }
      case "/apis/coordination.k8s.io":
        return { kind: "APIGroup", apiVersion: "v1", name: "coordination.k8s.io", versions: [{ groupVersion: "coordination.k8s.io/v1", version: "v1" }], preferredVersion: { groupVersion: "coordination.k8s.io/v1", version: "v1" } }
      case "/apis/coordination.k8s.io/v1":
        return {
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: "coordination.k8s.io/v1",
          resources: [{ name: "leases", singularName: "lease", namespaced: true, kind: "Lease", verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] }]
        }
      default:
        return undefined
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", `http://${host}`)
    const who = clientOf(req)
    if (!who.ok) return send(res, 401, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 })
    const client = who.client
    const m = leasePath.exec(url.pathname)
    if (m === null) {
      const d = discovery(url.pathname)
      if (d !== undefined && req.method === "GET") return send(res, 200, d)
      if (url.pathname.startsWith("/openapi/")) return send(res, 404, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", code: 404 })
      return send(res, 404, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", details: {}, code: 404 })
    }
    const ns = m[1] === undefined ? undefined : decodeURIComponent(m[1])
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2])
    const isWatch = url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1"
    const verb: Verb = name !== undefined
      ? (({ GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<string, Verb>)[req.method ?? ""] ?? "get")
      : req.method === "POST" ? "create" : isWatch ? "watch" : "list"
    count(client, verb)
    if (await applyFault(client, verb, req, res)) return
    if (denied(client, verb, ns, name, res)) return
    if (ns !== undefined && !namespaces.has(ns)) return sendError(res, namespaceNotFound(ns))
    const manager = (req.headers["user-agent"] ?? "unknown").split("/")[0]!
    try {
      switch (verb) {
        case "get": {
          const l = store.get(ns!, name!)
          return l === undefined ? sendError(res, notFound(name!)) : send(res, 200, l)
        }
        case "list":
          return send(res, 200, { kind: "LeaseList", apiVersion: "coordination.k8s.io/v1", metadata: { resourceVersion: String(store.rv) }, items: store.list(ns).map(({ kind: _k, apiVersion: _a, ...rest }) => rest) })
        case "watch":
          return watch(client, ns, url, res)
        case "create": {
          const body = parseJson(await readBody(req))
          return send(res, 201, store.create(ns!, body, url.searchParams.get("fieldManager") ?? manager))
        }
        case "update": {
          const body = parseJson(await readBody(req))
          const { created, lease } = store.update(ns!, name!, body, url.searchParams.get("fieldManager") ?? manager)
          return send(res, created ? 201 : 200, lease)
        }
        case "patch": {
          const type = (req.headers["content-type"] ?? "").split(";")[0]
          const body = parseJson(await readBody(req))
          if (type !== "application/merge-patch+json" && type !== "application/strategic-merge-patch+json") {
            return send(res, 415, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`, reason: "UnsupportedMediaType", code: 415 })
          }
          const current = store.get(ns!, name!)
          if (current === undefined) return sendError(res, notFound(name!))
          const merged = mergePatch(current, body) as Record<string, unknown>
          const { lease } = store.update(ns!, name!, merged, manager)
          return send(res, 200, lease)
        }
        case "delete": {
          const gone = store.delete(ns!, name!)
          return send(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: name!, group: "coordination.k8s.io", kind: "leases", uid: gone.metadata.uid } })
        }
      }
    } catch (e) {
      if (e instanceof ApiError) return sendError(res, e)
      throw e
    }
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((req, res) => {
        handle(req, res).catch((e: unknown) => {
          if (!res.headersSent) send(res, 500, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: String(e), reason: "InternalError", code: 500 })
        })
      })
      server.keepAliveTimeout = 30_000
      server.on("connection", (s: Socket) => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
      })
      server.once("error", reject)
      server.listen(port, host, () => {
        const a = server.address()
        if (typeof a === "object" && a !== null) port = a.port
        resolve()
      })
    })

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const w of watchers) w.res.destroy()
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })

  await listen()

  const kubeconfig = (client: string, namespace = "default") =>
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: emu, cluster: {server: "http://${host}:${port}", insecure-skip-tls-verify: true}}]`,
      client === "anonymous" ? "users: [{name: emu, user: {}}]" : `users: [{name: emu, user: {token: ${JSON.stringify(client)}}}]`,
      `contexts: [{name: emu, context: {cluster: emu, user: emu, namespace: ${namespace}}}]`,
      "current-context: emu",
      ""
    ].join("\n")

  return {
    get url() {
      return `http://${host}:${port}`
    },
    get port() {
      return port
    },
    setFault: (client, fault) => {
      if (fault === undefined) faults.delete(client)
      else faults.set(client, { ...fault })
    },
    dropWatches: (client) => {
      for (const w of watchers) if (client === undefined || w.client === client) w.end()
    },
    expireWatches: (client) => {
      for (const w of watchers) if (client === undefined || w.client === client) w.expire()
    },
    compact: () => store.compact(),
    restart: async ({ downMs = 200, loseState }) => {
      await stop()
      if (loseState) store.clear()
      await new Promise((r) => setTimeout(r, downMs))
      await listen()
    },
    requests: (client) => {
      if (client !== undefined) return { ...(counts.get(client) ?? zeroCounts()) }
      const total = zeroCounts()
      for (const c of counts.values()) for (const v of verbs) total[v] += c[v]
      return total
    },
    resetCounts: () => counts.clear(),
    kubeconfig,
    writeKubeconfig: (path, client, namespace) => writeFileSync(path, kubeconfig(client, namespace)),
    getLease: (namespace, name) => store.get(namespace, name),
    setLease: (namespace, name, spec) => {
      const current = store.get(namespace, name)
      if (current === undefined) return store.create(namespace, { metadata: { name }, spec }, "test")
      return store.update(namespace, name, { ...current, spec }, "test").lease
    },
    deleteLease: (namespace, name) => void store.delete(namespace, name),
    onChange: (listener) => store.subscribe((c) => listener({ type: c.type, lease: c.lease })),
    close: async () => {
      for (const r of hung) r.destroy()
      await stop()
    }
  }
}

const parseJson = (text: string): Record<string, unknown> => {
  try {
    const v = JSON.parse(text) as unknown
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    // fall through to the API server's decode error
  }
  throw badRequest(`Object 'Kind' is missing in '${text.slice(0, 100)}'`)
}

/** RFC 7386 JSON merge patch. */
const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch
  const out: Record<string, unknown> = typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}
