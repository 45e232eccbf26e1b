/**
 * The shape of the settings, as schemas: what the lead's layers receive, with
 * the rules that hold between fields (checked when decoding, and by
 * `Schema.is(Settings)`). Settings.ts decodes argv and env into it.
 */
import { Schema } from "effect"
import { Gate } from "./Gates.ts"
import { rule, ruleAt } from "./Setting.ts"
import { chosenTimings, leaseRules, stopFits, stopMessage } from "./Timings.ts"
import {
  DnsLabel,
  DnsSubdomain,
  Identity,
  ListenAddress,
  LogFormat,
  LogLevel,
  Millis,
  ObjectName,
  ServiceName
} from "./Values.ts"

export const ServicePort = Schema.Struct({
  name: Schema.optionalKey(DnsLabel),
  port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }, { expected: "a port from 1 to 65535" })),
  protocol: Schema.optionalKey(Schema.Literals(["TCP", "UDP", "SCTP"])),
  appProtocol: Schema.optionalKey(Schema.String)
})
export const ServicePorts = Schema.Array(ServicePort).check(
  rule((ports) => ports.length > 0, () => "must list a port"),
  rule(
    (ports) =>
      ports.length === 1
      || new Set(ports.map((p) => p.name ?? "")).size === ports.length && ports.every((p) => p.name !== undefined),
    () => "must give every port a name, each a different one, when there are several"
  )
)

/** Service mode: a selector-less Service whose endpoints point at the leader. */
export const LeaderService = Schema.Struct({
  name: ServiceName,
  namespace: DnsLabel,
  ports: ServicePorts,
  podIp: Schema.String,
  nodeName: Schema.NullOr(ObjectName)
})

export const Election = Schema.Struct({
  leaseName: DnsSubdomain,
  leaseDurationMs: Millis,
  renewDeadlineMs: Millis,
  retryPeriodMs: Millis,
  /** Step down after leading this long; null = never. */
  reelectAfterMs: Schema.NullOr(Millis),
  service: Schema.NullOr(LeaderService)
}).check(...leaseRules)
export type Election = typeof Election.Type

export const Settings = Schema.Struct({
  /** The child's argv; empty only when there are gates (then: wait for them, exit 0). */
  command: Schema.Array(Schema.String),
  listen: ListenAddress,
  /** How the health server answers: k8s-await-election's way when its status endpoint variable gave the address. */
  statusStyle: Schema.Literals(["just-one-init", "k8s-await-election"]),
  stopGraceMs: Millis,
  identity: Identity,
  /** The Lease's namespace. */
  namespace: DnsLabel,
  podName: Schema.NullOr(ObjectName),
  nodeName: Schema.NullOr(ObjectName),
  gates: Schema.Array(Gate),
  waitTimeoutMs: Schema.NullOr(Millis),
  log: Schema.Struct({ format: LogFormat, level: LogLevel }),
  /** Record Kubernetes Events on the Lease. */
  events: Schema.Boolean,
  /** null: no Lease (--no-election, ELECTION=off, or k8s-await-election's pass-through). */
  election: Schema.NullOr(Election),
  /** The timings not given, chosen to fit the ones given (Timings.ts). */
  derived: Schema.Array(Schema.Literals(chosenTimings))
}).check(
  ruleAt(
    "stop-grace",
    (s) => s.election === null || stopFits({ ...s.election, stopGraceMs: s.stopGraceMs }),
    (s) => stopMessage({ ...s.election!, stopGraceMs: s.stopGraceMs })
  ),
  ruleAt(
    "command",
    (s) => (s.command.length === 0 ? s.gates.length > 0 : s.command[0] !== ""),
    () => "no command given: usage is just-one-init [options] -- <command> [args...] (or COMMAND)"
  )
)
export type Settings = typeof Settings.Type

export const Invocation = Schema.TaggedUnion({
  Run: { settings: Settings },
  Help: {},
  Version: {},
  /** `just-one-init timeline [FILE...]`. */
  Timeline: { files: Schema.Array(Schema.String) },
  /** `just-one-init handover …` (HandoverArgs.ts). */
  Handover: {
    leaseName: Schema.String,
    namespace: Schema.NullOr(Schema.String),
    to: Schema.NullOr(Schema.String),
    timeoutMs: Schema.NullOr(Schema.Number)
  }
})
export type Invocation = typeof Invocation.Type
