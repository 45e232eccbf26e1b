/**
 * Patch mechanics (RFC 7386 merge patch, strategic merge treated as merge,
 * RFC 6902 JSON patch) and list/watch selectors.
 */
import type { Lease } from "./store.ts"
import { badRequest } from "./store.ts"

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** RFC 7386 JSON merge patch. Strategic-merge directives ($patch, $retainKeys, ...) are dropped: a Lease has no merge lists. */
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

const deepEqual = (a: unknown, b: unknown): boolean => {
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

export type Predicate = (l: Lease) => boolean

/** fieldSelector: only metadata.name and metadata.namespace, with =, == and !=. */
export const fieldSelector = (s: string | null): { test: Predicate; name: string | undefined } => {
  const tests: Array<Predicate> = []
  let name: string | undefined
  for (const term of (s ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "")) {
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term)
    if (m === null) throw badRequest(`invalid field selector: ${term}`)
    const [, field, op, value] = m as unknown as [string, string, string, string]
    const get = field === "metadata.name"
      ? (l: Lease) => l.metadata.name
      : field === "metadata.namespace"
      ? (l: Lease) => l.metadata.namespace
      : undefined
    if (get === undefined) throw badRequest(`field label not supported: ${field}`)
    if (field === "metadata.name" && op !== "!=") name = value
    tests.push(op === "!=" ? (l) => get(l) !== value : (l) => get(l) === value)
  }
  return { test: (l) => tests.every((t) => t(l)), name }
}

/** labelSelector: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b). */
export const labelSelector = (s: string | null): Predicate => {
  const tests: Array<Predicate> = []
  const terms = (s ?? "").match(/([^,(]+(\([^)]*\))?)/g) ?? []
  for (const raw of terms) {
    const term = raw.trim()
    if (term === "") continue
    const labels = (l: Lease) => l.metadata.labels ?? {}
    let m: RegExpExecArray | null
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term)) !== null) {
      const [, k, op, list] = m as unknown as [string, string, string, string]
      const values = list.split(",").map((v) => v.trim())
      tests.push(
        op === "in"
          ? (l) => values.includes(labels(l)[k] ?? "\u0000")
          : (l) => !values.includes(labels(l)[k] ?? "\u0000")
      )
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term)) !== null) {
      const [, k, op, v] = m as unknown as [string, string, string, string]
      tests.push(op === "!=" ? (l) => labels(l)[k] !== v : (l) => labels(l)[k] === v)
    } else if ((m = /^!\s*([\w./-]+)$/.exec(term)) !== null) {
      const k = m[1]!
      tests.push((l) => !(k in labels(l)))
    } else if ((m = /^([\w./-]+)$/.exec(term)) !== null) {
      const k = m[1]!
      tests.push((l) => k in labels(l))
    } else throw badRequest(`unable to parse requirement: ${term}`)
  }
  return (l) => tests.every((t) => t(l))
}
