/**
 * Patch mechanics: RFC 7386 merge patch, RFC 6902 JSON patch, and strategic
 * merge patch with the merge keys of the built-in types' lists.
 */
import { badRequest } from "./status.ts"
import { isRecord } from "./util.ts"

/** RFC 7386 JSON merge patch (keys starting with $ are patch directives, never fields: dropped). */
export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) return patch
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

export class PatchFailed extends Error {}

const unescape = (s: string) => s.replace(/~1/g, "/").replace(/~0/g, "~")

const pointer = (path: string): Array<string> => {
  if (path === "") return []
  if (!path.startsWith("/")) throw new PatchFailed(`invalid JSON pointer ${JSON.stringify(path)}`)
  return path.slice(1).split("/").map(unescape)
}

const parentOf = (doc: unknown, parts: ReadonlyArray<string>): { parent: unknown; key: string } => {
  let cur = doc
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)]
    else if (isRecord(cur)) cur = cur[p]
    else throw new PatchFailed(`path not found: ${p}`)
    if (cur === undefined) throw new PatchFailed(`path not found: ${p}`)
  }
  return { parent: cur, key: parts[parts.length - 1]! }
}

const getAt = (doc: unknown, path: string): unknown => {
  let cur = doc
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)]
    else if (isRecord(cur)) cur = cur[p]
    else throw new PatchFailed(`path not found: ${path}`)
    if (cur === undefined) throw new PatchFailed(`path not found: ${path}`)
  }
  return cur
}

const removeAt = (doc: unknown, path: string): unknown => {
  const parts = pointer(path)
  if (parts.length === 0) throw new PatchFailed("cannot remove the root")
  const { parent, key } = parentOf(doc, parts)
  if (Array.isArray(parent)) {
    const i = Number(key)
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw new PatchFailed(`index out of range: ${key}`)
    return parent.splice(i, 1)[0]
  }
  if (!isRecord(parent) || !(key in parent)) {
    throw new PatchFailed(`Unable to remove nonexistent key: ${key}: missing value`)
  }
  const v = parent[key]
  delete parent[key]
  return v
}

const addAt = (doc: unknown, path: string, value: unknown, replace: boolean): unknown => {
  const parts = pointer(path)
  if (parts.length === 0) return structuredClone(value)
  const { parent, key } = parentOf(doc, parts)
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key)
    if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length)) {
      throw new PatchFailed(`index out of range: ${key}`)
    }
    if (replace) parent[i] = structuredClone(value)
    else parent.splice(i, 0, structuredClone(value))
  } else if (isRecord(parent)) {
    if (replace && !(key in parent)) {
      throw new PatchFailed(`replace operation does not apply: doc is missing key: ${path}: missing value`)
    }
    parent[key] = structuredClone(value)
  } else throw new PatchFailed(`doc is missing path: ${path}`)
  return doc
}

export const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]))
  }
  return false
}

/** RFC 6902. Throws PatchFailed for a failed op (including `test`); a malformed document is a 400. */
export const jsonPatch = (target: unknown, ops: unknown): unknown => {
  if (!Array.isArray(ops)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
  let doc = structuredClone(target)
  for (const raw of ops) {
    if (!isRecord(raw) || typeof raw["op"] !== "string" || typeof raw["path"] !== "string") {
      throw badRequest("json: cannot unmarshal into Go value of type jsonpatch.Patch")
    }
    const path = raw["path"]
    switch (raw["op"]) {
      case "add":
        doc = addAt(doc, path, raw["value"], false)
        break
      case "replace":
        doc = addAt(doc, path, raw["value"], true)
        break
      case "remove":
        removeAt(doc, path)
        break
      case "move": {
        const v = removeAt(doc, String(raw["from"]))
        doc = addAt(doc, path, v, false)
        break
      }
      case "copy":
        doc = addAt(doc, path, getAt(doc, String(raw["from"])), false)
        break
      case "test":
        if (!deepEqual(getAt(doc, path), raw["value"])) {
          throw new PatchFailed(`testing value ${path} failed: test failed`)
        }
        break
      default:
        throw badRequest(`Unexpected kind: ${raw["op"]}`)
    }
  }
  return doc
}

/**
 * patchMergeKey of the built-in types' merge lists, by field name (unique enough across the kinds served);
 * a list not named here is atomic and replaced whole.
 */
const mergeKeyOf = (field: string, sample: unknown): string | undefined => {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return "name"
    case "volumeMounts":
      return "mountPath"
    case "volumeDevices":
      return "devicePath"
    case "conditions":
      return "type"
    case "ownerReferences":
      return "uid"
    case "hostAliases":
      return "ip"
    case "topologySpreadConstraints":
      return "topologyKey"
    case "ports":
      return isRecord(sample) && "containerPort" in sample ? "containerPort" : "port"
  }
  return undefined
}
/** Lists of scalars with patchStrategy merge: a patch adds to them. */
const primitiveMerge = new Set(["finalizers"])

const directive = (el: unknown, d: string) => isRecord(el) && el["$patch"] === d
const sameKey = (a: unknown, b: unknown, key: string) => isRecord(a) && isRecord(b) && deepEqual(a[key], b[key])

const mergeList = (field: string, orig: unknown, patch: Array<unknown>): Array<unknown> => {
  const base = Array.isArray(orig) ? structuredClone(orig) : []
  if (primitiveMerge.has(field)) return [...base, ...patch.filter((v) => !base.some((b) => deepEqual(b, v)))]
  const key = mergeKeyOf(field, patch.find(isRecord) ?? base.find(isRecord))
  if (key === undefined || !patch.every(isRecord)) return patch.map((el) => strategicMerge(undefined, el))
  if (patch.some((el) => directive(el, "replace"))) {
    return patch.filter((el) => !directive(el, "replace")).map((el) => strategicMerge(undefined, el))
  }
  let out = base
  for (const el of patch) {
    if (directive(el, "delete")) out = out.filter((o) => !sameKey(o, el, key))
    else {
      const i = out.findIndex((o) => sameKey(o, el, key))
      if (i >= 0) out[i] = strategicMerge(out[i], el)
      else out.push(strategicMerge(undefined, el))
    }
  }
  return out
}

/** Order a merged list as $setElementOrder says; elements it does not name keep their place after those it does. */
const reorder = (field: string, list: Array<unknown>, order: Array<unknown>): Array<unknown> => {
  const key = mergeKeyOf(field, order[0])
  const pos = (el: unknown) => {
    const i = order.findIndex((o) => (key === undefined || !isRecord(o) ? deepEqual(o, el) : sameKey(o, el, key)))
    return i < 0 ? order.length : i
  }
  return list.map((el, i) => ({ el, i, p: pos(el) })).sort((a, b) => a.p - b.p || a.i - b.i).map((x) => x.el)
}

/**
 * Strategic merge patch: maps merge recursively, null deletes, lists with a merge key merge element by element
 * ($patch: delete/replace honoured), $setElementOrder, $deleteFromPrimitiveList and $retainKeys directives.
 */
export const strategicMerge = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) return patch
  if (patch["$patch"] === "replace") return strategicMerge(undefined, { ...patch, $patch: undefined })
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {}
  const retain = patch["$retainKeys"]
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) {
      if (!retain.includes(k) && !(k in patch)) delete out[k]
    }
  }
  const orders: Array<[string, Array<unknown>]> = []
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$setElementOrder/") && Array.isArray(v)) orders.push([k.slice(17), v])
    else if (k.startsWith("$deleteFromPrimitiveList/") && Array.isArray(v)) {
      const f = k.slice(25)
      if (Array.isArray(out[f])) out[f] = (out[f] as Array<unknown>).filter((x) => !v.some((d) => deepEqual(d, x)))
    } else if (k.startsWith("$")) continue
    else if (v === null || v === undefined) delete out[k]
    else if (Array.isArray(v)) out[k] = mergeList(k, out[k], v)
    else if (isRecord(v)) out[k] = strategicMerge(out[k], v)
    else out[k] = v
  }
  for (const [f, order] of orders) if (Array.isArray(out[f])) out[f] = reorder(f, out[f] as Array<unknown>, order)
  return out
}
