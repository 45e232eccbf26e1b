/**
 * just-one-init [options] -- <command> [args...]
 *
 * Parse settings (one line and exit 2 when bad), bring up the health server,
 * wait for the gates, then run the elector (or the command alone, with the
 * election off) until it says exit, and answer its code. `main` reads nothing at import time, so
 * a bundle (or a startup snapshot) can load this module before the process's
 * own argv and environment exist.
 */
import { Cause, Effect, Exit, Result } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { otelPlan } from "./domain/Otel.ts"
import type { Settings } from "./domain/Settings.ts"
import { formatDuration, parseInvocation, shortenedTimings, timingsOf, usage } from "./domain/Settings.ts"
import { inClusterNamespace } from "./kube/KubeClient.ts"
import { direct, electing } from "./layers/Live.ts"
import { logging } from "./layers/Logging.ts"
import { tracing } from "./layers/Tracing.ts"
import { forwardedSignals } from "./services/ChildSupervisor.ts"
import { Direct } from "./services/Direct.ts"
import { Elector } from "./services/Elector.ts"
import { Gates, waitTimeoutExitCode } from "./services/Gates.ts"
import { Signals } from "./services/Signals.ts"

declare const __VERSION__: string
export const version = typeof __VERSION__ === "string" ? __VERSION__ : "dev"

const fail = (line: string, code: number): number => {
  process.stderr.write(`just-one-init: ${line}\n`)
  return code
}

/** The run itself, on the layers its settings call for: the gates first, then the election or the command. */
const run = (settings: Settings, signals: ReturnType<typeof Signals.install>) => {
  const { command, election } = settings
  /** `next` once every gate has passed; 0 after a stop signal, or with no command (an init container). */
  const gated = <R>(next: Effect.Effect<number, never, R>) =>
    Effect.flatMap(Gates, (g) => g.wait).pipe(
      Effect.flatMap((outcome) => (outcome === "Stopped" || command.length === 0 ? Effect.succeed(0) : next)),
      Effect.catchTag("GatesTimedOut", (e) => Effect.sync(() => fail(e.message, waitTimeoutExitCode)))
    )
  if (election === null || command.length === 0) {
    return gated(Effect.flatMap(Direct, (d) => d.run(command))).pipe(Effect.provide(direct(settings, signals)))
  }
  // This process's incarnation: what tells it apart from another process with the same identity.
  const incarnation = randomUUID()
  const shortened = shortenedTimings(settings)
  // Timings chosen shorter than the documented defaults are said once, so that nobody has to guess them.
  const said = shortened.length === 0 ? Effect.void : Effect.logInfo(
    `timings chosen to fit --lease-duration ${formatDuration(election.leaseDurationMs)}: ${shortened.join(", ")}`
  ).pipe(Effect.annotateLogs(timingsOf(settings)))
  return Effect.andThen(said, gated(Effect.flatMap(Elector, (e) => e.run))).pipe(
    Effect.provide(electing(settings, election, incarnation, signals))
  )
}

/** Run the wrapper; resolves with the process's exit code. */
export const main = async (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Promise<number> => {
  // Stop signals are listened for before anything else, so none is lost while the wrapper starts.
  const signals: ReturnType<typeof Signals.install> = Signals.install()
  // Signals that are passed to a running child must never kill the wrapper itself (a follower has no child).
  for (const s of forwardedSignals) process.on(s, () => {})

  const invocation = parseInvocation(argv, env, { hostname: hostname(), inClusterNamespace: inClusterNamespace() })
  if (Result.isFailure(invocation)) return fail(invocation.failure.message, 2)
  switch (invocation.success._tag) {
    case "Help":
      process.stdout.write(`${usage(version)}\n`)
      return 0
    case "Version":
      process.stdout.write(`${version}\n`)
      return 0
    case "Timeline":
      return (await import("./Timeline.ts")).timeline(invocation.success.files)
    case "Handover":
      return (await import("./Handover.ts")).handover(invocation.success, env)
    case "Run": {
      const settings = invocation.success.settings
      const traces = otelPlan(env, { serviceVersion: version, instance: settings.identity })
      if (traces._tag === "Invalid") return fail(traces.message, 2)
      const exit = await Effect.runPromiseExit(
        run(settings, signals).pipe(
          Effect.provide(tracing(traces)),
          // Every line names its replica, so that the logs of several can be merged (just-one-init timeline).
          Effect.annotateLogs({ identity: settings.identity }),
          Effect.provide(logging(settings.log, process.stderr.isTTY === true))
        )
      )
      if (Exit.isSuccess(exit)) return exit.value
      const error = Cause.squash(exit.cause)
      return fail(
        typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error),
        2
      )
    }
  }
}
