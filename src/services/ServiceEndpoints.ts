/**
 * Service mode: for as long as a leadership term lasts, the one EndpointSlice
 * of a selector-less Service points at this pod; when the term ends, the
 * address is taken out before the lease is released.
 *
 * The Role grants only create, update and delete on endpointslices, so
 * nothing is ever read. The slice has a fixed name; every write is the whole
 * object as an unconditional PUT (EndpointSlices allow it; POST when there is
 * none), so a new leader replaces whatever an old one left, a crashed one's
 * included. The removal is a DELETE whose preconditions are the uid and
 * resourceVersion of this term's last write: an old leader's late DELETE can
 * never remove what a newer leader wrote since (409: left alone).
 *
 * While the term lasts the PUT is repeated every retry period, which puts
 * back a slice someone else changed or deleted. An identical PUT is a no-op
 * on the API server (one read, no write, no watch event for kube-proxy).
 */
import { Context, Effect, Layer, Option, Ref, Schedule } from "effect"
import type { Scope } from "effect"
import type { SliceOwner } from "../domain/EndpointSlice.ts"
import { leaderSlice, sliceName } from "../domain/EndpointSlice.ts"
import { cappedBackoff } from "../domain/Time.ts"
import { decodeWrittenText } from "../domain/Wire.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import type { Access, KubeError } from "../kube/KubeError.ts"
import { kubeFields, roleNeeds, unavailable } from "../kube/KubeError.ts"
import { sayOnce } from "../kube/SayOnce.ts"

export interface EndpointsTarget extends SliceOwner {
  readonly retryPeriodMs: number
  /** Each request's deadline, and the bound on the removal as a whole. */
  readonly requestTimeoutMs: number
}

/** What this term last wrote: the removal's preconditions. */
interface Written {
  readonly uid: string
  readonly resourceVersion: string
}

/** Failed writes back off from the retry period up to this. */
const maxBackoffMs = 30_000

export class ServiceEndpoints extends Context.Service<ServiceEndpoints, {
  /**
   * Point the Service at this pod while the calling scope is open: write at once (in the background), again
   * every retry period, and when the scope closes stop writing, then take the address out (bounded).
   */
  readonly publish: Effect.Effect<void, never, Scope.Scope>
  /** The longest the removal may take once the scope closes: a step-down waits for it (and is not stuck meanwhile). */
  readonly removalBoundMs: number
}>()("just-one-init/ServiceEndpoints") {
  static readonly layer = (target: EndpointsTarget) =>
    Layer.effect(
      ServiceEndpoints,
      Effect.gen(function*() {
        const kube = yield* KubeClient
        const { requestTimeoutMs, retryPeriodMs, service } = target
        const body = leaderSlice(target)
        // The removal is one request deadline, its retries included.
        const removalBoundMs = requestTimeoutMs
        const collection = `/apis/discovery.k8s.io/v1/namespaces/${service.namespace}/endpointslices`
        const item = `${collection}/${sliceName(service.name)}`
        const access: Access = {
          what: `endpointslice ${service.namespace}/${sliceName(service.name)}`,
          needs: roleNeeds("create, update and delete", "endpointslices.discovery.k8s.io"),
          namespaceSetting: "--service-namespace"
        }
        const annotate = Effect.annotateLogs({
          slice: `${service.namespace}/${sliceName(service.name)}`,
          address: service.podIp
        })

        const send = (method: "PUT" | "POST" | "DELETE", path: string, verb: string, payload: unknown) =>
          kube.request({ method, path, body: payload, timeoutMs: requestTimeoutMs, verb, access })

        /** PUT the whole slice, or POST it where there is none; answers what now stands and how it got there. */
        const write = Effect.gen(function*() {
          const put = yield* send("PUT", item, "update", body).pipe(
            Effect.map(Option.some),
            Effect.catchReason("KubeError", "NotFound", () => Effect.succeedNone)
          )
          const res = Option.isSome(put) ? put.value : yield* send("POST", collection, "create", body)
          const written = Option.getOrUndefined(decodeWrittenText(res.text))
          if (written === undefined) {
            return yield* unavailable("write", access, `HTTP ${res.status} with a body that is not an object`)
          }
          return { written: written.metadata, created: Option.isNone(put) }
        })

        const keep = (state: Ref.Ref<Written | undefined>) =>
          Effect.gen(function*() {
            const say = yield* sayOnce
            const recorded = ({ created, written }: { written: Written; created: boolean }) =>
              Effect.gen(function*() {
                const recovered = yield* say.ok
                const before = yield* Ref.getAndSet(state, written)
                const line = before === undefined || recovered
                  ? "service endpoints published"
                  // Only someone else changes what an identical PUT then writes back.
                  : created || before.resourceVersion !== written.resourceVersion
                  ? "service endpoints restored"
                  : undefined
                if (line !== undefined) yield* Effect.logInfo(line)
              })
            const report = (e: KubeError) =>
              say.problem(`${e.reason._tag} ${e.status}`, `service endpoints not published: ${e.message}`, {
                ...kubeFields(e),
                retrying: true
              })
            return yield* write.pipe(
              Effect.flatMap(recorded),
              Effect.tapError(report),
              Effect.retry(cappedBackoff(retryPeriodMs, maxBackoffMs)),
              // The retry never gives up; this only tells the types so.
              Effect.ignore,
              Effect.repeat(Schedule.spaced(retryPeriodMs))
            )
          }).pipe(annotate)

        /** DELETE on the preconditions of this term's last write; a slice written since is someone else's. */
        const remove = (state: Ref.Ref<Written | undefined>) =>
          Effect.gen(function*() {
            const written = yield* Ref.get(state)
            // Nothing known to stand: a write whose answer was lost leaves at worst our address, which the next leader replaces.
            if (written === undefined) return
            const lastError = yield* Ref.make("")
            const once = send("DELETE", item, "delete", {
              apiVersion: "v1",
              kind: "DeleteOptions",
              preconditions: { uid: written.uid, resourceVersion: written.resourceVersion }
            }).pipe(
              Effect.as("service endpoints removed"),
              Effect.catchReason("KubeError", "NotFound", () =>
                Effect.succeed("service endpoints removed (already gone)")),
              Effect.catchReason("KubeError", "Conflict", () =>
                Effect.succeed("service endpoints left in place: written by another since this term"))
            )
            const done = yield* once.pipe(
              Effect.tapError((e) =>
                Ref.set(lastError, e.message)
              ),
              Effect.retry(Schedule.spaced(retryPeriodMs)),
              Effect.timeoutOption(removalBoundMs),
              // The retry only ends at the timeout; this only tells the types so.
              Effect.orElseSucceed(() =>
                Option.none<string>()
              )
            )
            yield* Option.match(done, {
              onSome: (line) =>
                Effect.logInfo(line),
              onNone: () =>
                Effect.flatMap(Ref.get(lastError), (last) =>
                  Effect.logWarning(
                    `service endpoints not removed within ${removalBoundMs}ms${
                      last === "" ? "" : ` (${last})`
                    }; the next leader replaces them`
                  ))
            })
          }).pipe(annotate, Effect.withSpan("ServiceEndpoints.remove"))

        const publish = Effect.gen(function*() {
          const state = yield* Ref.make<Written | undefined>(undefined)
          // Finalizers run in reverse: the writer is stopped before the removal starts, so nothing is written after it.
          yield* Effect.addFinalizer(() => remove(state))
          yield* Effect.forkScoped(keep(state), { startImmediately: true })
        })

        return ServiceEndpoints.of({ publish, removalBoundMs })
      })
    )
}
