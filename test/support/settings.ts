/** Parse an invocation the way the tests of settings and gates need it. */
import { Result } from "effect"
import { parseInvocation } from "../../src/domain/Settings.ts"

export const host = { hostname: "pod-a", inClusterNamespace: undefined }
export const run = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => parseInvocation(argv, env, host)

export const settingsOf = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = run(argv, env)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  if (r.success._tag !== "Run") throw new Error(r.success._tag)
  return r.success.settings
}

export const electionOf = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const election = settingsOf(argv, env).election
  if (election === null) throw new Error("the election is off")
  return election
}

export const errorOf = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = run(argv, env)
  if (Result.isSuccess(r)) throw new Error(`expected an error, got ${JSON.stringify(r.success)}`)
  return r.failure
}

/** An error's message must be one line that names something. */
export const oneLine = (message: string) => message.length > 0 && !message.includes("\n") && message.length < 600
