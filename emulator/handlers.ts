/**
 * The verbs over HTTP for any resource: get, list (selectors, limit/continue),
 * watch, create, update, patch (JSON, merge, strategic merge, apply),
 * delete, deletecollection, and the status subresource.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Reply } from "./http.ts"
import { parseJson, readBody } from "./http.ts"
import { metaOrder } from "./meta.ts"
import { jsonPatch, mergePatch, PatchFailed, strategicMerge } from "./patch.ts"
import type { ResourceType } from "./resources.ts"
import { fieldSelector, labelSelector } from "./selectors.ts"
import { badRequest, conflict, failure, gone, invalidFor, methodNotAllowed, notFound } from "./status.ts"
import type { Store } from "./store.ts"
import { tableType, toTable, wantsTable } from "./table.ts"
import type { KubeObject, Verb } from "./types.ts"
import { isRecord } from "./util.ts"
import type { WatchHub } from "./watch.ts"
import { serveWatch } from "./watch.ts"
import type { Preconditions, WriteOptions, Writes } from "./writes.ts"

export interface Call {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
  readonly rt: ResourceType
  readonly ns: string | undefined
  readonly name: string | undefined
  readonly subresource: string | undefined
  readonly verb: Verb
  readonly client: string
}

const patchTypes = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml"
]

const rejected = () => failure(422, "Invalid", "the server rejected our request due to an error in our request", {})

/** Items of a list: typed lists carry no kind/apiVersion per item; unstructured (custom resource) lists do. */
const item = (rt: ResourceType, o: KubeObject) => {
  if (rt.custom) return o
  const { kind: _k, apiVersion: _a, ...rest } = o
  return rest
}

interface ContinueToken {
  readonly rv: number
  readonly start: string
}
const encodeContinue = (t: ContinueToken) =>
  Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", ...t })).toString("base64url")
const decodeContinue = (s: string): ContinueToken => {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Record<string, unknown>
    if (typeof t["rv"] === "number" && typeof t["start"] === "string") return { rv: t["rv"], start: t["start"] }
  } catch {
    // fall through to the 400
  }
  throw badRequest("continue key is not valid: invalid continue token")
}

export class Handlers {
  private readonly store: Store
  private readonly writes: Writes
  private readonly hub: WatchHub
  constructor(store: Store, writes: Writes, hub: WatchHub) {
    this.store = store
    this.writes = writes
    this.hub = hub
  }

  private selectors(c: Call) {
    const fs = fieldSelector(c.url.searchParams.get("fieldSelector"), c.rt.fieldLabels)
    const ls = labelSelector(c.url.searchParams.get("labelSelector"))
    return (o: KubeObject) => fs.test(o) && ls(o)
  }

  private writeOptions(c: Call): WriteOptions {
    const q = c.url.searchParams
    return {
      manager: q.get("fieldManager") ?? (c.req.headers["user-agent"] ?? "unknown").split("/")[0]!,
      dryRun: q.getAll("dryRun").includes("All")
    }
  }

  async handle(c: Call): Promise<Reply | undefined> {
    const method = c.req.method ?? "GET"
    const { rt, ns, name } = c
    switch (c.verb) {
      case "get": {
        if (method !== "GET") return { code: 405, body: methodNotAllowed() }
        const o = this.store.get(rt.key, ns, name!)
        if (o === undefined) throw notFound(rt, name!)
        return this.table(c, [o], { resourceVersion: o.metadata.resourceVersion }) ?? { code: 200, body: o }
      }
      case "list":
        return this.list(c)
      case "watch": {
        const include = c.url.searchParams.get("includeObject")
        serveWatch(this.hub, {
          rt,
          client: c.client,
          ns,
          name,
          matches: this.selectors(c),
          params: c.url.searchParams,
          ...(wantsTable(c.req.headers.accept)
            ? {
              contentType: tableType,
              transform: (o: KubeObject) => toTable(rt, [o], { resourceVersion: o.metadata.resourceVersion }, include)
            }
            : {})
        }, c.res)
        return undefined
      }
      case "create": {
        if (rt.namespaced && ns === undefined) return { code: 405, body: methodNotAllowed() }
        const body = parseJson(await readBody(c.req), rt.kind, rt.version)
        this.strict(c, body)
        return { code: 201, body: this.writes.create(rt, ns, body, this.writeOptions(c)) }
      }
      case "update": {
        const body = parseJson(await readBody(c.req), rt.kind, rt.version)
        this.strict(c, body)
        if (c.subresource === "status") {
          return { code: 200, body: this.writes.updateStatus(rt, ns, name!, body, this.writeOptions(c)) }
        }
        const { created, object } = this.writes.update(rt, ns, name!, body, this.writeOptions(c))
        return { code: created ? 201 : 200, body: object }
      }
      case "patch":
        return this.patch(c)
      case "delete":
        return name === undefined ? this.deleteCollection(c) : this.delete(c)
    }
  }

  /** fieldValidation=Strict: unknown fields are a 400, as the strict decoder answers. */
  private strict(c: Call, body: Record<string, unknown>) {
    if (c.url.searchParams.get("fieldValidation") !== "Strict") return
    const known = c.rt.hooks.fields
    if (known === undefined) return
    const metaKnown = [...metaOrder, "selfLink"]
    const unknown = Object.keys(body).filter((k) => !["kind", "apiVersion", "metadata", ...known].includes(k))
    if (isRecord(body["metadata"])) {
      unknown.push(...Object.keys(body["metadata"]).filter((k) => !metaKnown.includes(k)).map((k) => `metadata.${k}`))
    }
    unknown.push(...(c.rt.hooks.strict?.(body) ?? []))
    if (unknown.length > 0) {
      throw badRequest(`strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(", ")}`)
    }
  }

  /** The answer as a Table when the client asks for one (kubectl get). */
  private table(c: Call, items: ReadonlyArray<KubeObject>, meta: Record<string, unknown>): Reply | undefined {
    if (!wantsTable(c.req.headers.accept)) return undefined
    const table = toTable(c.rt, items, meta, c.url.searchParams.get("includeObject"))
    return { code: 200, body: table, headers: { "content-type": tableType } }
  }

  private list(c: Call): Reply {
    const q = c.url.searchParams
    const rv = q.get("resourceVersion")
    if (q.get("resourceVersionMatch") === "Exact" && rv !== null && Number(rv) < this.store.compactedRv) {
      throw gone("The resourceVersion for the provided list is too old.")
    }
    const token = q.get("continue")
    const from = token === null || token === "" ? undefined : decodeContinue(token)
    if (from !== undefined && from.rv < this.store.compactedRv) {
      throw gone(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
      )
    }
    const matches = this.selectors(c)
    const key = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`
    const all = this.store.list(c.rt.key, c.ns).filter((o) => matches(o) && (from === undefined || key(o) > from.start))
    const limit = Number(q.get("limit") ?? "0")
    const page = Number.isInteger(limit) && limit > 0 ? all.slice(0, limit) : all
    const listRv = from?.rv ?? this.store.rv
    const more = page.length < all.length
    const metadata = {
      resourceVersion: String(listRv),
      ...(more
        ? {
          continue: encodeContinue({ rv: listRv, start: key(page[page.length - 1]!) }),
          remainingItemCount: all.length - page.length
        }
        : {})
    }
    return this.table(c, page, metadata) ?? {
      code: 200,
      body: { kind: c.rt.listKind, apiVersion: c.rt.apiVersion, metadata, items: page.map((o) => item(c.rt, o)) }
    }
  }

  private async patch(c: Call): Promise<Reply> {
    const { rt, ns } = c
    const name = c.name!
    const type = (c.req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    // Custom resources have no Go struct to take strategic merge keys from.
    const accepted = rt.custom ? patchTypes.filter((t) => !t.includes("strategic")) : patchTypes
    if (!accepted.includes(type)) {
      throw failure(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`
      )
    }
    const apply = type === "application/apply-patch+yaml"
    const q = c.url.searchParams
    const fieldManager = q.get("fieldManager")
    if (apply && (fieldManager === null || fieldManager === "")) {
      throw invalidFor("PatchOptions", "meta.k8s.io", "", [{
        field: "fieldManager",
        message: "Required value: is required for apply patch",
        reason: "FieldValueRequired"
      }])
    }
    if (!apply && q.get("force") !== null) {
      throw invalidFor("PatchOptions", "meta.k8s.io", "", [{
        field: "force",
        message: "Forbidden: may not be specified for non-apply patch",
        reason: "FieldValueForbidden"
      }])
    }
    const text = await readBody(c.req)
    const current = this.store.get(rt.key, ns, name)
    const o: WriteOptions = apply
      ? { ...this.writeOptions(c), manager: fieldManager!, operation: "Apply" }
      : this.writeOptions(c)
    const status = c.subresource === "status"
    const write = (patched: Record<string, unknown>): Reply => {
      if (status) return { code: 200, body: this.writes.updateStatus(rt, ns, name, patched, o) }
      return { code: 200, body: this.writes.update(rt, ns, name, patched, o).object }
    }
    if (apply) {
      let body: Record<string, unknown>
      try {
        body = parseJson(text, rt.kind, rt.version)
      } catch {
        throw badRequest("error decoding YAML: this emulator accepts apply patches written as JSON")
      }
      if (body["apiVersion"] !== rt.apiVersion || body["kind"] !== rt.kind) {
        throw badRequest(`invalid object type: /, Kind=`)
      }
      const meta = isRecord(body["metadata"]) ? body["metadata"] : {}
      if (meta["name"] !== undefined && meta["name"] !== name) {
        throw badRequest(
          `the name of the object (${String(meta["name"])}) does not match the name on the URL (${name})`
        )
      }
      if (current === undefined) {
        if (status) throw notFound(rt, name)
        const { resourceVersion: _rv, ...rest } = meta
        return { code: 201, body: this.writes.create(rt, ns, { ...body, metadata: { ...rest, name } }, o) }
      }
      const merged = (rt.custom ? mergePatch : strategicMerge)(current, body) as Record<string, unknown>
      if (meta["resourceVersion"] === undefined) {
        ;(merged["metadata"] as Record<string, unknown>)["resourceVersion"] = current.metadata.resourceVersion
      }
      return write(merged)
    }
    if (current === undefined) throw notFound(rt, name)
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
        if (e instanceof PatchFailed) throw rejected()
        throw e
      }
    } else {
      const p = parseJson(text, rt.kind, rt.version)
      patched = type === "application/merge-patch+json" ? mergePatch(current, p) : strategicMerge(current, p)
    }
    if (!isRecord(patched)) throw rejected()
    const meta = isRecord(patched["metadata"]) ? patched["metadata"] : {}
    patched["metadata"] = meta
    if (meta["resourceVersion"] === undefined || meta["resourceVersion"] === null || meta["resourceVersion"] === "") {
      meta["resourceVersion"] = current.metadata.resourceVersion
    } else if (meta["resourceVersion"] !== current.metadata.resourceVersion) throw conflict(rt, name)
    return write(patched)
  }

  private async deleteOptions(c: Call): Promise<{ pre: Preconditions; dryRun: boolean }> {
    const text = await readBody(c.req)
    let dryRun = c.url.searchParams.getAll("dryRun").includes("All")
    let pre: Preconditions = {}
    if (text.trim() !== "") {
      const opts = parseJson(text, "DeleteOptions")
      if (isRecord(opts["preconditions"])) pre = opts["preconditions"]
      if (Array.isArray(opts["dryRun"]) && opts["dryRun"].includes("All")) dryRun = true
    }
    return { pre, dryRun }
  }

  private async delete(c: Call): Promise<Reply> {
    const { rt } = c
    const { pre, dryRun } = await this.deleteOptions(c)
    const { object, pending } = this.writes.delete(rt, c.ns, c.name!, pre, dryRun)
    if (pending || rt.returnDeleted) return { code: 200, body: object }
    return {
      code: 200,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name: c.name,
          ...(rt.group === "" ? {} : { group: rt.group }),
          kind: rt.plural,
          uid: object.metadata.uid
        }
      }
    }
  }

  /** DELETE on a collection: the matching objects go; the answer lists them. */
  private async deleteCollection(c: Call): Promise<Reply> {
    const { pre, dryRun } = await this.deleteOptions(c)
    const matches = this.selectors(c)
    const deleted = this.store.list(c.rt.key, c.ns).filter(matches).map((o) =>
      this.writes.delete(c.rt, o.metadata.namespace, o.metadata.name, pre, dryRun).object
    )
    return {
      code: 200,
      body: {
        kind: c.rt.listKind,
        apiVersion: c.rt.apiVersion,
        metadata: { resourceVersion: String(this.store.rv) },
        items: deleted.map((o) => item(c.rt, o))
      }
    }
  }
}
