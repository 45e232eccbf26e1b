/**
 * Tokens from a kubeconfig exec credential plugin (`users[].user.exec`), the
 * way clusters are reached from outside (cloud CLIs, OIDC helpers).
 *
 * We run the plugin ourselves: client-node 2.0.1's ExecAuth spawns one per
 * uncached lookup with no deadline, no sharing between concurrent lookups and
 * no handle on the process (its `execFn` hook only replaces spawn, it cannot
 * tie a process to the lookup that timed out), and its errors quote the
 * plugin's stdout (JSON.parse messages), where the token is. Its cache rule is
 * kept: a token is reused until its expirationTimestamp, or for good without one.
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { Clock, Effect, Exit, Option, Ref, Schema, Semaphore } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { parseJson } from "../domain/Wire.ts"
import { HelperProcesses } from "../services/HelperProcesses.ts"

/** `users[].user.exec` as client-node loads it (other fields, such as interactiveMode, do not matter here). */
const ExecConfig = Schema.Struct({
  command: Schema.NonEmptyString,
  args: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  env: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ name: Schema.String, value: Schema.String })))),
  apiVersion: Schema.optional(Schema.String)
})
export type ExecConfig = typeof ExecConfig.Type

/** What a plugin prints: an ExecCredential, of which only the status matters. */
const ExecCredential = Schema.Struct({
  status: Schema.Struct({
    token: Schema.optional(Schema.String),
    expirationTimestamp: Schema.optional(Schema.String),
    clientCertificateData: Schema.optional(Schema.String)
  })
})
const decodeCredential = Schema.decodeUnknownOption(ExecCredential)

/** Its messages name the plugin and say what went wrong, never what it printed on stdout. */
export class ExecCredentialError extends Schema.TaggedError<ExecCredentialError>()("ExecCredentialError", {
  message: Schema.String
}) {}

/**
 * Take the current user's exec plugin out of `kc`, where client-node would run it on every
 * applyToHTTPSOptions, so that only makeExecCredentials runs it. undefined when there is none.
 */
export const takeExecPlugin = (kc: KubeConfig): Effect.Effect<ExecConfig | undefined, ExecCredentialError> => {
  const user = kc.getCurrentUser()
  const raw: unknown = user?.exec ?? user?.authProvider?.config?.exec
  if (user === null || raw === undefined || raw === null) return Effect.succeed(undefined)
  kc.users = kc.users.map((u) => (u === user ? { ...u, exec: undefined, authProvider: undefined } : u))
  return Schema.decodeUnknownEffect(ExecConfig)(raw).pipe(
    Effect.mapError(() =>
      new ExecCredentialError({ message: `the exec credential plugin of user ${user.name} has no command` })
    )
  )
}

interface Credential {
  readonly token: string
  /** Epoch ms; undefined = never expires. */
  readonly expiresAt: number | undefined
}

/** More than any ExecCredential needs; beyond it the plugin is killed. */
const maxOutputBytes = 1 << 20
/** A SIGKILLed process is gone at once; this only bounds waiting for one stuck in the kernel. */
const exitWaitMs = 1000

/**
 * A token source for one plugin. `token` runs at most one plugin at a time:
 * concurrent callers queue for the one permit and find the token the first
 * one fetched. Interrupting a caller (its deadline) SIGKILLs the plugin's
 * whole process group and waits for it to exit, so nothing of it outlives the deadline.
 */
export const makeExecCredentials = Effect.fn("ExecCredentials.make")(function*(exec: ExecConfig) {
  const helpers = yield* HelperProcesses
  const permit = yield* Semaphore.make(1)
  const cached = yield* Ref.make(Option.none<Credential>())
  const name = exec.command
  const fail = (what: string) => new ExecCredentialError({ message: `credential plugin ${name} ${what}` })
  const env = {
    ...process.env,
    ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])),
    // What client-go tells a plugin: no terminal to ask on.
    ...(exec.apiVersion === undefined ? {} : {
      KUBERNETES_EXEC_INFO: JSON.stringify({
        apiVersion: exec.apiVersion,
        kind: "ExecCredential",
        spec: { interactive: false }
      })
    })
  }

  const start = Effect.try({
    try: () => {
      const child = spawn(exec.command, exec.args ?? [], { env, stdio: ["ignore", "pipe", "pipe"], detached: true })
      helpers.trackUnsafe(child)
      return child
    },
    catch: (cause) => fail(`could not be started: ${cause instanceof Error ? cause.message : String(cause)}`)
  })

  const stop = (child: ChildProcess) =>
    Effect.callback<void>((resume) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        child.kill("SIGKILL")
      }
    }).pipe(Effect.interruptible, Effect.timeoutOption(exitWaitMs), Effect.asVoid)

  const answer = (child: ChildProcess) =>
    Effect.callback<Credential, ExecCredentialError>((resume) => {
      const out: Array<Buffer> = []
      let outBytes = 0
      let err = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        outBytes += chunk.length
        if (outBytes > maxOutputBytes) resume(Effect.fail(fail(`printed more than ${maxOutputBytes} bytes`)))
        else out.push(chunk)
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        err = (err + chunk.toString("utf8")).slice(-4096)
      })
      child.once("error", (e) => resume(Effect.fail(fail(`could not be started: ${e.message}`))))
      child.once("close", (code, signal) => {
        if (code !== 0) {
          const why = code === null ? `was killed by ${signal}` : `exited with code ${code}`
          return resume(Effect.fail(fail(`${why}${lastLine(err)}`)))
        }
        resume(Clock.currentTimeMillis.pipe(Effect.flatMap((now) => parse(Buffer.concat(out).toString("utf8"), now))))
      })
    })

  const parse = (stdout: string, now: number): Effect.Effect<Credential, ExecCredentialError> => {
    const status = Option.getOrUndefined(Option.flatMap(parseJson(stdout), decodeCredential))?.status
    if (status === undefined) return Effect.fail(fail("printed no ExecCredential"))
    if (status.token === undefined || status.token === "") {
      return Effect.fail(fail(
        status.clientCertificateData === undefined
          ? "printed no status.token"
          : "printed a client certificate; just-one-init supports tokens only"
      ))
    }
    const expiresAt = status.expirationTimestamp === undefined ? undefined : Date.parse(status.expirationTimestamp)
    // client-node's rule: an unparsable expiry counts as expired (NaN > now is false).
    return Effect.succeed({ token: status.token, expiresAt: Number.isNaN(expiresAt) ? now : expiresAt })
  }

  /** One run: killed with its group unless it answered. */
  const run = Effect.acquireUseRelease(
    start,
    answer,
    (child, exit) => (Exit.isSuccess(exit) ? Effect.void : stop(child))
  )

  const token: Effect.Effect<string, ExecCredentialError> = permit.withPermit(
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = Option.getOrUndefined(yield* Ref.get(cached))
      if (current !== undefined && (current.expiresAt === undefined || current.expiresAt > now)) return current.token
      const fresh = yield* run
      yield* Ref.set(cached, Option.some(fresh))
      return fresh.token
    })
  )
  return { token }
})

/** The plugin's last word on stderr, as kubectl would show it: one printable line, bounded. */
const lastLine = (stderr: string): string => {
  const line = stderr.split("\n").map((l) => l.replace(/[^\x20-\x7e]/g, "").trim()).filter((l) => l !== "").at(-1)
  return line === undefined ? "" : `: ${line.slice(0, 200)}`
}
