/**
 * The state behind the emulator, as etcd holds it: objects per resource keyed
 * by namespace/name, one global resourceVersion counter (etcd's revision), and
 * a bounded history of changes for watch resumption. It stores what it is
 * given: the write logic (validation, preconditions, no-op detection) is in writes.ts.
 */
import type { KubeObject, WatchType } from "./types.ts"

export interface Change {
  readonly type: WatchType
  /** The resource's key ("pods", "leases.coordination.k8s.io"). */
  readonly resource: string
  readonly object: KubeObject
  /** The object before a MODIFIED change (a filtered watch turns it into ADDED or DELETED when it enters or leaves the filter). */
  readonly previous?: KubeObject
  readonly rv: number
}

const keyOf = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`

export class Store {
  rv = 0
  history: Array<Change> = []
  /** A watch may resume from any RV >= compactedRv; older ones get 410. */
  compactedRv = 0
  private readonly objects = new Map<string, Map<string, KubeObject>>()
  private readonly listeners = new Set<(c: Change) => void>()
  private readonly historyLimit: number

  constructor(historyLimit = 10_000) {
    this.historyLimit = historyLimit
  }

  private table(resource: string) {
    let t = this.objects.get(resource)
    if (t === undefined) this.objects.set(resource, t = new Map())
    return t
  }

  get(resource: string, ns: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(resource)?.get(keyOf(ns, name))
    return o === undefined ? undefined : structuredClone(o)
  }

  has(resource: string, ns: string | undefined, name: string): boolean {
    return this.objects.get(resource)?.has(keyOf(ns, name)) ?? false
  }

  /** Objects of a resource (in a namespace, or all), in etcd's key order. */
  list(resource: string, ns?: string): Array<KubeObject> {
    return [...(this.objects.get(resource)?.entries() ?? [])]
      .filter(([, o]) => ns === undefined || o.metadata.namespace === ns)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o))
  }

  subscribe(f: (c: Change) => void): () => void {
    this.listeners.add(f)
    return () => void this.listeners.delete(f)
  }

  private emit(type: WatchType, resource: string, object: KubeObject, previous?: KubeObject) {
    const change: Change = {
      type,
      resource,
      object: structuredClone(object),
      ...(previous === undefined ? {} : { previous }),
      rv: this.rv
    }
    this.history.push(change)
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit)
      this.compactedRv = dropped[dropped.length - 1]!.rv
    }
    for (const f of [...this.listeners]) {
      try {
        f(change)
      } catch {
        // a listener's failure is not the store's
      }
    }
  }

  /** Commit a created or changed object at the next resourceVersion (set on it) and tell watchers. */
  put(resource: string, object: KubeObject): KubeObject {
    const t = this.table(resource)
    const key = keyOf(object.metadata.namespace, object.metadata.name)
    const previous = t.get(key)
    this.rv++
    const stored: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } }
    t.set(key, structuredClone(stored))
    this.emit(previous === undefined ? "ADDED" : "MODIFIED", resource, stored, previous)
    return stored
  }

  /** Remove an object; the DELETED event carries the deletion's resourceVersion. */
  remove(resource: string, ns: string | undefined, name: string): KubeObject | undefined {
    const t = this.objects.get(resource)
    const current = t?.get(keyOf(ns, name))
    if (t === undefined || current === undefined) return undefined
    t.delete(keyOf(ns, name))
    this.rv++
    const last: KubeObject = { ...current, metadata: { ...current.metadata, resourceVersion: String(this.rv) } }
    this.emit("DELETED", resource, last)
    return structuredClone(last)
  }

  /** Forget the objects of every resource but those kept (an etcd restore); no watch events. */
  clear(keep: (resource: string) => boolean) {
    for (const r of [...this.objects.keys()]) if (!keep(r)) this.objects.delete(r)
    // A restore is a new revision nobody saw: every watch from before it must relist (410).
    this.rv++
    this.compact()
  }

  compact() {
    this.history = []
    this.compactedRv = this.rv
  }
}
