/**
 * One run of a kubeconfig exec credential plugin (`users[].user.exec`) as a
 * process: spawned detached (its own process group) with what client-go tells
 * a plugin, bounded by its own deadline, finished when it exits and its output
 * has drained (not when its pipes close: a process it left may hold them for
 * ever), then its group killed and its pipes closed however it ended. What it
 * printed is read as an ExecCredential; errors name the plugin and never quote
 * its stdout, where the token is.
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { Clock, Effect, Option, Schema } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { parseJson } from "../domain/Wire.ts"
import type { HelperProcesses } from "../services/HelperProcesses.ts"

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

export interface Credential {
  readonly token: string
  /** Epoch ms; undefined = never expires. */
  readonly expiresAt: number | undefined
  /** The API server answered 401 to it. */
  readonly rejected: boolean
}

/** After the plugin exited, how long its last output may take to come through the pipe. */
const drainMs = 200
/** More than any ExecCredential needs; beyond it the run fails. */
const maxOutputBytes = 1 << 20
/** A SIGKILLed process is gone at once; this only bounds waiting for one stuck in the kernel. */
const exitWaitMs = 1000

/** Run the plugin once, for at most `timeoutMs`. */
export const runPlugin = (
  exec: ExecConfig,
  helpers: HelperProcesses["Service"],
  timeoutMs: number
): Effect.Effect<Credential, ExecCredentialError> => {
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

  /** Always, however the run ended: its group killed (the plugin, or what it left), its pipes closed. */
  const stop = (child: ChildProcess) =>
    Effect.callback<void>((resume) => {
      child.stdout?.destroy()
      child.stderr?.destroy()
      const exited = child.exitCode !== null || child.signalCode !== null
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // The group is empty: nothing was left behind.
        }
      }
      if (exited || child.pid === undefined) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
    }).pipe(Effect.interruptible, Effect.timeoutOption(exitWaitMs), Effect.asVoid)

  /** What the plugin printed, once it exited and its output drained (or the drain ran out). */
  const answer = (child: ChildProcess) =>
    Effect.callback<Credential, ExecCredentialError>((resume) => {
      const out: Array<Buffer> = []
      let outBytes = 0
      let err = ""
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
      let drained = false
      let timer: NodeJS.Timeout | undefined
      const finish = () => {
        if (exit === undefined) return
        clearTimeout(timer)
        if (exit.code !== 0) {
          const why = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`
          return resume(Effect.fail(fail(`${why}${lastLine(err)}`)))
        }
        const stdout = Buffer.concat(out).toString("utf8")
        resume(Effect.flatMap(Clock.currentTimeMillis, (now) => parse(stdout, now)))
      }
      child.stdout!.on("data", (chunk: Buffer) => {
        outBytes += chunk.length
        if (outBytes > maxOutputBytes) resume(Effect.fail(fail(`printed more than ${maxOutputBytes} bytes`)))
        else out.push(chunk)
      })
      child.stdout!.once("end", () => {
        drained = true
        finish()
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        err = (err + chunk.toString("utf8")).slice(-4096)
      })
      child.once("error", (e) => resume(Effect.fail(fail(`could not be started: ${e.message}`))))
      child.once("exit", (code, signal) => {
        exit = { code, signal }
        // A process it left may hold stdout open for ever: the pipe gets a moment to deliver what was printed.
        if (drained) finish()
        else timer = setTimeout(finish, drainMs)
      })
      return Effect.sync(() => clearTimeout(timer))
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
    return Effect.succeed({
      token: status.token,
      expiresAt: Number.isNaN(expiresAt) ? now : expiresAt,
      rejected: false
    })
  }

  return Effect.acquireUseRelease(
    start,
    (child) =>
      answer(child).pipe(Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () => Effect.fail(fail(`gave no credential within ${timeoutMs}ms`))
      })),
    stop
  )
}

/** The plugin's last word on stderr, as kubectl would show it: one printable line, bounded. */
const lastLine = (stderr: string): string => {
  const line = stderr.split("\n").map((l) => l.replace(/[^\x20-\x7e]/g, "").trim()).filter((l) => l !== "").at(-1)
  return line === undefined ? "" : `: ${line.slice(0, 200)}`
}
