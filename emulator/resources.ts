/**
 * The resources the emulator serves: each kind's names, scope, verbs-relevant
 * strategy flags (from its registry in kube-apiserver), and hooks; custom
 * resources declared by option; groups made absent by option.
 */
import { custom, endpoints, endpointSlice, event, lease, namespace, service } from "./kinds-net.ts"
import type { KindHooks } from "./kinds.ts"
import { daemonSet, job, pod } from "./kinds.ts"
import type { FieldLabels } from "./selectors.ts"
import { defaultFieldLabels } from "./selectors.ts"
import type { Qualified } from "./status.ts"
import { qualifiedName } from "./status.ts"
import type { CustomResource } from "./types.ts"

export interface ResourceType extends Qualified {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly namespaced: boolean
  /** "v1", "apps/v1" */
  readonly apiVersion: string
  /** "pods", "daemonsets.apps": the qualified resource, also the store's key. */
  readonly key: string
  readonly listKind: string
  readonly shortNames: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  /** A status subresource: writes to the object keep its status, /status writes only status. */
  readonly status: boolean
  readonly custom: boolean
  /** DELETE answers the object (pods, services, namespaces) rather than a Success Status. */
  readonly returnDeleted: boolean
  /** PUT of a missing object creates it (AllowCreateOnUpdate). */
  readonly createOnUpdate: boolean
  /** PUT without metadata.resourceVersion overwrites (AllowUnconditionalUpdate); else 422. */
  readonly unconditionalUpdate: boolean
  /** metadata.generation: set to 1 on create and bumped when the spec changes ("spec") or anything but metadata/status ("content"). */
  readonly generation: "spec" | "content" | undefined
  /** Name validation: DNS subdomain, RFC 1123 label (namespaces), RFC 1035 label (services). */
  readonly nameRule: "subdomain" | "label" | "dns1035"
  readonly hooks: KindHooks
  readonly fieldLabels: FieldLabels
}

type Def = Pick<ResourceType, "group" | "version" | "kind" | "plural" | "hooks"> & Partial<ResourceType>

const define = (d: Def): ResourceType => {
  const base = {
    singular: d.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    status: false,
    custom: false,
    returnDeleted: false,
    createOnUpdate: false,
    unconditionalUpdate: true,
    generation: undefined,
    nameRule: "subdomain" as const,
    fieldLabels: d.hooks.fieldLabels ?? defaultFieldLabels,
    ...d
  }
  return {
    ...base,
    apiVersion: d.group === "" ? d.version : `${d.group}/${d.version}`,
    key: qualifiedName(d),
    listKind: `${d.kind}List`
  }
}

const builtins: ReadonlyArray<ResourceType> = [
  define({
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    shortNames: ["ns"],
    status: true,
    returnDeleted: true,
    nameRule: "label",
    hooks: namespace
  }),
  define({
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    shortNames: ["po"],
    categories: ["all"],
    status: true,
    returnDeleted: true,
    hooks: pod
  }),
  define({
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    shortNames: ["svc"],
    categories: ["all"],
    status: true,
    returnDeleted: true,
    nameRule: "dns1035",
    hooks: service
  }),
  define({
    group: "",
    version: "v1",
    kind: "Endpoints",
    plural: "endpoints",
    singular: "endpoints",
    shortNames: ["ep"],
    createOnUpdate: true,
    hooks: endpoints
  }),
  define({
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    shortNames: ["ev"],
    createOnUpdate: true,
    hooks: event
  }),
  define({
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    shortNames: ["ds"],
    categories: ["all"],
    status: true,
    generation: "spec",
    hooks: daemonSet
  }),
  define({
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    categories: ["all"],
    status: true,
    generation: "spec",
    hooks: job
  }),
  define({
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    createOnUpdate: true,
    unconditionalUpdate: false,
    hooks: lease
  }),
  define({
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    generation: "content",
    hooks: endpointSlice
  })
]

/** The custom resource every emulator serves. */
export const widget: CustomResource = { group: "example.com", version: "v1", kind: "Widget", plural: "widgets" }

const defineCustom = (c: CustomResource): ResourceType => {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.plural) || !c.group.includes(".") || !/^[A-Z]/.test(c.kind)) {
    throw new Error(
      `custom resource ${c.plural}.${c.group}: plural must be a lowercase DNS label, group must contain a dot, kind must start upper case`
    )
  }
  return define({
    group: c.group,
    version: c.version,
    kind: c.kind,
    plural: c.plural,
    singular: c.singular ?? c.kind.toLowerCase(),
    namespaced: c.namespaced ?? true,
    shortNames: [...(c.shortNames ?? [])],
    categories: [...(c.categories ?? [])],
    status: c.status ?? true,
    custom: true,
    unconditionalUpdate: false,
    generation: "content",
    hooks: custom
  })
}

export class Registry {
  readonly types: ReadonlyArray<ResourceType>
  private readonly missing: ReadonlySet<string>

  constructor(customResources: ReadonlyArray<CustomResource>, missingGroups: ReadonlyArray<string>) {
    const all = [...builtins, ...[widget, ...customResources].map(defineCustom)]
    for (const [i, t] of all.entries()) {
      if (all.findIndex((u) => u.key === t.key && u.version === t.version) !== i) {
        throw new Error(`resource ${t.key}/${t.version} is declared twice`)
      }
    }
    this.missing = new Set(missingGroups)
    this.types = all.filter((t) => !this.isMissing(t.group, t.version))
  }

  private isMissing(group: string, version: string) {
    return group !== "" && (this.missing.has(group) || this.missing.has(`${group}/${version}`))
  }

  hasGroupVersion(group: string, version: string): boolean {
    return this.types.some((t) => t.group === group && t.version === version)
  }

  byPath(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural)
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find((t) => t.apiVersion === apiVersion && t.kind === kind)
  }

  /** Served API groups (not the core group) with their versions, in declaration order. */
  groups(): Array<{ name: string; versions: Array<string> }> {
    const out: Array<{ name: string; versions: Array<string> }> = []
    for (const t of this.types) {
      if (t.group === "") continue
      const g = out.find((x) => x.name === t.group)
      if (g === undefined) out.push({ name: t.group, versions: [t.version] })
      else if (!g.versions.includes(t.version)) g.versions.push(t.version)
    }
    return out
  }
}

/** Does an RBAC/fault resource name ("pods", "pods/status", "endpointslices.discovery.k8s.io") cover this request? */
export const resourceMatches = (pattern: string, t: ResourceType, subresource: string | undefined): boolean => {
  const res = subresource === undefined ? t.plural : `${t.plural}/${subresource}`
  return pattern === res || pattern === (t.group === "" ? res : `${res}.${t.group}`)
    || (subresource !== undefined && pattern === `${t.key}/${subresource}`)
}
