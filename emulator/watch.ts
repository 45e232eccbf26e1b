/**
 * Watch streams as the API server's watch cache serves them: newline-delimited
 * events, resumption from a resourceVersion (410 Expired once compacted),
 * synthetic ADDED for a watch from "now", sendInitialEvents with the
 * initial-events-end bookmark, BOOKMARKs, timeoutSeconds, and a filtered
 * watch seeing an object enter (ADDED) or leave (DELETED) its selectors.
 */
import { randomUUID } from "node:crypto"
import type { ServerResponse } from "node:http"
import { alive } from "./http.ts"
import type { ResourceType } from "./resources.ts"
import { statusBody } from "./status.ts"
import type { Change, Store } from "./store.ts"
import type { KubeObject, WatchType } from "./types.ts"

export interface Watcher {
  readonly client: string
  end(): void
  expire(): void
}

export interface WatchHub {
  readonly store: Store
  readonly bookmarkIntervalMs: number
  opened(w: Watcher): void
  closed(w: Watcher): void
}

export interface WatchRequest {
  readonly rt: ResourceType
  readonly client: string
  readonly ns: string | undefined
  readonly name: string | undefined
  readonly matches: (o: KubeObject) => boolean
  readonly params: URLSearchParams
}

/** The event a filtered watch sees for a change, if any. */
const eventFor = (c: Change, r: WatchRequest): WatchType | undefined => {
  const ok = (o: KubeObject) =>
    (r.ns === undefined || o.metadata.namespace === r.ns) && (r.name === undefined || o.metadata.name === r.name)
    && r.matches(o)
  if (c.resource !== r.rt.key) return undefined
  const now = ok(c.object)
  if (c.type !== "MODIFIED" || c.previous === undefined) return now ? c.type : undefined
  const before = ok(c.previous)
  return now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : undefined
}

/** An empty object of the kind carrying only a resourceVersion, as BOOKMARK events do. */
const bookmark = (t: ResourceType, rv: number, annotations?: Record<string, string>) => ({
  kind: t.kind,
  apiVersion: t.apiVersion,
  metadata: { resourceVersion: String(rv), ...(annotations === undefined ? {} : { annotations }) },
  ...(t.hooks.fields?.includes("spec") ? { spec: {} } : {}),
  ...(t.hooks.fields?.includes("status") ? { status: {} } : {})
})

export const serveWatch = (hub: WatchHub, r: WatchRequest, res: ServerResponse) => {
  const { store } = hub
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
  const rvParam = r.params.get("resourceVersion")
  const bookmarks = r.params.get("allowWatchBookmarks") === "true"
  const initial = () => {
    for (const o of store.list(r.rt.key, r.ns)) {
      if ((r.name === undefined || o.metadata.name === r.name) && r.matches(o)) line("ADDED", o)
    }
  }
  if (r.params.get("sendInitialEvents") === "true") {
    initial()
    if (bookmarks) line("BOOKMARK", bookmark(r.rt, store.rv, { "k8s.io/initial-events-end": "true" }))
  } else if (rvParam !== null && rvParam !== "" && rvParam !== "0") {
    const from = Number(rvParam)
    if (!Number.isInteger(from) || from < 0) {
      res.end()
      return
    }
    if (from < store.compactedRv) return expire(rvParam)
    for (const c of store.history) {
      const type = c.rv > from ? eventFor(c, r) : undefined
      if (type !== undefined) line(type, c.object)
    }
  } else initial()
  const unsubscribe = store.subscribe((c) => {
    const type = eventFor(c, r)
    if (type !== undefined) line(type, c.object)
  })
  const ticker = bookmarks
    ? setInterval(() => line("BOOKMARK", bookmark(r.rt, store.rv)), hub.bookmarkIntervalMs)
    : undefined
  const timeoutSeconds = Number(r.params.get("timeoutSeconds") ?? "0")
  const timeout = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined
  const w: Watcher = { client: r.client, end: () => res.end(), expire: () => expire(String(store.rv)) }
  hub.opened(w)
  const cleanup = () => {
    unsubscribe()
    if (ticker !== undefined) clearInterval(ticker)
    if (timeout !== undefined) clearTimeout(timeout)
    hub.closed(w)
  }
  res.on("close", cleanup)
  res.on("finish", cleanup)
}
