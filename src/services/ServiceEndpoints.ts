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
import { Context, Effect, Layer, Option, Ref, Schedule, Schema } from "effect"
import type { Scope } from "effect"
import type { SliceOwner } from "../domain/EndpointSlice.ts"
import { leaderSlice, sliceName } from "../domain/EndpointSlice.ts"
import { decodeStatusText, decodeWrittenText } from "../domain/Wire.ts"
import type { KubeResponse } from "./KubeClient.ts"
import { KubeClient } from "./KubeClient.ts"

export interface EndpointsTarget extends SliceOwner {
  readonly retryPeriodMs: number
  /** Each request's deadline, and the bound on the removal as a whole. */
  readonly requestTimeoutMs: number
}

/** A write or removal that did not take. Every kind is retried; the message says what to fix. */
export class EndpointsError extends Schema.TaggedError<EndpointsError>()("EndpointsError", {
  /** Tells one failure from the next for logging: the HTTP status, or "unreachable". */
  kind: Schema.String,
  message: Schema.String
}) {}

/** What this term last wrote: the removal's preconditions. */
interface Written {
  readonly uid: string
  readonly resourceVersion: string
}

interface Publishing {
  readonly written: Written | undefined
  /** The kind of the failure last logged, while writes fail: the same kind is not logged again. */
  readonly failing: string | undefined
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
        const collection = `/apis/discovery.k8s.io/v1/namespaces/${service.namespace}/endpointslices`
        const item = `${collection}/${sliceName(service.name)}`
        const slice = `endpointslice ${service.namespace}/${sliceName(service.name)}`
        const annotate = Effect.annotateLogs({
          slice: `${service.namespace}/${sliceName(service.name)}`,
          address: service.podIp
        })

        const send = (method: "PUT" | "POST" | "DELETE", path: string, verb: string, payload: unknown) =>
          kube.request({ method, path, body: payload, timeoutMs: requestTimeoutMs }).pipe(
            Effect.mapError((e) =>
              new EndpointsError({ kind: "unreachable", message: `${verb} ${slice}: ${e.message}` })
            )
          )

        const failure = (verb: string, res: KubeResponse) => {
          const status = Option.getOrUndefined(decodeStatusText(res.text))
          const says = status?.message?.slice(0, 300) ?? res.text.slice(0, 120).replace(/\s+/g, " ")
          const message = res.status === 403
            ? `forbidden to ${verb} ${slice} (403): the Role bound to this service account needs create, update and delete on endpointslices.discovery.k8s.io (${says})`
            : res.status === 401
            ? `the API server rejected our credentials (401 Unauthorized) for ${slice}; check KUBECONFIG or the service account token`
            : res.status === 404 && status?.details?.kind === "namespaces"
            ? `namespace ${JSON.stringify(service.namespace)} does not exist (404); set --service-namespace`
            : `${verb} ${slice}: HTTP ${res.status} ${says}`
          return new EndpointsError({ kind: String(res.status), message })
        }

        /** PUT the whole slice, or POST it where there is none; answers what now stands and how it got there. */
        const write = Effect.gen(function*() {
          const put = yield* send("PUT", item, "update", body)
          const created = put.status === 404
          const res = created ? yield* send("POST", collection, "create", body) : put
          if (res.status < 200 || res.status >= 300) return yield* failure(created ? "create" : "update", res)
          const written = Option.getOrUndefined(decodeWrittenText(res.text))
          if (written === undefined) {
            return yield* new EndpointsError({
              kind: "garbled",
              message: `write ${slice}: HTTP ${res.status} with a body that is not an object`
            })
          }
          return { written: written.metadata, created }
        })

        const keep = (state: Ref.Ref<Publishing>) => {
          const recorded = ({ created, written }: { written: Written; created: boolean }) =>
            Ref.modify(state, (s) =>
              [
                s.written === undefined || s.failing !== undefined
                  ? "service endpoints published"
                  : created || s.written.resourceVersion !== written.resourceVersion
                  // Only someone else changes what an identical PUT then writes back.
                  ? "service endpoints restored"
                  : undefined,
                { written, failing: undefined }
              ] as const).pipe(Effect.flatMap((line) => line === undefined ? Effect.void : Effect.logInfo(line)))
          const report = (e: EndpointsError) =>
            Ref.modify(state, (s) => [s.failing !== e.kind, { ...s, failing: e.kind }] as const).pipe(
              Effect.flatMap((first) =>
                first
                  ? Effect.logWarning(`service endpoints not published: ${e.message}`).pipe(
                    Effect.annotateLogs({ retrying: true })
                  )
                  : Effect.void
              )
            )
          return write.pipe(
            Effect.flatMap(recorded),
            Effect.tapError(report),
            Effect.retry(Schedule.min([Schedule.exponential(retryPeriodMs), Schedule.spaced(maxBackoffMs)])),
            // The retry never gives up; this only tells the types so.
            Effect.ignore,
            Effect.repeat(Schedule.spaced(retryPeriodMs)),
            annotate
          )
        }

        /** DELETE on the preconditions of this term's last write; a slice written since is someone else's. */
        const remove = (state: Ref.Ref<Publishing>) =>
          Effect.gen(function*() {
            const { written } = yield* Ref.get(state)
            // Nothing known to stand: a write whose answer was lost leaves at worst our address, which the next leader replaces.
            if (written === undefined) return
            const lastError = yield* Ref.make("")
            const once = Effect.gen(function*() {
              const res = yield* send("DELETE", item, "delete", {
                apiVersion: "v1",
                kind: "DeleteOptions",
                preconditions: { uid: written.uid, resourceVersion: written.resourceVersion }
              })
              if (res.status === 404) return "service endpoints removed (already gone)"
              if (res.status === 409) return "service endpoints left in place: written by another since this term"
              if (res.status >= 200 && res.status < 300) return "service endpoints removed"
              return yield* failure("delete", res)
            })
            const done = yield* once.pipe(
              Effect.tapError((e) => Ref.set(lastError, e.message)),
              Effect.retry(Schedule.spaced(retryPeriodMs)),
              Effect.timeoutOption(requestTimeoutMs),
              // The retry only ends at the timeout; this only tells the types so.
              Effect.orElseSucceed(() => Option.none<string>())
            )
            yield* Option.match(done, {
              onSome: (line) => Effect.logInfo(line),
              onNone: () =>
                Effect.flatMap(Ref.get(lastError), (last) =>
                  Effect.logWarning(
                    `service endpoints not removed within ${requestTimeoutMs}ms${
                      last === "" ? "" : ` (${last})`
                    }; the next leader replaces them`
                  ))
            })
          }).pipe(annotate, Effect.withSpan("ServiceEndpoints.remove"))

        const publish = Effect.gen(function*() {
          const state = yield* Ref.make<Publishing>({ written: undefined, failing: undefined })
          // Finalizers run in reverse: the writer is stopped before the removal starts, so nothing is written after it.
          yield* Effect.addFinalizer(() => remove(state))
          yield* Effect.forkScoped(keep(state), { startImmediately: true })
        })

        return ServiceEndpoints.of({ publish, removalBoundMs: requestTimeoutMs })
      })
    )
}
