/**
 * just-one-init [options] -- <command> [args...]
 *
 * Parse settings (one line and exit 2 when bad), bring up the health server
 * and the elector, run until the elector says exit, and exit with its code.
 */
import { Cause, Effect, Exit, Logger, Result } from "effect"
import { hostname } from "node:os"
import { parseInvocation, usage } from "./domain/Settings.ts"
import { live } from "./layers/Live.ts"
import { forwardedSignals } from "./services/ChildSupervisor.ts"
import { Elector } from "./services/Elector.ts"
import { inClusterNamespace } from "./services/KubeClient.ts"

declare const __VERSION__: string
const version = typeof __VERSION__ === "string" ? __VERSION__ : "dev"

const fatal = (line: string, code: number): never => {
  process.stderr.write(`just-one-init: ${line}\n`)
  process.exit(code)
}

// Stop signals are handled by the elector; until it runs, they must not kill us half-started.
const early = () => {
  process.exitCode = 143
}
process.on("SIGTERM", early)
process.on("SIGINT", early)
// Signals that are passed to a running child must never kill the wrapper itself (a follower has no child).
for (const s of forwardedSignals) process.on(s, () => {})

const invocation = parseInvocation(process.argv.slice(2), process.env, {
  hostname: hostname(),
  inClusterNamespace: inClusterNamespace()
})
if (Result.isFailure(invocation)) fatal(invocation.failure.message, 2)
else if (invocation.success._tag === "Help") process.stdout.write(`${usage(version)}\n`)
else if (invocation.success._tag === "Version") process.stdout.write(`${version}\n`)
else {
  const settings = invocation.success.settings
  const logger = Logger.layer([Logger.withConsoleError(Logger.formatJson)])
  const program = Effect.gen(function*() {
    process.off("SIGTERM", early)
    process.off("SIGINT", early)
    if (process.exitCode === 143) return 143
    const elector = yield* Elector
    return yield* elector.run
  }).pipe(Effect.provide(live(settings)), Effect.provide(logger))

  Effect.runPromiseExit(program).then((exit) => {
    if (Exit.isSuccess(exit)) process.exit(exit.value)
    const error = Cause.squash(exit.cause)
    const message = typeof error === "object" && error !== null && "message" in error
      ? String(error.message)
      : String(error)
    fatal(message, 2)
  })
}
