/** Wiring for a real run: the Kubernetes API, a real child process, real signals, the health server. */
import { Layer } from "effect"
import type { Settings } from "../domain/Settings.ts"
import { ChildSupervisor } from "../services/ChildSupervisor.ts"
import { Elector } from "../services/Elector.ts"
import { HealthServer } from "../services/HealthServer.ts"
import { HelperProcesses } from "../services/HelperProcesses.ts"
import { KubeClient } from "../services/KubeClient.ts"
import { LeaseStore } from "../services/LeaseStore.ts"
import { Reaper } from "../services/Reaper.ts"
import { Signals } from "../services/Signals.ts"

/** Every API call is bounded; a hung call gives up well inside the renew deadline. */
export const requestTimeoutMs = (s: Settings) => Math.min(5000, Math.max(250, Math.floor(s.renewDeadlineMs / 2)))

export const electorLayer = (s: Settings) =>
  Elector.layer({
    identity: s.identity,
    namespace: s.namespace,
    leaseName: s.leaseName,
    command: s.command,
    leaseDurationMs: s.leaseDurationMs,
    renewDeadlineMs: s.renewDeadlineMs,
    retryPeriodMs: s.retryPeriodMs,
    reelectAfterMs: s.reelectAfterMs ?? undefined,
    baseline: s.baseline
  }).pipe(
    Layer.provide(Layer.mergeAll(
      LeaseStore.layer({ namespace: s.namespace, name: s.leaseName, requestTimeoutMs: requestTimeoutMs(s) }).pipe(
        Layer.provide(KubeClient.layer.pipe(Layer.provide(HelperProcesses.layer)))
      ),
      ChildSupervisor.layer({ stopGraceMs: s.stopGraceMs }).pipe(Layer.provide(Reaper.layer)),
      Signals.layer
    ))
  )

/** The elector together with the health server that reports on it. */
export const live = (s: Settings) => HealthServer.layer(s.listen).pipe(Layer.provideMerge(electorLayer(s)))
