/**
 * Kubernetes Events on the Lease (--events), as client-go's leader election
 * records them through its event recorder: "<identity> became leader" and
 * "<identity> stopped leading", reason LeaderElection, type Normal, on the
 * Lease. Fire and forget: events are taken from Telemetry's bounded feed by
 * one fiber of their own, so a slow, failing or forbidden API never holds up
 * the election; a failure is a warning once (a 403 names the missing rule),
 * then debug lines until a write succeeds again. On the way out, what is
 * being written and what is left are given one request deadline in all.
 */
import { Clock, Context, Effect, Fiber, Layer, PubSub, Ref } from "effect"
import { KubeClient } from "../kube/KubeClient.ts"
import { kubeFields } from "../kube/KubeError.ts"
import { sayOnce } from "../kube/SayOnce.ts"
import type { Transition } from "./Telemetry.ts"
import { Telemetry } from "./Telemetry.ts"

export interface LeaseEventsConfig {
  readonly namespace: string
  readonly leaseName: string
  readonly identity: string
  readonly nodeName: string | null
  readonly requestTimeoutMs: number
}

/** client-go's record.EventRecorder fields for a leader election event (tools/record/event.go makeEvent). */
const eventFor = (c: LeaseEventsConfig, t: Transition, nowMs: number, seq: number) => {
  const action = t.to === "Leader" ? "became leader" : "stopped leading"
  const stamp = new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace(".000Z", "Z")
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      // client-go: "<object name>.<UnixNano in hex>"; seq keeps two events of one millisecond apart.
      name: `${c.leaseName}.${(BigInt(nowMs) * 1_000_000n + BigInt(seq % 1_000_000)).toString(16)}`,
      namespace: c.namespace,
      annotations: { "just-one-init/reason": t.reason.slice(0, 1000), "just-one-init/reason-code": t.reasonCode }
    },
    involvedObject: {
      kind: "Lease",
      namespace: c.namespace,
      name: c.leaseName,
      apiVersion: "coordination.k8s.io/v1",
      ...(t.leaseUid === null ? {} : { uid: t.leaseUid }),
      ...(t.resourceVersion === null ? {} : { resourceVersion: t.resourceVersion })
    },
    reason: "LeaderElection",
    message: `${c.identity} ${action}`,
    source: { component: "just-one-init", ...(c.nodeName === null ? {} : { host: c.nodeName }) },
    firstTimestamp: stamp,
    lastTimestamp: stamp,
    count: 1,
    type: "Normal",
    reportingComponent: "just-one-init",
    reportingInstance: c.identity
  }
}

/** Only leadership changes make an Event. */
const isLeadershipChange = (t: Transition) => t.to === "Leader" || t.from === "Leader"

export class LeaseEvents extends Context.Service<LeaseEvents, {
  /** Record the Event a transition calls for, if any; never fails. */
  record(t: Transition): Effect.Effect<void>
}>()("just-one-init/LeaseEvents") {
  static readonly layer = (config: LeaseEventsConfig) =>
    Layer.effect(
      LeaseEvents,
      Effect.gen(function*() {
        const kube = yield* KubeClient
        const telemetry = yield* Telemetry
        const path = `/api/v1/namespaces/${config.namespace}/events`
        const access = {
          what: `events in namespace ${config.namespace}`,
          needs: "--events needs create on events in the Role (see k8s/role.yaml); the election is not affected"
        }
        const say = yield* sayOnce
        const seq = yield* Ref.make(0)

        const record = (t: Transition) =>
          Effect.gen(function*() {
            if (!isLeadershipChange(t)) return
            const body = eventFor(config, t, yield* Clock.currentTimeMillis, yield* Ref.getAndUpdate(seq, (n) => n + 1))
            yield* kube.request({
              method: "POST",
              path,
              body,
              timeoutMs: config.requestTimeoutMs,
              verb: "create",
              access
            })
            yield* say.ok
          }).pipe(
            Effect.catch((e) => say.problem(e.message, e.message, kubeFields(e))),
            Effect.withSpan("LeaseEvents.record")
          )

        const feed = yield* telemetry.subscribe
        // An event being written is finished (its request has a deadline) before the fiber stops.
        const writer = yield* Effect.forkScoped(
          Effect.forever(Effect.flatMap(PubSub.take(feed), (t) => Effect.uninterruptible(record(t))))
        )
        // Added after the fork, so run before its interruption: on the way out, "stopped leading" is still
        // recorded. The event being written, then what is left in the feed, all within one request deadline.
        yield* Effect.addFinalizer(() =>
          Fiber.interrupt(writer).pipe(
            Effect.andThen(PubSub.takeUpTo(feed, 16)),
            Effect.flatMap((left) => Effect.forEach(left, record, { discard: true })),
            // Finalizers run uninterruptibly: the deadline must be able to cut this short.
            Effect.interruptible,
            Effect.timeoutOption(config.requestTimeoutMs)
          )
        )
        return LeaseEvents.of({ record })
      })
    )
}
