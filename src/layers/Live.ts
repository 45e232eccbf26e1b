/** Wiring for a real run: the Kubernetes API, a real child process, real signals, the health server. */
import { Layer } from "effect"
import type { Settings } from "../domain/Settings.ts"
import { ChildSupervisor } from "../services/ChildSupervisor.ts"
import type { ElectorConfig } from "../services/Elector.ts"
import { Elector } from "../services/Elector.ts"
import { HealthServer } from "../services/HealthServer.ts"
import { HelperProcesses } from "../services/HelperProcesses.ts"
import { KubeClient } from "../services/KubeClient.ts"
import { Leadership } from "../services/Leadership.ts"
import { LeaseCommands } from "../services/LeaseCommands.ts"
import { LeaseStore } from "../services/LeaseStore.ts"
import { LeaseWatch } from "../services/LeaseWatch.ts"
import { ProcessTree } from "../services/ProcessTree.ts"
import { Reaper } from "../services/Reaper.ts"
import type { Signals } from "../services/Signals.ts"

/** Every API call is bounded; a hung call gives up well inside the renew deadline. */
export const requestTimeoutMs = (s: Settings) => Math.min(5000, Math.max(250, Math.floor(s.renewDeadlineMs / 2)))

/** The elector with its parts, on whatever LeaseStore, ChildSupervisor and Signals it is given (live or test). */
export const electorStack = (config: ElectorConfig) =>
  Elector.layer(config).pipe(
    Layer.provide(Layer.mergeAll(
      LeaseCommands.layer(config),
      LeaseWatch.layer(config),
      Leadership.layer
    ))
  )

export const electorConfig = (s: Settings, incarnation: string): ElectorConfig => ({
  identity: s.identity,
  incarnation,
  namespace: s.namespace,
  leaseName: s.leaseName,
  command: s.command,
  leaseDurationMs: s.leaseDurationMs,
  renewDeadlineMs: s.renewDeadlineMs,
  retryPeriodMs: s.retryPeriodMs,
  stopGraceMs: s.stopGraceMs,
  reelectAfterMs: s.reelectAfterMs ?? undefined,
  baseline: s.baseline
})

/** The elector and the health server that reports on it, with the stop signals already being listened for. */
export const live = (s: Settings, incarnation: string, signals: Layer.Layer<Signals>) => {
  const processes = Layer.mergeAll(Reaper.layer, ProcessTree.layer, HelperProcesses.layer)
  const elector = electorStack(electorConfig(s, incarnation)).pipe(
    Layer.provide(Layer.mergeAll(
      LeaseStore.layer({ namespace: s.namespace, name: s.leaseName, requestTimeoutMs: requestTimeoutMs(s) }).pipe(
        Layer.provide(KubeClient.layer)
      ),
      ChildSupervisor.layer({ stopGraceMs: s.stopGraceMs }),
      signals
    )),
    Layer.provide(processes)
  )
  return HealthServer.layer(s.listen).pipe(Layer.provideMerge(elector))
}
