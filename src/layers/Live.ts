/**
 * Wiring for a real run. What is built depends on the settings: the Kubernetes
 * client only when something needs the API (the election, or a gate), the
 * elector only with the election on; the gates, the child's supervision, the
 * status board and the health server always.
 */
import { Layer } from "effect"
import { needsApi } from "../domain/GateRules.ts"
import type { Election, Settings } from "../domain/Settings.ts"
import { timingsOf } from "../domain/Settings.ts"
import { timing } from "../domain/Timings.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import { ChildSupervisor } from "../services/ChildSupervisor.ts"
import { Direct } from "../services/Direct.ts"
import type { ElectorConfig } from "../services/Elector.ts"
import { Elector } from "../services/Elector.ts"
import { Gates } from "../services/Gates.ts"
import { HealthServer } from "../services/HealthServer.ts"
import { HelperProcesses } from "../services/HelperProcesses.ts"
import { Leadership } from "../services/Leadership.ts"
import { LeaseCommands } from "../services/LeaseCommands.ts"
import { LeaseEvents } from "../services/LeaseEvents.ts"
import { LeaseStore } from "../services/LeaseStore.ts"
import { LeaseWatch } from "../services/LeaseWatch.ts"
import { ProcessTree } from "../services/ProcessTree.ts"
import { Reaper } from "../services/Reaper.ts"
import { ServiceEndpoints } from "../services/ServiceEndpoints.ts"
import type { Signals } from "../services/Signals.ts"
import { StatusBoard } from "../services/StatusBoard.ts"
import { Telemetry } from "../services/Telemetry.ts"

/** Every API call is bounded; a hung call gives up well inside the renew deadline. */
export const requestTimeoutMs = (e: Election) => Math.min(5000, Math.max(250, Math.floor(e.renewDeadlineMs / 2)))

/** The elector with its parts, on whatever LeaseStore, Leadership, Signals and StatusBoard it is given (live or test). */
export const electorStack = (config: ElectorConfig) =>
  Elector.layer(config).pipe(Layer.provide(Layer.mergeAll(LeaseCommands.layer(config), LeaseWatch.layer)))

export const electorConfig = (s: Settings, e: Election, incarnation: string): ElectorConfig => ({
  ...timing({
    identity: s.identity,
    incarnation,
    leaseDurationMs: e.leaseDurationMs,
    renewDeadlineMs: e.renewDeadlineMs,
    retryPeriodMs: e.retryPeriodMs,
    stopGraceMs: s.stopGraceMs,
    reelectAfterMs: e.reelectAfterMs ?? undefined
  }),
  namespace: s.namespace,
  leaseName: e.leaseName,
  command: s.command
})

/** The processes the wrapper knows of, and the stop signals: below everything else. */
const foundation = (signals: Layer.Layer<Signals>) =>
  Layer.mergeAll(Reaper.layer, ProcessTree.layer, HelperProcesses.layer, signals)

/** What every run has: the status board and its health server, the child's supervision. */
const supervision = (s: Settings) => {
  // An elected child is started on a handover, when every millisecond counts: its child-init is spawned ahead.
  const ahead = s.election === null || s.command.length === 0 ? undefined : s.command
  const leadership = Leadership.layer.pipe(
    Layer.provide(ChildSupervisor.layer({ stopGraceMs: s.stopGraceMs, ...(ahead === undefined ? {} : { ahead }) }))
  )
  const board = Layer.merge(StatusBoard.layer, Telemetry.layer)
  const health = HealthServer.layer(s.listen, s.statusStyle, { timings: timingsOf(s) })
  return Layer.mergeAll(leadership, health.pipe(Layer.provide(board)), board)
}

/** Service mode's endpoints, only when a Service is named; the elector publishes them in each term. */
const endpoints = (s: Settings, e: Election) =>
  e.service === null ? Layer.empty : ServiceEndpoints.layer({
    service: e.service,
    podName: s.podName,
    podNamespace: s.namespace,
    retryPeriodMs: e.retryPeriodMs,
    requestTimeoutMs: requestTimeoutMs(e)
  })

/** Deadline of each gate's API request, with the election on or off. */
const gateRequestTimeoutMs = 5000

/** The gates, checked through the Kubernetes client when the wiring provides one. */
const gating = (s: Settings) =>
  Gates.layer({
    gates: s.gates,
    waitTimeoutMs: s.waitTimeoutMs,
    self: { namespace: s.namespace, podName: s.podName, nodeName: s.nodeName },
    // Gates come before the election: their lists need not fit in the renew deadline, only not hang.
    requestTimeoutMs: gateRequestTimeoutMs
  })

/**
 * The election on: the Kubernetes client, the Lease, the gates, the Service's endpoints when asked
 * for, and the elector. The client is built before the health server, so that an unusable
 * configuration is one line and nothing else.
 */
export const electing = (s: Settings, e: Election, incarnation: string, signals: Layer.Layer<Signals>) =>
  Layer.mergeAll(electorStack(electorConfig(s, e, incarnation)), events(s, e), gating(s)).pipe(
    Layer.provide(Layer.mergeAll(
      LeaseStore.layer({
        namespace: s.namespace,
        name: e.leaseName,
        requestTimeoutMs: requestTimeoutMs(e),
        retryPeriodMs: e.retryPeriodMs
      }),
      endpoints(s, e)
    )),
    Layer.provideMerge(supervision(s)),
    Layer.provideMerge(KubeClient.layer),
    Layer.provideMerge(foundation(signals))
  )

/** Kubernetes Events on the Lease, with --events. */
const events = (s: Settings, e: Election) =>
  s.events
    ? LeaseEvents.layer({
      namespace: s.namespace,
      leaseName: e.leaseName,
      identity: s.identity,
      nodeName: s.nodeName,
      requestTimeoutMs: requestTimeoutMs(e)
    })
    : Layer.empty

/**
 * The election off (or no command): the gates, then the command alone, supervised. The Kubernetes
 * client only when a gate needs it, built before the health server as above.
 */
export const direct = (s: Settings, signals: Layer.Layer<Signals>) =>
  Layer.merge(Direct.layer, gating(s)).pipe(
    Layer.provideMerge(supervision(s)),
    Layer.provideMerge(s.gates.some(needsApi) ? KubeClient.layer : Layer.empty),
    Layer.provideMerge(foundation(signals))
  )
