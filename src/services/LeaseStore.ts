/**
 * The one Lease this replica contends for: read, create, conditional replace,
 * and its changes as the informer (kube/Informer.ts) follows it by name.
 * Writes are always conditional (POST, or PUT carrying the resourceVersion we
 * read), never blind patches, so two replicas can never both win.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Stream } from "effect"
import type { LeaseView, SpecFields } from "../domain/Lease.ts"
import { fromJson, incarnationAnnotation } from "../domain/Lease.ts"
import { parseJson } from "../domain/Wire.ts"
import type { Change } from "../kube/Informer.ts"
import { informer } from "../kube/Informer.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import type { Access } from "../kube/KubeError.ts"
import type { KubeError } from "../kube/KubeError.ts"
import { roleNeeds, unavailable } from "../kube/KubeError.ts"

export interface LeaseTarget {
  readonly namespace: string
  readonly name: string
  readonly requestTimeoutMs: number
  /** The watch's pause after a session, and its first backoff. */
  readonly retryPeriodMs: number
}

/** A failed watch session backs off from the retry period up to this. */
export const maxWatchBackoffMs = 30_000

export class LeaseStore extends Context.Service<LeaseStore, {
  /** undefined when the Lease does not exist. */
  readonly get: Effect.Effect<LeaseView | undefined, KubeError>
  /** POST a new Lease claimed by this incarnation. */
  create(spec: SpecFields, incarnation: string): Effect.Effect<LeaseView, KubeError>
  /** PUT of a whole object that carries the resourceVersion it was read at. */
  replace(object: Record<string, unknown>): Effect.Effect<LeaseView, KubeError>
  /** The Lease as listed and watched (paced, never failing, never ending) for as long as it is pulled. */
  readonly changes: Stream.Stream<Change<LeaseView>>
}>()("just-one-init/LeaseStore") {
  static readonly layer = (target: LeaseTarget) =>
    Layer.effect(
      LeaseStore,
      Effect.gen(function*() {
        const kube = yield* KubeClient
        const { name, namespace, requestTimeoutMs } = target
        const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`
        const item = `${collection}/${name}`
        const access: Access = {
          what: `lease ${namespace}/${name}`,
          needs: roleNeeds("get, create and update", "leases.coordination.k8s.io"),
          namespaceSetting: "--namespace or POD_NAMESPACE"
        }
        const call = (
          verb: "get" | "create" | "update",
          method: "GET" | "POST" | "PUT",
          path: string,
          body?: unknown
        ) =>
          kube.request({ method, path, body, timeoutMs: requestTimeoutMs, verb, access }).pipe(
            Effect.flatMap((answer) => {
              const lease = fromJson(Option.getOrUndefined(parseJson(answer.text)))
              return lease === undefined
                ? Effect.fail(unavailable(verb, access, `HTTP ${answer.status} with a body that is not a Lease`))
                : Effect.succeed(lease)
            })
          )

        const get = call("get", "GET", item).pipe(
          Effect.map((lease): LeaseView | undefined => lease),
          Effect.catchReason("KubeError", "NotFound", () => Effect.succeed(undefined)),
          Effect.withSpan("LeaseStore.get")
        )

        const create = Effect.fn("LeaseStore.create")(function*(spec: SpecFields, incarnation: string) {
          return yield* call("create", "POST", collection, {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace, annotations: { [incarnationAnnotation]: incarnation } },
            spec
          })
        })

        const replace = Effect.fn("LeaseStore.replace")(function*(object: Record<string, unknown>) {
          return yield* call("update", "PUT", item, object)
        })

        // One name, by fieldSelector: the Role's resourceNames covers the list and the watch.
        const changes = informer(kube, {
          path: collection,
          fieldSelector: `metadata.name=${name}`,
          access: { ...access, needs: roleNeeds("list and watch", "leases.coordination.k8s.io") },
          decode: fromJson
        }, { baseMs: target.retryPeriodMs, maxBackoffMs: maxWatchBackoffMs, requestTimeoutMs })

        return LeaseStore.of({ get, create, replace, changes })
      })
    )
}
