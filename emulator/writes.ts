/**
 * Writes as the API server's generic registry does them: create (name,
 * generateName, defaults, validation, AlreadyExists), update (preconditions,
 * resourceVersion conflicts, create-on-update, status kept for kinds with a
 * status subresource), status updates, delete (preconditions, finalizers,
 * namespace contents) and GuaranteedUpdate's no-op rule: an update that
 * leaves the stored object unchanged writes nothing, keeps the
 * resourceVersion and sends no watch event.
 */
import { randomUUID } from "node:crypto"
import type { KindContext } from "./kinds.ts"
import type { ClientMeta, Manager } from "./meta.ts"
import { assemble, checkName, clientMeta, contentOf, managedAfter } from "./meta.ts"
import type { Registry, ResourceType } from "./resources.ts"
import {
  alreadyExists,
  badRequest,
  conflict,
  failure,
  invalidFor,
  namespaceNotFound,
  notFound,
  preconditionConflict
} from "./status.ts"
import type { Store } from "./store.ts"
import type { KubeObject, ObjectMeta, OwnerReference } from "./types.ts"
import { canonical, dropNulls, isRecord, nowSeconds, randomSuffix } from "./util.ts"

export interface WriteOptions extends Manager {
  readonly dryRun?: boolean
}

export interface Preconditions {
  readonly uid?: unknown
  readonly resourceVersion?: unknown
}

export interface Deleted {
  readonly object: KubeObject
  /** Finalizers hold it: marked for deletion, still stored. */
  readonly pending: boolean
}

const fieldsCompared = (rt: ResourceType, o: KubeObject): unknown => {
  if (rt.generation === "spec") return o["spec"]
  const { status: _s, ...rest } = contentOf(o)
  return rt.status ? rest : contentOf(o)
}

export class Writes {
  private readonly store: Store
  private readonly registry: Registry
  private readonly ctx: KindContext
  constructor(store: Store, registry: Registry, ctx: KindContext) {
    this.store = store
    this.registry = registry
    this.ctx = ctx
  }

  namespaceExists(ns: string): boolean {
    return this.store.has("namespaces", undefined, ns)
  }

  private checkKind(rt: ResourceType, body: Record<string, unknown>) {
    const kind = body["kind"]
    if (kind !== undefined && kind !== "" && kind !== rt.kind) {
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${
          String(kind)
        }: the object provided is unrecognized (must be of type ${rt.kind})`
      )
    }
  }

  private checkNamespace(rt: ResourceType, meta: ClientMeta, ns: string | undefined) {
    if (rt.namespaced && meta.namespace !== undefined && meta.namespace !== ns) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
  }

  private decode(rt: ResourceType, name: string, body: Record<string, unknown>): Record<string, unknown> {
    return rt.hooks.decode?.(name, body, this.ctx) ?? {}
  }

  private validate(rt: ResourceType, o: KubeObject) {
    const causes = rt.hooks.validate?.(o) ?? []
    if (causes.length > 0) throw invalidFor(rt.kind, rt.group, o.metadata.name, causes)
  }

  /** POST (and create-on-update, apply of a missing object). */
  create(rt: ResourceType, ns: string | undefined, body: Record<string, unknown>, o: WriteOptions): KubeObject {
    this.checkKind(rt, body)
    const meta = clientMeta(body)
    this.checkNamespace(rt, meta, ns)
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== "") {
      throw failure(500, undefined, "resourceVersion should not be set on objects to be created")
    }
    const name = meta.name ?? (meta.generateName === undefined ? "" : meta.generateName + randomSuffix())
    const content = this.decode(rt, name, body)
    if (rt.namespaced && ns !== undefined && !this.namespaceExists(ns)) throw namespaceNotFound(ns)
    const draft = assemble(rt, {
      name,
      ...(meta.generateName === undefined ? {} : { generateName: meta.generateName }),
      ...(rt.namespaced ? { namespace: ns! } : {}),
      uid: randomUUID(),
      resourceVersion: "", // set when stored; here for its place in the field order
      ...(rt.generation === undefined ? {} : { generation: 1 }),
      creationTimestamp: nowSeconds(),
      ...userMeta(meta)
    }, content)
    if (rt.status) {
      const initial = rt.hooks.initialStatus?.(draft)
      if (initial === undefined) delete draft["status"]
      else draft["status"] = initial
    }
    rt.hooks.defaults?.(draft, undefined, this.ctx)
    checkName(rt, name)
    this.validate(rt, draft)
    if (this.store.has(rt.key, ns, name)) throw alreadyExists(rt, name)
    const object = assemble(rt, {
      ...draft.metadata,
      managedFields: managedAfter(rt, draft, [], { ...o, operation: o.operation ?? "Update" })
    }, contentOf(draft))
    if (o.dryRun) return { ...object, metadata: { ...object.metadata, resourceVersion: String(this.store.rv) } }
    return this.store.put(rt.key, object)
  }

  /** PUT. */
  update(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    body: Record<string, unknown>,
    o: WriteOptions
  ): { object: KubeObject; created: boolean } {
    this.checkKind(rt, body)
    const meta = clientMeta(body)
    const given = isRecord(body["metadata"]) ? body["metadata"]["name"] : undefined
    if (given !== undefined && given !== name) {
      throw badRequest(`the name of the object (${String(given)}) does not match the name on the URL (${name})`)
    }
    this.checkNamespace(rt, meta, ns)
    const current = this.store.get(rt.key, ns, name)
    if (current === undefined) {
      if (!rt.createOnUpdate) throw notFound(rt, name)
      if (meta.uid !== undefined) throw preconditionConflict(rt, name, "UID", meta.uid, "")
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, managedFields: _mf, ...rest } =
        isRecord(body["metadata"]) ? body["metadata"] : {}
      return { object: this.create(rt, ns, { ...body, metadata: { ...rest, name } }, o), created: true }
    }
    const rv = meta.resourceVersion
    const unconditional = rv === undefined || rv === "" || rv === "0"
    if (unconditional && !rt.unconditionalUpdate) {
      throw invalidFor(rt.kind, rt.group, name, [{
        field: "metadata.resourceVersion",
        message: "Invalid value: 0: must be specified for an update"
      }])
    }
    const content = this.decode(rt, name, body)
    if (meta.uid !== undefined && meta.uid !== current.metadata.uid) {
      throw preconditionConflict(rt, name, "UID", meta.uid, current.metadata.uid ?? "")
    }
    if (!unconditional && String(rv) !== current.metadata.resourceVersion) throw conflict(rt, name)
    const { labels: _l, annotations: _a, ownerReferences: _o, finalizers: _f, ...kept } = current.metadata
    const next = assemble(rt, { ...kept, ...userMeta(meta) }, content)
    // A status subresource owns status: writes to the object keep the stored one.
    if (rt.status) {
      if (current["status"] === undefined) delete next["status"]
      else next["status"] = current["status"]
    }
    rt.hooks.defaults?.(next, current, this.ctx)
    this.validate(rt, next)
    return { object: this.commit(rt, current, next, o), created: false }
  }

  /** PUT (or PATCH) of the status subresource: only status changes. */
  updateStatus(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    body: Record<string, unknown>,
    o: WriteOptions
  ): KubeObject {
    this.checkKind(rt, body)
    const meta = clientMeta(body)
    const current = this.store.get(rt.key, ns, name)
    if (current === undefined) throw notFound(rt, name)
    const rv = meta.resourceVersion
    if (rv !== undefined && rv !== "" && String(rv) !== current.metadata.resourceVersion) throw conflict(rt, name)
    const next = structuredClone(current)
    if (body["status"] === undefined || body["status"] === null) delete next["status"]
    else next["status"] = dropNulls(body["status"])
    return this.commit(rt, current, assemble(rt, next.metadata, contentOf(next)), { ...o, subresource: "status" })
  }

  /** Store next unless it equals current byte for byte (after generation): then current, untouched. */
  commit(rt: ResourceType, current: KubeObject, next: KubeObject, o: WriteOptions, keepGeneration = false): KubeObject {
    if (
      rt.generation !== undefined && !keepGeneration
      && canonical(fieldsCompared(rt, next)) !== canonical(fieldsCompared(rt, current))
    ) {
      next.metadata.generation = (current.metadata.generation ?? 0) + 1
    }
    // Compared as stored: same resourceVersion, same managedFields (their time changes only with the object).
    delete next.metadata.resourceVersion
    delete next.metadata.managedFields
    if (current.metadata.resourceVersion !== undefined) next.metadata.resourceVersion = current.metadata.resourceVersion
    if (current.metadata.managedFields !== undefined) next.metadata.managedFields = current.metadata.managedFields
    if (canonical(next) === canonical(current)) return current
    const object = assemble(rt, {
      ...next.metadata,
      managedFields: managedAfter(rt, next, current.metadata.managedFields ?? [], o)
    }, contentOf(next))
    if (o.dryRun) return object
    // The last finalizer gone from an object marked for deletion: it goes.
    if (object.metadata.deletionTimestamp !== undefined && (object.metadata.finalizers ?? []).length === 0) {
      return this.store.remove(rt.key, current.metadata.namespace, object.metadata.name) ?? object
    }
    return this.store.put(rt.key, object)
  }

  delete(rt: ResourceType, ns: string | undefined, name: string, pre: Preconditions, dryRun: boolean): Deleted {
    const current = this.store.get(rt.key, ns, name)
    if (current === undefined) throw notFound(rt, name)
    if (typeof pre.uid === "string" && pre.uid !== current.metadata.uid) {
      throw preconditionConflict(rt, name, "UID", pre.uid, current.metadata.uid ?? "")
    }
    if (typeof pre.resourceVersion === "string" && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw preconditionConflict(
        rt,
        name,
        "ResourceVersion",
        pre.resourceVersion,
        current.metadata.resourceVersion ?? ""
      )
    }
    if (dryRun) return { object: current, pending: false }
    if (rt.kind === "Namespace") return { object: this.deleteNamespace(current), pending: false }
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (current.metadata.deletionTimestamp !== undefined) return { object: current, pending: true }
      const marked = assemble(rt, {
        ...current.metadata,
        deletionTimestamp: nowSeconds(),
        deletionGracePeriodSeconds: 0
      }, contentOf(current))
      return { object: this.store.put(rt.key, marked), pending: true }
    }
    // The answer is the object as it was; the DELETED event carries the deletion's resourceVersion.
    this.store.remove(rt.key, ns, name)
    return { object: current, pending: false }
  }

  /** The namespace controller, instantly: the contents go, then the namespace; the answer is the Terminating namespace. */
  private deleteNamespace(ns: KubeObject): KubeObject {
    const name = ns.metadata.name
    for (const t of this.registry.types) {
      if (!t.namespaced) continue
      for (const o of this.store.list(t.key, name)) this.store.remove(t.key, name, o.metadata.name)
    }
    const terminating = assemble(this.registry.byKind("v1", "Namespace")!, {
      ...ns.metadata,
      deletionTimestamp: nowSeconds()
    }, { ...contentOf(ns), status: { phase: "Terminating" } })
    this.store.remove("namespaces", undefined, name)
    return terminating
  }

  /** Programmatic create-or-replace: stores the object as given (status included), decoded, defaulted and metadata completed, not validated. */
  put(input: KubeObject): KubeObject {
    const rt = this.registry.byKind(input.apiVersion, input.kind)
    if (rt === undefined) throw new Error(`the emulator does not serve ${input.apiVersion} ${input.kind}`)
    if (!isRecord(input.metadata) || typeof input.metadata.name !== "string" || input.metadata.name === "") {
      throw new Error(`${input.kind}: metadata.name is required`)
    }
    const ns = rt.namespaced ? input.metadata.namespace ?? "default" : undefined
    if (ns !== undefined && !this.namespaceExists(ns)) throw new Error(`namespaces "${ns}" not found`)
    const current = this.store.get(rt.key, ns, input.metadata.name)
    const { resourceVersion: _rv, managedFields: _mf, ...given } = structuredClone(input.metadata)
    const meta: ObjectMeta = {
      ...given,
      ...(ns === undefined ? {} : { namespace: ns }),
      uid: given.uid ?? current?.metadata.uid ?? randomUUID(),
      resourceVersion: "", // set when stored; here for its place in the field order
      creationTimestamp: given.creationTimestamp ?? current?.metadata.creationTimestamp ?? nowSeconds(),
      ...(rt.generation === undefined ? {} : { generation: given.generation ?? current?.metadata.generation ?? 1 })
    }
    // Decoded and defaulted as the server stores every object, so an HTTP write of what a client read back is a no-op.
    const next = assemble(rt, meta, this.decode(rt, meta.name, structuredClone(input)))
    rt.hooks.defaults?.(next, current, this.ctx)
    const manager = { manager: "emulator" }
    if (current === undefined) {
      return this.store.put(rt.key, {
        ...next,
        metadata: { ...next.metadata, managedFields: managedAfter(rt, next, [], manager) }
      })
    }
    return this.commit(rt, current, next, manager, given.generation !== undefined)
  }
}

const userMeta = (m: ClientMeta): Pick<ObjectMeta, "labels" | "annotations" | "ownerReferences" | "finalizers"> => ({
  ...(m.labels === undefined ? {} : { labels: m.labels }),
  ...(m.annotations === undefined ? {} : { annotations: m.annotations }),
  ...(m.ownerReferences === undefined ? {} : { ownerReferences: m.ownerReferences as Array<OwnerReference> }),
  ...(m.finalizers === undefined ? {} : { finalizers: m.finalizers })
})
