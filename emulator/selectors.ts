/**
 * List and watch selectors: labelSelector (=, ==, !=, in, notin, exists, !exists),
 * fieldSelector (=, ==, != over the fields each kind supports, with the API
 * server's error messages), and metav1.LabelSelector matching for objects
 * that carry one (DaemonSet, Job).
 */
import { badRequest } from "./status.ts"
import type { KubeObject } from "./types.ts"
import { isRecord } from "./util.ts"

export type Predicate = (o: KubeObject) => boolean

/** Field labels of a kind; `custom` = the kind registers its own conversion (and its error wording). */
export interface FieldLabels {
  readonly labels: Readonly<Record<string, (o: KubeObject) => string>>
  readonly custom: boolean
}

export const defaultFieldLabels: FieldLabels = {
  labels: {
    "metadata.name": (o) => o.metadata.name,
    "metadata.namespace": (o) => o.metadata.namespace ?? ""
  },
  custom: false
}

/** Split on commas that are not escaped (field selector values may escape `,` `=` `\` with a backslash). */
const splitTerms = (s: string): Array<string> => {
  const out: Array<string> = []
  let cur = ""
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === "\\" && i + 1 < s.length) cur += c + s[++i]!
    else if (c === ",") {
      out.push(cur)
      cur = ""
    } else cur += c
  }
  out.push(cur)
  return out.map((t) => t.trim()).filter((t) => t !== "")
}
const unescapeValue = (v: string) => v.replace(/\\(.)/g, "$1")

/** fieldSelector. `name` is the object name an equality term pins (the authorizer sees it as the request's name). */
export const fieldSelector = (s: string | null, fields: FieldLabels): { test: Predicate; name: string | undefined } => {
  const tests: Array<Predicate> = []
  let name: string | undefined
  for (const term of splitTerms(s ?? "")) {
    const m = /^(.+?)\s*(==|=|!=)\s*(.*)$/.exec(term)
    if (m === null) throw badRequest(`invalid selector: '${s ?? ""}'; can't understand '${term}'`)
    const [, field, op, raw] = m as unknown as [string, string, string, string]
    const value = unescapeValue(raw)
    const get = fields.labels[field]
    if (get === undefined) {
      throw badRequest(
        fields.custom
          ? `field label not supported: ${field}`
          : `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`
      )
    }
    if (field === "metadata.name" && op !== "!=") name = value
    tests.push(op === "!=" ? (o) => get(o) !== value : (o) => get(o) === value)
  }
  return { test: (o) => tests.every((t) => t(o)), name }
}

type LabelTest = (labels: Readonly<Record<string, string>>) => boolean

const labelKey = /^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/
const labelValue = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/

const checkKey = (k: string) => {
  if (!labelKey.test(k)) {
    throw badRequest(
      `unable to parse requirement: key: Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`
    )
  }
}
const checkValue = (k: string, v: string, i: number) => {
  if (!labelValue.test(v) || v.length > 63) {
    throw badRequest(
      `unable to parse requirement: values[${i}][${k}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`
    )
  }
}

/** Parse a labelSelector string into one test over a label map. */
export const parseLabelSelector = (s: string | null): LabelTest => {
  const tests: Array<LabelTest> = []
  const terms = (s ?? "").match(/([^,(]+(\([^)]*\))?)/g) ?? []
  for (const raw of terms) {
    const term = raw.trim()
    if (term === "") continue
    let m: RegExpExecArray | null
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term)) !== null) {
      const [, k, op, list] = m as unknown as [string, string, string, string]
      checkKey(k)
      const values = list.split(",").map((v) => v.trim())
      if (op === "in" && values.length === 1 && values[0] === "") {
        throw badRequest(
          `unable to parse requirement: values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty`
        )
      }
      values.forEach((v, i) => checkValue(k, v, i))
      tests.push(op === "in" ? (l) => k in l && values.includes(l[k]!) : (l) => !(k in l) || !values.includes(l[k]!))
    } else if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)) !== null) {
      const [, k, op, v] = m as unknown as [string, string, string, string]
      checkKey(k)
      checkValue(k, v, 0)
      tests.push(op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v)
    } else if ((m = /^!\s*(\S+)$/.exec(term)) !== null) {
      const k = m[1]!
      checkKey(k)
      tests.push((l) => !(k in l))
    } else if ((m = /^(\S+)$/.exec(term)) !== null) {
      const k = m[1]!
      checkKey(k)
      tests.push((l) => k in l)
    } else throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`)
  }
  return (l) => tests.every((t) => t(l))
}

export const labelSelector = (s: string | null): Predicate => {
  const test = parseLabelSelector(s)
  return (o) => test(o.metadata.labels ?? {})
}

/** metav1.LabelSelector (matchLabels + matchExpressions) against a label map; an empty selector matches everything. */
export const matchesLabelSelector = (sel: unknown, labels: Readonly<Record<string, string>>): boolean => {
  if (!isRecord(sel)) return false
  const ml = isRecord(sel["matchLabels"]) ? sel["matchLabels"] : {}
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false
  const exprs = Array.isArray(sel["matchExpressions"]) ? sel["matchExpressions"] : []
  for (const e of exprs) {
    if (!isRecord(e) || typeof e["key"] !== "string") return false
    const k = e["key"]
    const values = Array.isArray(e["values"]) ? e["values"].map(String) : []
    const has = k in labels
    switch (e["operator"]) {
      case "In":
        if (!has || !values.includes(labels[k]!)) return false
        break
      case "NotIn":
        if (has && values.includes(labels[k]!)) return false
        break
      case "Exists":
        if (!has) return false
        break
      case "DoesNotExist":
        if (has) return false
        break
      default:
        return false
    }
  }
  return true
}
