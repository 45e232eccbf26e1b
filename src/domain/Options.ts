/**
 * The option table: which flags exist, which environment variables stand for
 * them, and the candidate texts an option may take its value from. Validation
 * is the schema's business (Settings.ts).
 */
import type { Candidate } from "./Setting.ts"

export interface Option {
  readonly key: string
  readonly flags: ReadonlyArray<string>
  /** Environment variables that stand for the option, in order. */
  readonly env: ReadonlyArray<string>
  readonly help: string
  /** The value when nothing is given, as text (decoded like any other). */
  readonly default?: string
  /** Facts about the host rather than settings: used only when nothing else is set, never in conflict. */
  readonly weak?: ReadonlyArray<string>
  /** A flag that takes no value, and the value it stands for. */
  readonly switch?: string
  /** Every use of the flag adds a value. */
  readonly repeat?: true
}

/** Every option: its flags, the variables that stand for it, its help, grouped as `--help` shows them. */
export const options: ReadonlyArray<Option> = [
  {
    key: "lease-name",
    flags: ["--lease-name", "-l"],
    env: ["LEASE_NAME", "K8S_AWAIT_ELECTION_LOCK_NAME"],
    help: "name of the coordination.k8s.io/v1 Lease (required unless the election is off)"
  },
  {
    key: "namespace",
    flags: ["--namespace", "-p", "--pod-namespace"],
    env: ["POD_NAMESPACE", "K8S_AWAIT_ELECTION_LOCK_NAMESPACE"],
    help: "namespace of the Lease (default: the pod's namespace, else default)",
    default: "default"
  },
  {
    key: "identity",
    flags: ["--identity", "-o", "--hostname"],
    env: ["POD_NAME", "K8S_AWAIT_ELECTION_IDENTITY", "HOSTNAME"],
    weak: ["HOSTNAME"],
    help: "holder identity written to the Lease (default: hostname)"
  },
  {
    key: "lease-duration",
    flags: ["--lease-duration", "-t", "--lease-ttl"],
    env: ["LEASE_DURATION", "LEASE_TTL", "K8S_AWAIT_ELECTION_LEASE_DURATION"],
    help: "how long a lease is valid without renewal (default 15s)",
    default: "15s"
  },
  {
    key: "renew-deadline",
    flags: ["--renew-deadline"],
    env: ["RENEW_DEADLINE", "K8S_AWAIT_ELECTION_RENEW_DEADLINE"],
    help: "a leader that has not renewed for this long stops its child (default 10s, or 2/3 of a shorter lease)"
  },
  {
    key: "retry-period",
    flags: ["--retry-period"],
    env: ["RETRY_PERIOD", "K8S_AWAIT_ELECTION_RETRY_PERIOD"],
    help: "renew and retry interval (default 2s, or half of a shorter renew deadline)"
  },
  {
    key: "stop-grace",
    flags: ["--stop-grace"],
    env: ["STOP_GRACE"],
    help: "time between SIGTERM and SIGKILL when the child must stop (default 4s, or less to fit the lease)"
  },
  {
    key: "reelect-after",
    flags: ["--reelect-after", "-r"],
    env: ["REELECT_AFTER"],
    help: "step down after leading this long, so others get a turn (default: never)"
  },
  {
    key: "election",
    flags: ["--no-election"],
    env: ["ELECTION"],
    switch: "off",
    help: "no Lease: wait for the gates, then run and supervise the command (ELECTION=off|on)"
  },
  {
    key: "listen-addr",
    flags: ["--listen-addr", "-a"],
    env: ["LISTEN_ADDR", "K8S_AWAIT_ELECTION_STATUS_ENDPOINT"],
    help: "health server address (default [::]:5047, else 0.0.0.0:5047)",
    default: "[::]:5047"
  },
  {
    key: "events",
    flags: ["--events"],
    env: ["EVENTS"],
    switch: "true",
    help: "record Kubernetes Events on the Lease (EVENTS=true|1|yes)",
    default: "false"
  },
  {
    key: "service",
    flags: ["--service"],
    env: ["LEADER_SERVICE", "K8S_AWAIT_ELECTION_SERVICE_NAME"],
    help: "keep this selector-less Service's endpoints pointing at the leader"
  },
  {
    key: "service-namespace",
    flags: ["--service-namespace"],
    env: ["LEADER_SERVICE_NAMESPACE", "K8S_AWAIT_ELECTION_SERVICE_NAMESPACE"],
    help: "namespace of that Service (default: the Lease's)"
  },
  {
    key: "service-ports",
    flags: ["--service-ports"],
    env: ["LEADER_SERVICE_PORTS", "K8S_AWAIT_ELECTION_SERVICE_PORTS_JSON"],
    help: "its endpoint ports as JSON, e.g. [{\"name\":\"http\",\"port\":80}]"
  },
  {
    key: "pod-ip",
    flags: ["--pod-ip"],
    env: ["POD_IP", "K8S_AWAIT_ELECTION_POD_IP"],
    help: "this pod's IP for the endpoints (downward API status.podIP)"
  },
  {
    key: "node-name",
    flags: ["--node-name"],
    env: ["NODE_NAME", "K8S_AWAIT_ELECTION_NODE_NAME"],
    help: "this pod's node (downward API spec.nodeName): endpoints, daemonset and same-node pod gates"
  },
  {
    key: "wait-for",
    flags: ["--wait-for"],
    env: ["WAIT_FOR"],
    repeat: true,
    help: "wait for KIND:TARGET before contending (repeatable; WAIT_FOR is comma-separated)"
  },
  {
    key: "wait-timeout",
    flags: ["--wait-timeout"],
    env: ["WAIT_TIMEOUT"],
    help: "give up waiting for the gates after this long (default: wait forever)"
  },
  {
    key: "wait-namespace",
    flags: ["--wait-namespace"],
    env: ["NAMESPACE"],
    help: "namespace of gates that name none (default: the Lease's)"
  },
  {
    key: "pod-name",
    flags: ["--pod-name"],
    env: ["POD_NAME"],
    help: "this pod's name (downward API metadata.name): container gates, daemonset gates without a node name"
  },
  {
    key: "interface-name",
    flags: ["--interface-name"],
    env: ["INTERFACE_NAME"],
    help: "network interface whose address fills {{ .IP }} in config gates"
  },
  {
    key: "log-format",
    flags: ["--log-format"],
    env: ["LOG_FORMAT"],
    help: "json or pretty (default: json unless stderr is a terminal)",
    default: "auto"
  },
  {
    key: "log-level",
    flags: ["--log-level"],
    env: ["LOG_LEVEL", "RUST_LOG"],
    weak: ["RUST_LOG"],
    help: "trace, debug, info, warn or error (default info; RUST_LOG when it is one word)",
    default: "info"
  }
]

const byKey = new Map(options.map((o) => [o.key, o]))
export const option = (key: string): Option => byKey.get(key)!

/** k8s-await-election reads its variables only when K8S_AWAIT_ELECTION_ENABLED is set; the status endpoint always counts. */
const k8sAwaitElection = (name: string) =>
  name.startsWith("K8S_AWAIT_ELECTION_") && name !== "K8S_AWAIT_ELECTION_STATUS_ENDPOINT"

const RustLogLevel = /^\s*(trace|debug|info|warn|error)\s*$/i

export type Env = Readonly<Record<string, string | undefined>>

export interface FlagValue {
  readonly key: string
  readonly value: string
}

/** An option's candidate texts: its flags' values, then its set environment variables, then `weak` facts, then its default. */
export const candidates = (
  key: string,
  flags: ReadonlyArray<FlagValue>,
  env: Env,
  weak: ReadonlyArray<Candidate> = []
): Array<Candidate> => {
  const o = option(key)
  const enabled = (env["K8S_AWAIT_ELECTION_ENABLED"] ?? "") !== ""
  // A flag given twice counts once, the last time; only a repeatable flag adds up.
  const given = flags.filter((f) => f.key === key)
  const fromFlags = (o.repeat ? given : given.slice(-1)).map((f) => ({
    source: o.flags[0]!,
    value: f.value,
    weak: false
  }))
  const fromEnv = o.env.flatMap((name) => {
    const value = env[name] ?? ""
    if (value === "" || (k8sAwaitElection(name) && !enabled)) return []
    if (name === "RUST_LOG" && !RustLogLevel.test(value)) return []
    return [{ source: name, value, weak: o.weak?.includes(name) ?? false }]
  })
  const fallback = o.default === undefined ? [] : [{ source: "default", value: o.default, weak: true }]
  return [...fromFlags, ...fromEnv, ...weak, ...fallback]
}
