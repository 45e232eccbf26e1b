/**
 * Command-line and environment settings: one pure function from argv + env to
 * either a validated `Settings` or one `SettingsError` line. No I/O here, so
 * every rule can be property-tested without starting a process.
 */
import { Result, Schema } from "effect"

const DnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DnsLabel = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const MaxDurationMs = 24 * 60 * 60 * 1000
const MaxIdentityLength = 1024

/** A positive whole number of milliseconds. */
export const Millis = Schema.Int.check(Schema.isGreaterThan(0))

export const ListenAddress = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })),
  /** Host to bind instead when `host` needs IPv6 and the machine has none. */
  fallbackHost: Schema.NullOr(Schema.String)
})
export type ListenAddress = typeof ListenAddress.Type

export const Settings = Schema.Struct({
  leaseName: Schema.String.check(Schema.isPattern(DnsSubdomain)),
  namespace: Schema.String.check(Schema.isPattern(DnsLabel)),
  identity: Schema.NonEmptyString,
  leaseDurationMs: Millis,
  renewDeadlineMs: Millis,
  retryPeriodMs: Millis,
  stopGraceMs: Millis,
  listen: ListenAddress,
  command: Schema.NonEmptyArray(Schema.String),
  /** Step down after leading this long; null = never. */
  reelectAfterMs: Schema.NullOr(Millis),
  /** JUST_ONE_INIT_BASELINE=client-go: elect the way client-go polls (benchmarks only). */
  baseline: Schema.Boolean
})
export type Settings = typeof Settings.Type

/** One bad setting: printed as a single line, exit code 2. */
export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  setting: Schema.String,
  message: Schema.String
}) {}

export type Invocation =
  | { readonly _tag: "Run"; readonly settings: Settings }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Version" }

/** What the parser may look at besides argv and env (read by the caller, so this stays pure). */
export interface Host {
  readonly hostname: string
  /** Contents of the service account's namespace file, when running in a pod. */
  readonly inClusterNamespace: string | undefined
}

interface Option {
  readonly key: string
  readonly flags: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly help: string
}

/** Every option: its flags, the environment variables it falls back to (first set wins), and its help. */
export const options: ReadonlyArray<Option> = [
  {
    key: "lease-name",
    flags: ["--lease-name", "-l"],
    env: ["LEASE_NAME", "K8S_AWAIT_ELECTION_LOCK_NAME"],
    help: "name of the coordination.k8s.io/v1 Lease (required)"
  },
  {
    key: "namespace",
    flags: ["--namespace", "-p", "--pod-namespace"],
    env: ["POD_NAMESPACE", "K8S_AWAIT_ELECTION_LOCK_NAMESPACE"],
    help: "namespace of the Lease (default: the pod's namespace, else default)"
  },
  {
    key: "identity",
    flags: ["--identity", "-o", "--hostname"],
    env: ["POD_NAME", "K8S_AWAIT_ELECTION_IDENTITY", "HOSTNAME"],
    help: "holder identity written to the Lease (default: hostname)"
  },
  {
    key: "lease-duration",
    flags: ["--lease-duration", "-t", "--lease-ttl"],
    env: ["LEASE_DURATION", "LEASE_TTL", "K8S_AWAIT_ELECTION_LEASE_DURATION"],
    help: "how long a lease is valid without renewal (default 15s)"
  },
  {
    key: "renew-deadline",
    flags: ["--renew-deadline"],
    env: ["RENEW_DEADLINE", "K8S_AWAIT_ELECTION_RENEW_DEADLINE"],
    help: "a leader that has not renewed for this long stops its child (default 10s)"
  },
  {
    key: "retry-period",
    flags: ["--retry-period"],
    env: ["RETRY_PERIOD", "K8S_AWAIT_ELECTION_RETRY_PERIOD"],
    help: "renew and retry interval (default 2s)"
  },
  {
    key: "stop-grace",
    flags: ["--stop-grace"],
    env: ["STOP_GRACE"],
    help: "time between SIGTERM and SIGKILL when the child must stop (default 4s)"
  },
  {
    key: "reelect-after",
    flags: ["--reelect-after", "-r"],
    env: ["REELECT_AFTER"],
    help: "step down after leading this long, so others get a turn (default: never)"
  },
  {
    key: "listen-addr",
    flags: ["--listen-addr", "-a"],
    env: ["LISTEN_ADDR", "K8S_AWAIT_ELECTION_STATUS_ENDPOINT"],
    help: "health server address (default [::]:5047, else 0.0.0.0:5047)"
  }
]

const fail = (setting: string, message: string) => Result.fail(new SettingsError({ setting, message }))

const describe = (o: Option) => `${o.flags[0]} (${o.env[0]})`

/** `500ms`, `15s`, `1m`, `30min`, `2h`, or a bare number of seconds. */
export const parseDuration = (text: string): number | undefined => {
  const m = /^\s*(\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|sec|m|min|h)?\s*$/.exec(text)
  if (m === null) return undefined
  const unit = m[2] === "ms" ? 1 : m[2] === "m" || m[2] === "min" ? 60_000 : m[2] === "h" ? 3_600_000 : 1000
  return Math.round(Number(m[1]) * unit)
}

export const formatDuration = (ms: number): string =>
  ms % 60_000 === 0 && ms >= 60_000 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`

/** `[::]:5047`, `0.0.0.0:5047`, `127.0.0.1:0`, `:9999` (all interfaces, as Go writes it). */
export const parseListenAddress = (text: string): ListenAddress | undefined => {
  const m = /^(?:\[([0-9a-fA-F:.%a-zA-Z]*)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  if (m[1] !== undefined) {
    if (m[1] === "") return undefined
    return { host: m[1], port, fallbackHost: m[1] === "::" ? "0.0.0.0" : null }
  }
  const host = m[2] ?? ""
  return host === "" ? { host: "::", port, fallbackHost: "0.0.0.0" } : { host, port, fallbackHost: null }
}

const hasControl = (s: string) => /[\u0000-\u001f\u007f]/.test(s)

/** Split argv into option values (by key) and the child's command. */
const splitArgv = (argv: ReadonlyArray<string>) => {
  const values = new Map<string, string>()
  let command: ReadonlyArray<string> = []
  let wants: "help" | "version" | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      command = argv.slice(i + 1)
      break
    }
    if (arg === "--help" || arg === "-h") {
      wants ??= "help"
      continue
    }
    if (arg === "--version" || arg === "-V") {
      wants ??= "version"
      continue
    }
    if (!arg.startsWith("-") || arg === "-") {
      command = argv.slice(i)
      break
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const option = options.find((o) => o.flags.includes(name))
    if (option === undefined) return fail(name, `unknown option ${JSON.stringify(name)} (see --help)`)
    let value: string
    if (eq !== -1) value = arg.slice(eq + 1)
    else {
      const next = argv[i + 1]
      if (next === undefined) return fail(option.key, `${name} needs a value`)
      value = next
      i++
    }
    values.set(option.key, value)
  }
  return Result.succeed({ values, command, wants })
}

/** Parse and validate. Pure: the caller supplies env and what it knows of the host. */
export const parseInvocation = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  host: Host
): Result.Result<Invocation, SettingsError> => {
  const split = splitArgv(argv)
  if (Result.isFailure(split)) return Result.fail(split.failure)
  const { command, values, wants } = split.success
  if (wants === "help") return Result.succeed({ _tag: "Help" })
  if (wants === "version") return Result.succeed({ _tag: "Version" })

  const raw = (key: string): string | undefined => {
    const option = options.find((o) => o.key === key)!
    const flag = values.get(key)
    if (flag !== undefined) return flag
    for (const name of option.env) {
      const v = env[name]
      if (v !== undefined && v !== "") return v
    }
    return undefined
  }
  const option = (key: string) => options.find((o) => o.key === key)!

  const leaseName = raw("lease-name")
  if (leaseName === undefined) return fail("lease-name", `${describe(option("lease-name"))} is required`)
  if (!DnsSubdomain.test(leaseName)) {
    return fail(
      "lease-name",
      `--lease-name must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got ${
        JSON.stringify(leaseName.slice(0, 80))
      }`
    )
  }

  const namespace = raw("namespace") ?? host.inClusterNamespace?.trim() ?? "default"
  if (!DnsLabel.test(namespace)) {
    return fail(
      "namespace",
      `--namespace must be a DNS label (lowercase letters, digits and '-', at most 63 characters), got ${
        JSON.stringify(namespace.slice(0, 80))
      }`
    )
  }

  const identity = raw("identity") ?? host.hostname
  if (identity === "" || identity.length > MaxIdentityLength || hasControl(identity)) {
    return fail("identity", `--identity must be 1 to ${MaxIdentityLength} characters with no control characters`)
  }

  const durations: Record<string, number> = {}
  const defaults: Record<string, number> = {
    "lease-duration": 15_000,
    "renew-deadline": 10_000,
    "retry-period": 2_000,
    "stop-grace": 4_000
  }
  for (const key of Object.keys(defaults)) {
    const text = raw(key)
    if (text === undefined) {
      durations[key] = defaults[key]!
      continue
    }
    const ms = parseDuration(text)
    if (ms === undefined) {
      return fail(
        key,
        `--${key} must be a duration such as 500ms, 15s or 1m, or a whole number of seconds; got ${
          JSON.stringify(text.slice(0, 40))
        }`
      )
    }
    if (ms <= 0) return fail(key, `--${key} must be greater than zero`)
    if (ms > MaxDurationMs) return fail(key, `--${key} must be at most 24h`)
    durations[key] = ms
  }
  const D = durations["lease-duration"]!
  const R = durations["renew-deadline"]!
  const P = durations["retry-period"]!
  const G = durations["stop-grace"]!
  if (D % 1000 !== 0) {
    return fail(
      "lease-duration",
      `--lease-duration must be a whole number of seconds (the Lease stores seconds), got ${formatDuration(D)}`
    )
  }
  if (R >= D) {
    return fail(
      "renew-deadline",
      `--renew-deadline (${formatDuration(R)}) must be less than --lease-duration (${formatDuration(D)})`
    )
  }
  if (R + G >= D) {
    return fail(
      "stop-grace",
      `--renew-deadline (${formatDuration(R)}) + --stop-grace (${
        formatDuration(G)
      }) must be less than --lease-duration (${
        formatDuration(D)
      }), so a leader that loses the API server stops its child before another replica may take the lease`
    )
  }
  if (P >= R) {
    return fail(
      "retry-period",
      `--retry-period (${formatDuration(P)}) must be less than --renew-deadline (${formatDuration(R)})`
    )
  }

  const reelectText = raw("reelect-after")
  const reelectAfterMs = reelectText === undefined ? null : parseDuration(reelectText)
  if (
    reelectAfterMs === undefined || (reelectAfterMs !== null && (reelectAfterMs <= 0 || reelectAfterMs > MaxDurationMs))
  ) {
    return fail(
      "reelect-after",
      `--reelect-after must be a duration from 1ms to 24h such as 30min, got ${
        JSON.stringify((reelectText ?? "").slice(0, 40))
      }`
    )
  }

  const listenText = raw("listen-addr") ?? "[::]:5047"
  const listen = parseListenAddress(listenText)
  if (listen === undefined) {
    return fail(
      "listen-addr",
      `--listen-addr must be host:port, [ipv6]:port or :port with a port up to 65535, got ${
        JSON.stringify(listenText.slice(0, 80))
      }`
    )
  }

  const baselineText = env["JUST_ONE_INIT_BASELINE"] ?? ""
  if (baselineText !== "" && baselineText !== "client-go") {
    return fail(
      "baseline",
      `JUST_ONE_INIT_BASELINE must be "client-go" or unset, got ${JSON.stringify(baselineText.slice(0, 40))}`
    )
  }

  const [program, ...args] = command
  if (program === undefined || program === "") {
    return fail("command", "no command given: usage is just-one-init [options] -- <command> [args...]")
  }

  return Result.succeed({
    _tag: "Run",
    settings: {
      leaseName,
      namespace,
      identity,
      leaseDurationMs: D,
      renewDeadlineMs: R,
      retryPeriodMs: P,
      stopGraceMs: G,
      listen,
      command: [program, ...args],
      reelectAfterMs,
      baseline: baselineText === "client-go"
    }
  })
}

export const usage = (version: string): string =>
  [
    `just-one-init ${version}: run <command> in exactly one replica, elected through a Kubernetes Lease.`,
    "",
    "usage: just-one-init [options] -- <command> [args...]",
    "",
    ...options.map((o) => `  ${o.flags.join(", ").padEnd(38)} ${o.help}\n  ${"".padEnd(38)} env: ${o.env.join(", ")}`),
    `  ${"-h, --help".padEnd(38)} show this help`,
    `  ${"-V, --version".padEnd(38)} show the version`,
    "",
    "Durations: 500ms, 15s, 1m, or a whole number of seconds. KUBECONFIG is honoured; in a pod the service account is used.",
    "Exit codes: the child's code (128+signal if it died by a signal); 2 for bad settings."
  ].join("\n")
