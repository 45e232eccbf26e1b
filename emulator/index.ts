/**
 * A kube-apiserver test double over real HTTP: core/v1 Namespaces, Pods,
 * Services, Endpoints and Events, discovery.k8s.io/v1 EndpointSlices,
 * batch/v1 Jobs, apps/v1 DaemonSets, coordination.k8s.io/v1 Leases and
 * declared custom resources, with the API server's status codes and Status
 * bodies, resourceVersion conflicts, no-op updates, selectors, watches,
 * bearer-token clients, RBAC denials, missing API groups, discovery and
 * OpenAPI for kubectl, and fault injection per client. Used by the tests,
 * demo, bench and soak. Only Node built-ins. See emulator/README.md.
 */
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { Server } from "node:http"
import type { Socket } from "node:net"
import { Faults } from "./faults.ts"
import { Handlers } from "./handlers.ts"
import { send } from "./http.ts"
import type { Lease, LeaseSpec } from "./lease.ts"
import { decodeLeaseSpec } from "./lease.ts"
import { Registry } from "./resources.ts"
import { makeRouter } from "./router.ts"
import { statusBody } from "./status.ts"
import { Store } from "./store.ts"
import type { EmulatorOptions, Fault, KubeObject, ObjectEvent, Verb } from "./types.ts"
import { allVerbs } from "./types.ts"
import type { Watcher } from "./watch.ts"
import { Writes } from "./writes.ts"

export type { Lease, LeaseSpec } from "./lease.ts"
export * as objects from "./objects.ts"
export { widget } from "./resources.ts"
export type { Status } from "./status.ts"
export type * from "./types.ts"
export { allVerbs } from "./types.ts"

export type ChangeEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; lease: Lease }

export interface Emulator {
  readonly url: string
  readonly port: number
  setFault(client: string, fault: Fault | undefined): void
  dropWatches(client?: string): void
  expireWatches(client?: string): void
  compact(): void
  /** Stop and listen again on the same port; loseState forgets every object but the namespaces (an etcd restore). */
  restart(opts: { loseState: boolean; downMs?: number }): Promise<void>
  /** Requests per verb of a client (or all), over every resource or one ("pods", "leases.coordination.k8s.io"). */
  requests(client?: string, resource?: string): Record<Verb, number>
  resetCounts(): void
  kubeconfig(client: string, namespace?: string): string
  writeKubeconfig(path: string, client: string, namespace?: string): void
  getLease(namespace: string, name: string): Lease | undefined
  setLease(namespace: string, name: string, spec: LeaseSpec): Lease
  deleteLease(namespace: string, name: string): void
  /** Create or replace an object as given (status included): uid, creationTimestamp, generation and resourceVersion completed; an identical put writes nothing. Namespaced objects default to "default". */
  putObject(obj: KubeObject): KubeObject
  /** Change a stored object in place (mutate it or return a replacement) and put it. Throws when it does not exist. */
  updateObject(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    change: (o: KubeObject) => KubeObject | void
  ): KubeObject
  getObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined
  /** Delete now (finalizers ignored); answers whether it existed. */
  deleteObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean
  listObjects(apiVersion: string, kind: string, namespace?: string): Array<KubeObject>
  /** Lease changes (ADDED/MODIFIED/DELETED), as before the emulator served other kinds. */
  onChange(listener: (ev: ChangeEvent) => void): () => void
  /** Every committed change of every kind (no-op writes send nothing). */
  onObjectChange(listener: (ev: ObjectEvent) => void): () => void
  /** Extension: the current resourceVersion counter. */
  readonly resourceVersion: number
  /** Extension: number of open watch streams (for a client, or all). */
  openWatches(client?: string): number
  /** Extension: resolves once a watch stream (for a client, or any) is open, at once if one already is. */
  watchOpened(client?: string): Promise<void>
  close(): Promise<void>
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

const yamlString = (s: string) => JSON.stringify(s)

export const startEmulator = async (opts: EmulatorOptions = {}): Promise<Emulator> => {
  const host = opts.host ?? "127.0.0.1"
  const registry = new Registry(opts.customResources ?? [], opts.missingGroups ?? [])
  const store = new Store(opts.historyLimit)
  let ip = 10
  let nodePort = 30000
  const writes = new Writes(store, registry, {
    clusterIP: () => `10.96.${Math.floor(ip / 256) % 256}.${ip++ % 256}`,
    nodePort: () => nodePort++,
    coordinatedLeaderElection: opts.coordinatedLeaderElection === true
  })
  const faults = new Faults()
  const counts = new Map<string, Map<string, Record<Verb, number>>>()
  const watchers = new Set<Watcher>()
  const sockets = new Set<Socket>()
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  const watchWaiters = new Set<{ client: string | undefined; resolve: () => void }>()
  let server: Server | undefined
  let port = opts.port ?? 0
  let epoch = 0
  let closed = false

  const seed = () => {
    for (const n of opts.namespaces ?? ["default", "kube-system"]) {
      if (!writes.namespaceExists(n)) {
        writes.put({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: n },
          spec: { finalizers: ["kubernetes"] },
          status: { phase: "Active" }
        })
      }
    }
  }
  seed()
  for (const o of opts.objects ?? []) writes.put(o)

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

  const handlers = new Handlers(store, writes, {
    store,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    opened: (w) => {
      watchers.add(w)
      for (const waiter of [...watchWaiters]) {
        if (waiter.client === undefined || waiter.client === w.client) {
          watchWaiters.delete(waiter)
          waiter.resolve()
        }
      }
    },
    closed: (w) => void watchers.delete(w)
  })

  const router = makeRouter({
    registry,
    store,
    handlers,
    faults,
    host,
    port: () => port,
    tokens: opts.tokens,
    forbidden: opts.forbidden ?? [],
    count: (client, verb, rt) => {
      let byResource = counts.get(client)
      if (byResource === undefined) counts.set(client, byResource = new Map())
      let c = byResource.get(rt.key)
      if (c === undefined) byResource.set(rt.key, c = zeroCounts())
      c[verb]++
    },
    sleep,
    epoch: () => epoch
  })

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        router(req, res).catch((e: unknown) => {
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

  const typeOf = (apiVersion: string, kind: string) => {
    const t = registry.byKind(apiVersion, kind)
    if (t === undefined) throw new Error(`the emulator does not serve ${apiVersion} ${kind}`)
    return t
  }
  const scoped = (apiVersion: string, kind: string, namespace: string | undefined) => {
    const t = typeOf(apiVersion, kind)
    return { t, ns: t.namespaced ? namespace ?? "default" : undefined }
  }
  const leaseOf = (namespace: string, name: string) =>
    store.get("leases.coordination.k8s.io", namespace, name) as unknown as Lease | undefined

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
    setFault: (client, fault) => faults.set(client, fault),
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
      if (loseState) store.clear((r) => r === "namespaces")
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
    requests: (client, resource) => {
      const total = zeroCounts()
      for (const [c, byResource] of counts) {
        if (client !== undefined && c !== client) continue
        for (const [r, n] of byResource) {
          if (resource !== undefined && r !== resource && r.split(".")[0] !== resource) continue
          for (const v of allVerbs) total[v] += n[v]
        }
      }
      return total
    },
    resetCounts: () => counts.clear(),
    kubeconfig,
    writeKubeconfig: (path, client, namespace) => writeFileSync(path, kubeconfig(client, namespace)),
    getLease: leaseOf,
    setLease: (namespace, name, spec) => {
      const current = leaseOf(namespace, name)
      return writes.put({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { ...current?.metadata, name, namespace },
        spec: decodeLeaseSpec(name, spec, opts.coordinatedLeaderElection === true)
      }) as unknown as Lease
    },
    deleteLease: (namespace, name) => void store.remove("leases.coordination.k8s.io", namespace, name),
    putObject: (obj) => writes.put(obj),
    updateObject: (apiVersion, kind, namespace, name, change) => {
      const { t, ns } = scoped(apiVersion, kind, namespace)
      const current = store.get(t.key, ns, name)
      if (current === undefined) throw new Error(`${t.key} "${name}" not found`)
      return writes.put(change(current) ?? current)
    },
    getObject: (apiVersion, kind, namespace, name) => {
      const { t, ns } = scoped(apiVersion, kind, namespace)
      return store.get(t.key, ns, name)
    },
    deleteObject: (apiVersion, kind, namespace, name) => {
      const { t, ns } = scoped(apiVersion, kind, namespace)
      return store.remove(t.key, ns, name) !== undefined
    },
    listObjects: (apiVersion, kind, namespace) => store.list(typeOf(apiVersion, kind).key, namespace),
    onChange: (listener) =>
      store.subscribe((c) => {
        if (c.resource === "leases.coordination.k8s.io") {
          listener({ type: c.type, lease: structuredClone(c.object) as unknown as Lease })
        }
      }),
    onObjectChange: (listener) => store.subscribe((c) => listener({ type: c.type, object: structuredClone(c.object) })),
    close: async () => {
      if (closed) return
      closed = true
      await stop()
    }
  }
}
