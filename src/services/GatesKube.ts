/**
 * The gates checked through the Kubernetes API: which objects each one
 * follows (GateFollow.ts, the informer) and the rule that passes it
 * (domain/GateRules.ts). Every request is a list or watch, also for single
 * objects (by `metadata.name`), so a Role needs `list` and `watch` on each
 * kind, and the gate sees a change as it happens.
 */
import { Effect, Result } from "effect"
import { labelsText } from "../domain/GateJson.ts"
import type { ApiGate, Progress } from "../domain/GateRules.ts"
import * as Rules from "../domain/GateRules.ts"
import type { Access } from "../kube/KubeError.ts"
import { roleNeeds } from "../kube/KubeError.ts"
import type { Api, Collection } from "./GateFollow.ts"
import { follow, lookup } from "./GateFollow.ts"

/** What node-bound gates need to know about this pod. */
export interface Self {
  /** This pod's namespace (where it is looked up to find its node). */
  readonly namespace: string
  readonly podName: string | null
  readonly nodeName: string | null
}

const byName = (name: string) => `metadata.name=${name}`

/** A collection of a group/version (`v1` is the core group), in a namespace or cluster-wide, as RBAC names it. */
const collection = (
  apiVersion: string,
  plural: string,
  namespace: string | null,
  select: Pick<Collection, "labelSelector" | "fieldSelector">
): Collection => {
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : ""
  const resource = group === "" ? plural : `${plural}.${group}`
  return {
    path: `${Rules.apiPath(apiVersion)}${namespace === null ? "" : `/namespaces/${namespace}`}/${plural}`,
    ...select,
    access: {
      what: namespace === null ? resource : `${resource} in namespace ${namespace}`,
      needs: roleNeeds("list and watch", resource)
    }
  }
}

/** An API group's discovery document. */
const discovery = (api: string): Access => ({ what: `the ${api} API`, needs: roleNeeds("get", `the ${api} API`) })

/** This pod's node: NODE_NAME, else the pod's own `spec.nodeName`. */
const thisNode = (api: Api, self: Self, progress: Progress): Effect.Effect<string> => {
  if (self.nodeName !== null) return Effect.succeed(self.nodeName)
  const pod = self.podName
  // Settings refuse a node-bound gate without NODE_NAME or POD_NAME.
  if (pod === null) return Effect.die(new Error("a node-bound gate without NODE_NAME or POD_NAME"))
  return follow(
    api,
    collection("v1", "pods", self.namespace, { fieldSelector: byName(pod) }),
    (objects) => Rules.podNode(objects, pod),
    progress
  )
}

/** EndpointSlices when the API has them, else the Endpoints: only a 404 from discovery means it has not. */
const service = (api: Api, gate: Extract<ApiGate, { _tag: "Service" }>, progress: Progress) =>
  lookup(
    api,
    "/apis/discovery.k8s.io/v1",
    discovery("discovery.k8s.io/v1"),
    () => Result.succeed(true),
    Result.succeed(false),
    progress
  ).pipe(Effect.flatMap((slices) =>
    slices
      ? follow(
        api,
        collection("discovery.k8s.io/v1", "endpointslices", gate.namespace, {
          labelSelector: `kubernetes.io/service-name=${gate.name}`
        }),
        Rules.endpointSlicesReady,
        progress
      )
      : progress.warn(
        "no EndpointSlice API",
        "the API server has no EndpointSlice API (discovery.k8s.io/v1): reading the Service's Endpoints instead"
      ).pipe(Effect.andThen(follow(
        api,
        collection("v1", "endpoints", gate.namespace, { fieldSelector: byName(gate.name) }),
        Rules.endpointsReady,
        progress
      )))
  ))

const daemonSet = (api: Api, self: Self, gate: Extract<ApiGate, { _tag: "DaemonSet" }>, progress: Progress) =>
  Effect.gen(function*() {
    const node = yield* thisNode(api, self, progress)
    const selector = yield* follow(
      api,
      collection("apps/v1", "daemonsets", gate.namespace, { fieldSelector: byName(gate.name) }),
      Rules.daemonSetSelector,
      progress
    )
    yield* follow(
      api,
      collection("v1", "pods", gate.namespace, { labelSelector: selector, fieldSelector: `spec.nodeName=${node}` }),
      (objects) => Rules.daemonSetPodReady(objects, gate.name, node),
      progress
    )
  })

const pods = (api: Api, self: Self, gate: Extract<ApiGate, { _tag: "Pod" }>, progress: Progress) =>
  Effect.gen(function*() {
    const node = gate.requireSameNode ? yield* thisNode(api, self, progress) : null
    yield* follow(
      api,
      collection("v1", "pods", gate.namespace, {
        labelSelector: labelsText(gate.labels),
        ...(node === null ? {} : { fieldSelector: `spec.nodeName=${node}` })
      }),
      (objects) => Rules.podsReady(objects, node),
      progress
    )
  })

/** The kind's resource from discovery (a missing group is pending, as its CRD may come), then the object. */
const customResource = (api: Api, gate: Extract<ApiGate, { _tag: "CustomResource" }>, progress: Progress) =>
  Effect.gen(function*() {
    const { apiVersion, kind, name, namespace } = gate
    const resource = yield* lookup(
      api,
      Rules.apiPath(apiVersion),
      discovery(apiVersion),
      (json) => Rules.resourceOf(json, apiVersion, kind),
      Result.fail(`the API server does not serve ${apiVersion}`),
      progress
    )
    yield* follow(
      api,
      collection(apiVersion, resource.plural, resource.namespaced ? namespace : null, { fieldSelector: byName(name) }),
      (objects) => Rules.customResourceMatches(objects, gate),
      progress
    )
  })

/** Check one API gate until it passes; it never fails (problems are its pending reason). */
export const checkApiGate = (api: Api, self: Self) => (gate: ApiGate, progress: Progress): Effect.Effect<void> => {
  switch (gate._tag) {
    case "Service":
      return service(api, gate, progress)
    case "Job":
      return follow(
        api,
        collection("batch/v1", "jobs", gate.namespace, { fieldSelector: byName(gate.name) }),
        Rules.jobSucceeded,
        progress
      )
    case "JobSelector":
      return follow(
        api,
        collection("batch/v1", "jobs", gate.namespace, { labelSelector: labelsText(gate.labels) }),
        Rules.jobsSucceeded,
        progress
      )
    case "DaemonSet":
      return daemonSet(api, self, gate, progress)
    case "Container":
      return follow(
        api,
        collection("v1", "pods", gate.namespace, { fieldSelector: byName(gate.pod) }),
        (objects) => Rules.containerReady(objects, gate.pod, gate.name),
        progress
      )
    case "Pod":
      return pods(api, self, gate, progress)
    case "CustomResource":
      return customResource(api, gate, progress)
  }
}
