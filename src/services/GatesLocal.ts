/**
 * Gates checked on this machine: a path exists, a socket or TCP port accepts
 * a connection, a name resolves, a URL answers 2xx, a config template is
 * rendered. Each attempt has its own deadline and is interrupted at once when
 * the wait ends; attempts repeat on a schedule that backs off from 100 ms to
 * every 500 ms, so a gate passes within about half a second of its dependency
 * coming up (these checks are cheap). Node built-ins only.
 */
import { Effect, Result, Schema } from "effect"
import { lookup } from "node:dns/promises"
import { mkdir, readFile, stat, writeFile } from "node:fs/promises"
import { connect, type NetConnectOpts } from "node:net"
import { hostname, networkInterfaces } from "node:os"
import { dirname } from "node:path"
import type { LocalGate, Progress } from "../domain/GateRules.ts"
import { scrub } from "../domain/Redact.ts"
import { renderTemplate, templateValues } from "../domain/Template.ts"
import { cappedBackoff } from "../domain/Time.ts"

/** Not passed yet; `warn` keys a problem worth one warning line (a missing template, a bad interface). */
class NotYet extends Schema.TaggedError<NotYet>()("NotYet", {
  reason: Schema.String,
  warn: Schema.optional(Schema.String)
}) {}

/** 100 ms, 200 ms, 400 ms, then every 500 ms (kubernetes-entrypoint polls every 2 s). */
export const localGateBackoffCapMs = 500
const backoff = cappedBackoff(100, localGateBackoffCapMs)
/** One attempt's deadline: a connect to a black hole, a resolver or a server that never answers. */
const attemptTimeoutMs = 3000

const wording: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOENT: "does not exist",
  EACCES: "permission denied",
  ENOTDIR: "a parent is not a directory",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "does not resolve",
  EAI_AGAIN: "does not resolve (temporary failure)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out"
}

/** An error of node:net, node:fs, node:dns or fetch in a few words (fetch hides the code in `cause`). */
const describe = (e: unknown): string => {
  const codeOf = (x: unknown) =>
    typeof x === "object" && x !== null && "code" in x && typeof x.code === "string" ? x.code : undefined
  const cause = typeof e === "object" && e !== null && "cause" in e ? e.cause : undefined
  const code = codeOf(e) ?? codeOf(cause)
  if (code !== undefined) return wording[code] ?? code
  return e instanceof Error ? e.message : String(e)
}

const withDeadline = <A>(attempt: Effect.Effect<A, NotYet>) =>
  attempt.pipe(Effect.timeoutOrElse({
    duration: attemptTimeoutMs,
    orElse: () => Effect.fail(new NotYet({ reason: `no answer within ${attemptTimeoutMs / 1000}s` }))
  }))

/** A connection opens (TCP, or a unix socket), and is closed again at once. */
const connects = (options: NetConnectOpts) =>
  Effect.callback<void, NotYet>((resume) => {
    const socket = connect(options)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (e) => {
      socket.destroy()
      resume(Effect.fail(new NotYet({ reason: describe(e) })))
    })
    return Effect.sync(() => socket.destroy())
  })

const statOf = (path: string) =>
  Effect.tryPromise({ try: () => stat(path), catch: (e) => new NotYet({ reason: describe(e) }) })

/** The interface's first address, as kubernetes-entrypoint takes it. */
const addressOf = (name: string): Result.Result<string, string> => {
  const addresses = networkInterfaces()[name]
  if (addresses === undefined) return Result.fail(`INTERFACE_NAME: this machine has no interface ${name}`)
  const [first] = addresses
  return first === undefined
    ? Result.fail(`INTERFACE_NAME: interface ${name} has no address`)
    : Result.succeed(first.address)
}

const fromResult = <A>(r: Result.Result<A, string>, warn: string) =>
  Result.match(r, { onSuccess: Effect.succeed, onFailure: (reason) => Effect.fail(new NotYet({ reason, warn })) })

/** Render the template to the path (parents created), as kubernetes-entrypoint does; a missing template stays pending. */
const renderConfig = (gate: Extract<LocalGate, { _tag: "Config" }>) =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(gate.template, "utf8"),
      catch: (e) => new NotYet({ reason: `template ${gate.template} ${describe(e)}`, warn: "template" })
    })
    const ip = yield* fromResult(addressOf(gate.interfaceName), "interface")
    const rendered = yield* fromResult(
      Result.mapError(renderTemplate(text, templateValues(ip, hostname())), (e) => `template ${gate.template}: ${e}`),
      "template"
    )
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(gate.path), { recursive: true })
        await writeFile(gate.path, rendered)
      },
      catch: (e) => new NotYet({ reason: `cannot write ${gate.path}: ${describe(e)}`, warn: "write" })
    })
  })

/** fetch refuses a URL with credentials (and would say so, URL and all): they go as a basic auth header. */
const basicAuth = (text: string): { url: string; headers: Record<string, string> } => {
  const url = new URL(text)
  if (url.username === "" && url.password === "") return { url: text, headers: {} }
  const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  url.username = ""
  url.password = ""
  return { url: url.href, headers: { authorization: `Basic ${Buffer.from(user).toString("base64")}` } }
}

/** One attempt at a local gate, under its deadline (a hung mount, a FIFO, a black hole, a silent server). */
const attempt = (gate: LocalGate): Effect.Effect<void, NotYet> => withDeadline(attemptOnce(gate))

const attemptOnce = (gate: LocalGate): Effect.Effect<void, NotYet> => {
  switch (gate._tag) {
    case "File":
      return Effect.asVoid(statOf(gate.path))
    case "Socket":
      return statOf(gate.path).pipe(
        Effect.flatMap((s) =>
          s.isSocket()
            ? connects({ path: gate.path })
            : Effect.fail(new NotYet({ reason: "exists but is not a socket" }))
        )
      )
    case "Tcp":
      return connects({ host: gate.host, port: gate.port })
    case "Dns":
      return Effect.tryPromise({
        try: () => lookup(gate.name, { all: true }),
        catch: (e) => new NotYet({ reason: describe(e) })
      }).pipe(Effect.asVoid)
    case "Http":
      return Effect.tryPromise({
        try: async (signal) => {
          const { url, headers } = basicAuth(gate.url)
          const res = await fetch(url, { signal, headers })
          await res.body?.cancel()
          return res.status
        },
        // An error may quote the URL.
        catch: (e) => new NotYet({ reason: scrub(describe(e), gate.url) })
      }).pipe(
        Effect.flatMap((status) =>
          status >= 200 && status < 300 ? Effect.void : Effect.fail(new NotYet({ reason: `HTTP ${status}` }))
        )
      )
    case "Config":
      return renderConfig(gate)
  }
}

/** Check one local gate until it passes; it never fails (problems are its pending reason). */
export const checkLocalGate = (gate: LocalGate, progress: Progress): Effect.Effect<void> =>
  attempt(gate).pipe(
    Effect.tapError((e) =>
      Effect.andThen(progress.pending(e.reason), e.warn === undefined ? Effect.void : progress.warn(e.warn, e.reason))
    ),
    Effect.retry(backoff),
    // The retry never gives up; this only tells the types so.
    Effect.orDie
  )
