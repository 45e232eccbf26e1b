/**
 * Discovery as kubectl reads it: /version, /api, /apis, /api/v1,
 * /apis/<group>[/<version>], aggregated discovery (apidiscovery.k8s.io/v2)
 * when the client asks for it, and the OpenAPI v3 documents kubectl needs
 * for create/apply/replace/patch (per operation: the GVK and the
 * dryRun/fieldManager/fieldValidation parameters; no schemas).
 */
import { createHash } from "node:crypto"
import type { Reply } from "./http.ts"
import type { Registry, ResourceType } from "./resources.ts"

const verbsOf = (t: ResourceType) =>
  t.kind === "Namespace"
    ? ["create", "delete", "get", "list", "patch", "update", "watch"]
    : ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

const apiResources = (types: ReadonlyArray<ResourceType>) =>
  types.flatMap((t) => [
    {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: verbsOf(t),
      ...(t.shortNames.length === 0 ? {} : { shortNames: t.shortNames }),
      ...(t.categories.length === 0 ? {} : { categories: t.categories })
    },
    ...(t.status
      ? [{
        name: `${t.plural}/status`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["get", "patch", "update"]
      }]
      : [])
  ])

const aggregatedResources = (types: ReadonlyArray<ResourceType>) =>
  types.map((t) => {
    const responseKind = { group: t.group, version: t.version, kind: t.kind }
    return {
      resource: t.plural,
      responseKind,
      scope: t.namespaced ? "Namespaced" : "Cluster",
      singularResource: t.singular,
      verbs: verbsOf(t),
      ...(t.shortNames.length === 0 ? {} : { shortNames: t.shortNames }),
      ...(t.categories.length === 0 ? {} : { categories: t.categories }),
      ...(t.status
        ? { subresources: [{ subresource: "status", responseKind, verbs: ["get", "patch", "update"] }] }
        : {})
    }
  })

const aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

/** An aggregated discovery answer (apidiscovery.k8s.io/v2) with these groups. */
const aggregatedList = (items: ReadonlyArray<unknown>) => ({
  code: 200,
  headers: { "content-type": aggregatedType },
  body: { kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2", metadata: {}, items }
})

/** Does the Accept header ask for aggregated discovery v2? */
const wantsAggregated = (accept: string | undefined) =>
  (accept ?? "").split(",").some((a) =>
    a.includes("g=apidiscovery.k8s.io") && a.includes("v=v2;") && !a.includes("v2beta1")
  )

const goPascal = (s: string) =>
  s.split(/[.-]/).filter((x) => x !== "").map((x) => x[0]!.toUpperCase() + x.slice(1)).join("")

/** operationId prefix: CoreV1, AppsV1, CoordinationV1, DiscoveryV1, ExampleComV1 (".k8s.io" dropped as Kubernetes does). */
const opGroup = (t: ResourceType) =>
  `${t.group === "" ? "Core" : goPascal(t.group.replace(/\.k8s\.io$/, ""))}${goPascal(t.version)}`

const openapiFor = (types: ReadonlyArray<ResourceType>) => {
  const params = ["dryRun", "fieldManager", "fieldValidation"].map((name) => ({
    name,
    in: "query",
    schema: { type: "string" }
  }))
  const paths: Record<string, unknown> = {}
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind }
    const prefix = t.group === "" ? "/api/v1" : `/apis/${t.group}/${t.version}`
    const collection = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.plural}` : `${prefix}/${t.plural}`
    const scope = t.namespaced ? "Namespaced" : ""
    const op = (verb: string, action: string, code: string, extra: Array<unknown> = []) => ({
      operationId: `${verb}${opGroup(t)}${scope}${t.kind}`,
      parameters: [...params, ...extra],
      responses: { [code]: { description: code === "201" ? "Created" : "OK" } },
      "x-kubernetes-action": action,
      "x-kubernetes-group-version-kind": gvk
    })
    paths[collection] = { post: op("create", "post", "201") }
    paths[`${collection}/{name}`] = {
      patch: op("patch", "patch", "200", [{ name: "force", in: "query", schema: { type: "boolean" } }]),
      put: op("replace", "put", "200")
    }
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes", version: "v1.32.0" }, paths, components: { schemas: {} } }
}

const hashOf = (doc: unknown) =>
  createHash("sha512").update(JSON.stringify(doc)).digest("hex").slice(0, 128).toUpperCase()

const version = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.4-emulator",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.23.6",
  compiler: "gc",
  platform: "linux/amd64"
}

/** Answers the discovery, version, health and OpenAPI paths; undefined for anything else. */
export const discovery = (
  registry: Registry,
  path: string,
  accept: string | undefined,
  serverAddress: string
): Reply | undefined => {
  const p = path.replace(/\/+$/, "") || "/"
  const gv = (group: string, v: string) => registry.types.filter((t) => t.group === group && t.version === v)
  const groupVersion = (name: string, v: string) => ({ groupVersion: `${name}/${v}`, version: v })
  const aggregated = wantsAggregated(accept)
  switch (p) {
    case "/version":
      return { code: 200, body: version }
    case "/healthz":
    case "/livez":
    case "/readyz":
      return { code: 200, body: "ok" }
    case "/api":
      if (aggregated) {
        return aggregatedList([{
          metadata: { creationTimestamp: null },
          versions: [{ version: "v1", resources: aggregatedResources(gv("", "v1")), freshness: "Current" }]
        }])
      }
      return {
        code: 200,
        body: {
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }]
        }
      }
    case "/api/v1":
      return { code: 200, body: { kind: "APIResourceList", groupVersion: "v1", resources: apiResources(gv("", "v1")) } }
    case "/apis":
      if (aggregated) {
        return aggregatedList(
          registry.groups().map((g) => ({
            metadata: { name: g.name, creationTimestamp: null },
            versions: g.versions.map((v) => ({
              version: v,
              resources: aggregatedResources(gv(g.name, v)),
              freshness: "Current"
            }))
          }))
        )
      }
      return {
        code: 200,
        body: {
          kind: "APIGroupList",
          apiVersion: "v1",
          groups: registry.groups().map((g) => ({
            name: g.name,
            versions: g.versions.map((v) => groupVersion(g.name, v)),
            preferredVersion: groupVersion(g.name, g.versions[0]!)
          }))
        }
      }
    case "/openapi/v3": {
      const docs: Record<string, unknown> = {}
      const core = gv("", "v1")
      docs["api/v1"] = { serverRelativeURL: `/openapi/v3/api/v1?hash=${hashOf(openapiFor(core))}` }
      for (const g of registry.groups()) {
        for (const v of g.versions) {
          docs[`apis/${g.name}/${v}`] = {
            serverRelativeURL: `/openapi/v3/apis/${g.name}/${v}?hash=${hashOf(openapiFor(gv(g.name, v)))}`
          }
        }
      }
      return { code: 200, body: { paths: docs } }
    }
    case "/openapi/v3/api/v1":
      return { code: 200, body: openapiFor(gv("", "v1")) }
  }
  let m = /^\/apis\/([^/]+)$/.exec(p)
  if (m !== null) {
    const g = registry.groups().find((x) => x.name === m![1])
    if (g === undefined) return undefined
    const versions = g.versions.map((v) => groupVersion(g.name, v))
    return {
      code: 200,
      body: { kind: "APIGroup", apiVersion: "v1", name: g.name, versions, preferredVersion: versions[0] }
    }
  }
  m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p)
  if (m !== null && registry.hasGroupVersion(m[1]!, m[2]!)) {
    return {
      code: 200,
      body: {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: `${m[1]}/${m[2]}`,
        resources: apiResources(gv(m[1]!, m[2]!))
      }
    }
  }
  m = /^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/.exec(p)
  if (m !== null && registry.hasGroupVersion(m[1]!, m[2]!)) return { code: 200, body: openapiFor(gv(m[1]!, m[2]!)) }
  return undefined
}
