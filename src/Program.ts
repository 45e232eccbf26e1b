/**
 * just-one-init [options] -- <command> [args...]
 *
 * Parse settings (one line and exit 2 when bad), bring up the health server
 * and the elector, run until the elector says exit, and answer its code.
 * `main` reads nothing at import time, so a bundle (or a startup snapshot)
 * can load this module before the process's own argv and environment exist.
 */
import { Cause, Effect, Exit, Logger, Result } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { parseInvocation, usage } from "./domain/Settings.ts"
import { live } from "./layers/Live.ts"
import { forwardedSignals } from "./services/ChildSupervisor.ts"
import { Elector } from "./services/Elector.ts"
import { inClusterNamespace } from "./services/KubeClient.ts"
import { Signals } from "./services/Signals.ts"

declare const __VERSION__: string
export const version = typeof __VERSION__ === "string" ? __VERSION__ : "dev"

const fail = (line: string, code: number): number => {
  process.stderr.write(`just-one-init: ${line}\n`)
  return code
}

/** Run the wrapper; resolves with the process's exit code. */
export const main = async (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Promise<number> => {
  // Stop signals are listened for before anything else, so none is lost while the wrapper starts.
  const signals = Signals.install()
  // Signals that are passed to a running child must never kill the wrapper itself (a follower has no child).
  for (const s of forwardedSignals) process.on(s, () => {})

  const invocation = parseInvocation(argv, env, { hostname: hostname(), inClusterNamespace: inClusterNamespace() })
  if (Result.isFailure(invocation)) return fail(invocation.failure.message, 2)
  if (invocation.success._tag === "Help") {
    process.stdout.write(`${usage(version)}\n`)
    return 0
  }
  if (invocation.success._tag === "Version") {
    process.stdout.write(`${version}\n`)
    return 0
  }
  const settings = invocation.success.settings
  const logger = Logger.layer([Logger.withConsoleError(Logger.formatJson)])
  // This process's incarnation: what tells it apart from another process with the same identity.
  const incarnation = randomUUID()
  const program = Effect.flatMap(Elector, (elector) => elector.run).pipe(
    Effect.provide(live(settings, incarnation, signals)),
    Effect.provide(logger)
  )

  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause)
  const message = typeof error === "object" && error !== null && "message" in error
    ? String(error.message)
    : String(error)
  return fail(message, 2)
}
