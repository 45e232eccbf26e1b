/**
 * Command-line and environment settings: one pure function from argv + env to
 * either a validated `Settings` or one `SettingsError` line. The candidate
 * texts of every option (Options.ts) go through one schema, `SettingsFromRaw`,
 * which parses them and checks every rule; its first issue is the line. No I/O
 * here, so every rule can be property-tested without starting a process.
 */
import { Effect, Result, Schema, SchemaGetter } from "effect"
import type { SchemaIssue } from "effect"
import { type Args, SettingsError, splitArgv } from "./Argv.ts"
import { ElectionFromRaw } from "./ElectionSettings.ts"
import { parseGates } from "./Gates.ts"
import { dependencyJson, dependencyLists } from "./GateText.ts"
import { parseHandover } from "./HandoverArgs.ts"
import { candidates, type Env } from "./Options.ts"
import { at, type Candidate, Candidates, firstIssue, invalid, quote, readOnly, setting } from "./Setting.ts"
import { type Invocation, Settings } from "./SettingsSchema.ts"
import { chosenTimings, stopGraceFor, usualTimingsMs } from "./Timings.ts"
import {
  DnsLabel,
  Duration,
  formatDuration,
  Identity,
  InterfaceName,
  ListenAddressText,
  LogFormatText,
  LogLevelText,
  ObjectName,
  Switch
} from "./Values.ts"
import { splitWords } from "./Words.ts"

export { SettingsError, usage } from "./Argv.ts"
export { Gate } from "./Gates.ts"
export * from "./SettingsSchema.ts"
export { formatDuration, ListenAddress, parseDuration, parseListenAddress } from "./Values.ts"

// -- from candidate texts to settings --------------------------------------------------------------

/** The child's argv from the command line; else COMMAND split into words; else none. */
const CommandFromRaw = Schema.Struct({
  argv: Schema.NullOr(Schema.Array(Schema.String)),
  COMMAND: Schema.UndefinedOr(Schema.String)
}).pipe(Schema.decodeTo(Schema.Array(Schema.String), {
  decode: SchemaGetter.transformEffect(({ argv, COMMAND }) => {
    if (argv !== null && argv.length > 0) return Effect.succeed(argv)
    if (COMMAND === undefined) return Effect.succeed([])
    return Result.match(splitWords(COMMAND), {
      onSuccess: (words) => Effect.succeed(words),
      onFailure: (problem) => Effect.fail(invalid(`COMMAND ${problem}: ${quote(COMMAND)}`))
    })
  }),
  encode: readOnly()
}))

const Fields = Schema.Struct({
  namespace: setting("--namespace", DnsLabel, "--namespace has no value"),
  identity: setting("--identity", Identity, "--identity has no value"),
  "stop-grace": setting("--stop-grace", Duration),
  "listen-addr": setting("--listen-addr", ListenAddressText, "--listen-addr has no value"),
  election: ElectionFromRaw,
  "wait-timeout": setting("--wait-timeout", Duration),
  "pod-name": setting("--pod-name", ObjectName),
  "node-name": setting("--node-name", ObjectName),
  "wait-namespace": setting("--wait-namespace", DnsLabel, "--wait-namespace has no value"),
  "interface-name": setting("--interface-name", InterfaceName),
  "log-format": setting("--log-format", LogFormatText, "--log-format has no value"),
  "log-level": setting("--log-level", LogLevelText, "--log-level has no value"),
  events: setting("--events", Switch, "--events has no value"),
  command: CommandFromRaw,
  "wait-for": Candidates,
  dependencies: Schema.Record(Schema.String, Schema.String),
  /** The timing options given by a flag or a variable: the others are chosen (Timings.ts). */
  "timings-given": Schema.Array(Schema.String)
})

/** The stop grace: as given, else 4 s or less to fit the lease; a failure when no positive grace fits. */
const stopGrace = (f: typeof Fields.Type): Effect.Effect<number, SchemaIssue.Issue> => {
  const e = f.election
  if (f["stop-grace"] !== undefined) return Effect.succeed(f["stop-grace"].value)
  if (e === null) return Effect.succeed(usualTimingsMs["stop-grace"])
  const grace = stopGraceFor(e.leaseDurationMs, e.renewDeadlineMs)
  if (grace > 0) return Effect.succeed(grace)
  const lease = `${formatDuration(e.leaseDurationMs)}${
    f["timings-given"].includes("lease-duration") ? "" : ", the default"
  }`
  return Effect.fail(at(
    "renew-deadline",
    `--renew-deadline (${
      formatDuration(e.renewDeadlineMs)
    }) leaves no time to stop the child within --lease-duration (${lease}), so a leader that loses the API server could not stop its child before another replica may take the lease; give a shorter --renew-deadline or a longer --lease-duration`
  ))
}

/** The one schema: candidate texts in, settings out; gates are read last, once their context is known. */
export const SettingsFromRaw = Fields.pipe(Schema.decodeTo(Settings, {
  decode: SchemaGetter.transformEffect((f) => {
    const podName = f["pod-name"]?.value ?? null
    const nodeName = f["node-name"]?.value ?? null
    const gates = parseGates({ waitFor: f["wait-for"], dependencies: f.dependencies }, {
      namespace: f["wait-namespace"].value,
      podName,
      nodeName,
      interfaceName: f["interface-name"]?.value ?? null
    })
    if (Result.isFailure(gates)) return Effect.fail(at(gates.failure.setting, gates.failure.message))
    const listen = f["listen-addr"]
    return Effect.map(stopGrace(f), (stopGraceMs) => ({
      command: f.command,
      listen: listen.value,
      statusStyle: listen.source === "K8S_AWAIT_ELECTION_STATUS_ENDPOINT"
        ? "k8s-await-election" as const
        : "just-one-init" as const,
      stopGraceMs,
      identity: f.identity.value,
      namespace: f.namespace.value,
      podName,
      nodeName,
      gates: gates.success,
      waitTimeoutMs: f["wait-timeout"]?.value ?? null,
      log: { format: f["log-format"].value, level: f["log-level"].value },
      events: f.events.value,
      election: f.election,
      derived: chosenTimings.filter((t) =>
        !f["timings-given"].includes(t) && (t === "stop-grace" || f.election !== null)
      )
    }))
  }),
  encode: readOnly()
}))
export type Raw = typeof SettingsFromRaw.Encoded

/** The timings in force, and which of them were chosen rather than given: for /status and the start-up line. */
export const timingsOf = (s: Settings) => ({
  leaseDurationMs: s.election?.leaseDurationMs ?? null,
  renewDeadlineMs: s.election?.renewDeadlineMs ?? null,
  retryPeriodMs: s.election?.retryPeriodMs ?? null,
  stopGraceMs: s.stopGraceMs,
  chosen: s.derived
})

/** The chosen timings that differ from the documented defaults (10 s, 2 s, 4 s): worth a line at start-up. */
export const shortenedTimings = (s: Settings): ReadonlyArray<string> => {
  const value = {
    "renew-deadline": s.election?.renewDeadlineMs,
    "retry-period": s.election?.retryPeriodMs,
    "stop-grace": s.stopGraceMs
  }
  return s.derived.filter((t) => value[t] !== usualTimingsMs[t]).map((t) => `--${t} ${formatDuration(value[t]!)}`)
}

/** What the parser may look at besides argv and env (read by the caller, so this stays pure). */
export interface Host {
  readonly hostname: string
  /** Contents of the service account's namespace file, when running in a pod. */
  readonly inClusterNamespace: string | undefined
}

const dependencyVariables = [...Object.keys(dependencyLists), ...dependencyJson]

/** Every option's candidate texts, and the facts the schema needs about the environment. */
export const gather = (args: Extract<Args, { _tag: "Options" }>, env: Env, host: Host): Raw => {
  const c = (key: string, weak: ReadonlyArray<Candidate> = []) => candidates(key, args.flags, env, weak)
  const podNamespace = host.inClusterNamespace === undefined
    ? []
    : [{ source: "the service account's namespace", value: host.inClusterNamespace.trim(), weak: true }]
  const namespace = c("namespace", podNamespace)
  const fallbackNamespace = namespace.map((x) => ({ ...x, weak: true }))
  const identity = c("identity", [{ source: "the hostname", value: host.hostname, weak: true }])
  const set = (name: string) => (env[name] ?? "") !== ""
  const enabled = set("K8S_AWAIT_ELECTION_ENABLED") ? env["K8S_AWAIT_ELECTION_ENABLED"] : undefined
  // K8S_AWAIT_ELECTION_ENABLED given empty counts too: it is k8s-await-election's way of saying no election.
  const k8sAwaitElection = env["K8S_AWAIT_ELECTION_ENABLED"] !== undefined
    || Object.keys(env).some((k) => k.startsWith("K8S_AWAIT_ELECTION_") && set(k))
  const waitFor = c("wait-for")
  const dependencies = dependencyVariables.filter(set)
  return {
    namespace,
    identity,
    "stop-grace": c("stop-grace"),
    "listen-addr": c("listen-addr"),
    election: {
      election: c("election"),
      enabled,
      passThrough: k8sAwaitElection && enabled === undefined && c("lease-name").length === 0,
      namespace,
      identity,
      lease: {
        "lease-name": c("lease-name"),
        "lease-duration": c("lease-duration"),
        "renew-deadline": c("renew-deadline"),
        "retry-period": c("retry-period"),
        "reelect-after": c("reelect-after"),
        service: c("service"),
        "service-namespace": c("service-namespace", fallbackNamespace),
        "service-ports": c("service-ports"),
        "pod-ip": c("pod-ip"),
        "node-name": c("node-name")
      }
    },
    "wait-timeout": c("wait-timeout"),
    "pod-name": c("pod-name"),
    "node-name": c("node-name"),
    // NAMESPACE is a common name; it is ours only when there are gates to place.
    "wait-namespace": waitFor.length > 0 || dependencies.length > 0
      ? c("wait-namespace", fallbackNamespace)
      : fallbackNamespace,
    "interface-name": c("interface-name"),
    "log-format": c("log-format"),
    "log-level": c("log-level"),
    events: c("events"),
    command: { argv: args.command, COMMAND: set("COMMAND") ? env["COMMAND"] : undefined },
    "wait-for": waitFor,
    dependencies: Object.fromEntries(dependencies.map((name) => [name, env[name]!])),
    "timings-given": ["lease-duration", ...chosenTimings].filter((key) => c(key).some((x) => !x.weak))
  }
}

const decodeSettings = Schema.decodeUnknownResult(SettingsFromRaw)

/** Parse and validate. Pure: the caller supplies env and what it knows of the host. */
export const parseInvocation = (
  argv: ReadonlyArray<string>,
  env: Env,
  host: Host
): Result.Result<Invocation, SettingsError> =>
  Result.flatMap(splitArgv(argv), (args): Result.Result<Invocation, SettingsError> => {
    if (args._tag === "HandoverArgs") {
      return Result.map(parseHandover(args.argv, env), (request) => ({ _tag: "Handover" as const, ...request }))
    }
    if (args._tag !== "Options") return Result.succeed(args)
    return Result.match(decodeSettings(gather(args, env, host)), {
      onSuccess: (settings) => Result.succeed({ _tag: "Run", settings }),
      onFailure: (e) => {
        const { message, path } = firstIssue(e.issue)
        const setting = path.findLast((p): p is string => typeof p === "string") ?? "settings"
        return Result.fail(new SettingsError({ setting, message }))
      }
    })
  })
