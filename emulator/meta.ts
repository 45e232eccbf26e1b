/**
 * ObjectMeta handling: decoding the client's metadata, name validation,
 * the field order the API server encodes, and managedFields.
 */
import type { ResourceType } from "./resources.ts"
import type { Cause } from "./status.ts"
import { badRequest, invalidFor } from "./status.ts"
import type { KubeObject, ManagedFieldsEntry, ObjectMeta } from "./types.ts"
import { dropNulls, isRecord, nowSeconds } from "./util.ts"

/** The metadata a client may set; everything else is the server's. */
export interface ClientMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: unknown
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: Array<unknown>
  finalizers?: Array<string>
}

const stringMap = (v: unknown, field: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== "string")) {
    throw badRequest(
      `json: cannot unmarshal into Go struct field ObjectMeta.metadata.${field} of type map[string]string`
    )
  }
  return Object.keys(v).length === 0 ? undefined : { ...(v as Record<string, string>) }
}

export const clientMeta = (body: Record<string, unknown>): ClientMeta => {
  const m = isRecord(body["metadata"]) ? body["metadata"] : {}
  const out: ClientMeta = {}
  for (const k of ["name", "generateName", "namespace", "uid"] as const) {
    const v = m[k]
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw badRequest(
        `json: cannot unmarshal ${typeof v} into Go struct field ObjectMeta.metadata.${k} of type string`
      )
    }
    if (typeof v === "string" && v !== "") out[k] = v
  }
  if (m["resourceVersion"] !== undefined && m["resourceVersion"] !== null) out.resourceVersion = m["resourceVersion"]
  const labels = stringMap(m["labels"], "labels")
  const annotations = stringMap(m["annotations"], "annotations")
  if (labels !== undefined) out.labels = labels
  if (annotations !== undefined) out.annotations = annotations
  if (Array.isArray(m["ownerReferences"]) && m["ownerReferences"].length > 0) {
    out.ownerReferences = dropNulls(m["ownerReferences"]) as Array<unknown>
  }
  if (Array.isArray(m["finalizers"]) && m["finalizers"].length > 0) out.finalizers = m["finalizers"].map(String)
  return out
}

const rules = {
  subdomain: {
    re: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    max: 253,
    text:
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
  },
  label: {
    re: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    max: 63,
    text:
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
  },
  dns1035: {
    re: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    max: 63,
    text:
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
  }
}

/** metadata.name checks (422). */
export const checkName = (rt: ResourceType, name: string) => {
  if (name === "") {
    throw invalidFor(rt.kind, rt.group, "", [{
      field: "metadata.name",
      message: "Required value: name or generateName is required",
      reason: "FieldValueRequired"
    }])
  }
  const rule = rules[rt.nameRule]
  const causes: Array<Cause> = []
  if (name.length > rule.max) {
    causes.push({
      field: "metadata.name",
      message: `Invalid value: ${JSON.stringify(name)}: must be no more than ${rule.max} characters`
    })
  }
  if (!rule.re.test(name)) {
    causes.push({ field: "metadata.name", message: `Invalid value: ${JSON.stringify(name)}: ${rule.text}` })
  }
  if (causes.length > 0) throw invalidFor(rt.kind, rt.group, name, causes)
}

/** ObjectMeta's fields, in its struct order. */
export const metaOrder = [
  "name",
  "generateName",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields"
]

/** kind, apiVersion, metadata (in ObjectMeta's field order), then the kind's fields (in its struct order). */
export const assemble = (rt: ResourceType, meta: ObjectMeta, content: Record<string, unknown>): KubeObject => {
  const m: Record<string, unknown> = {}
  for (const k of metaOrder) {
    const v = (meta as unknown as Record<string, unknown>)[k]
    if (v !== undefined) m[k] = v
  }
  const order = rt.hooks.fields ?? Object.keys(content)
  const rest: Record<string, unknown> = {}
  for (const k of [...order, ...Object.keys(content)]) if (content[k] !== undefined) rest[k] ??= content[k]
  return { kind: rt.kind, apiVersion: rt.apiVersion, metadata: m as unknown as ObjectMeta, ...rest }
}

/** The non-metadata fields of an object. */
export const contentOf = (o: KubeObject): Record<string, unknown> => {
  const { kind: _k, apiVersion: _a, metadata: _m, ...rest } = o
  return rest
}

/** fieldsV1 of a value: every map key as f:<key>; lists and scalars are leaves. */
const fieldSet = (v: unknown): Record<string, unknown> =>
  isRecord(v) ? Object.fromEntries(Object.keys(v).map((k) => [`f:${k}`, fieldSet(v[k])])) : {}

/** The fields a manager of this write owns: labels, annotations, finalizers, ownerReferences and the object's own fields (status only for a status write). */
const fieldsOf = (rt: ResourceType, o: KubeObject, subresource: string | undefined): Record<string, unknown> => {
  const f: Record<string, unknown> = {}
  const meta: Record<string, unknown> = {}
  if (subresource === undefined) {
    for (const k of ["labels", "annotations"] as const) {
      if (o.metadata[k] !== undefined) meta[`f:${k}`] = fieldSet(o.metadata[k])
    }
    for (const k of ["finalizers", "ownerReferences"] as const) if (o.metadata[k] !== undefined) meta[`f:${k}`] = {}
  }
  if (Object.keys(meta).length > 0) f["f:metadata"] = meta
  for (const [k, v] of Object.entries(contentOf(o))) {
    if ((subresource === "status") !== (k === "status") && (rt.status || subresource === "status")) continue
    f[`f:${k}`] = fieldSet(v)
  }
  return f
}

export interface Manager {
  readonly manager: string
  readonly operation?: "Update" | "Apply"
  readonly subresource?: "status"
}

/** managedFields after a write that changed the object: the writer's entry replaced, stamped now. */
export const managedAfter = (
  rt: ResourceType,
  o: KubeObject,
  previous: ReadonlyArray<ManagedFieldsEntry>,
  m: Manager
): Array<ManagedFieldsEntry> => {
  const operation = m.operation ?? "Update"
  const entry: ManagedFieldsEntry = {
    manager: m.manager,
    operation,
    apiVersion: rt.apiVersion,
    time: nowSeconds(),
    fieldsType: "FieldsV1",
    fieldsV1: fieldsOf(rt, o, m.subresource),
    ...(m.subresource === undefined ? {} : { subresource: m.subresource })
  }
  const rest = previous.filter((e) =>
    !(e.manager === m.manager && e.operation === operation && e.subresource === m.subresource)
  )
  return [...rest, entry]
}
