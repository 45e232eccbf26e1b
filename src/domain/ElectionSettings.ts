/**
 * The election's settings from their candidate texts: on or off (--no-election,
 * ELECTION, k8s-await-election's K8S_AWAIT_ELECTION_ENABLED and pass-through),
 * then, only when on, the lease settings and service mode.
 */
import { Effect, Schema, SchemaGetter, SchemaParser } from "effect"
import { at, Candidates, invalid, isFlag, quote, readOnly, ruleAt, setting } from "./Setting.ts"
import { Election, ServicePorts } from "./SettingsSchema.ts"
import { renewDeadlineFor, retryPeriodFor } from "./Timings.ts"
import {
  DnsLabel,
  DnsSubdomain,
  Duration,
  formatDuration,
  IpAddress,
  ObjectName,
  ReelectAfter,
  ServiceName,
  Switch
} from "./Values.ts"

const LeaseFields = Schema.Struct({
  "lease-name": setting("--lease-name", DnsSubdomain, "--lease-name (LEASE_NAME) is required"),
  "lease-duration": setting("--lease-duration", Duration, "--lease-duration has no value"),
  "renew-deadline": setting("--renew-deadline", Duration),
  "retry-period": setting("--retry-period", Duration),
  "reelect-after": setting("--reelect-after", ReelectAfter),
  service: setting("--service", ServiceName),
  "service-namespace": setting("--service-namespace", DnsLabel, "--service-namespace has no value"),
  "service-ports": setting("--service-ports", Schema.fromJsonString(ServicePorts)),
  "pod-ip": setting("--pod-ip", IpAddress),
  "node-name": setting("--node-name", ObjectName)
}).check(
  ruleAt(
    "pod-ip",
    (f) => f.service === undefined || f["pod-ip"] !== undefined,
    () => "--service needs this pod's IP: --pod-ip or POD_IP (downward API status.podIP)"
  ),
  ruleAt(
    "service-ports",
    (f) => f.service === undefined || f["service-ports"] !== undefined,
    () => "--service needs its ports: --service-ports or LEADER_SERVICE_PORTS, e.g. [{\"name\":\"http\",\"port\":80}]"
  )
).pipe(Schema.decodeTo(Election, {
  decode: SchemaGetter.transformEffect((f) => {
    // Timings not given are chosen to fit the ones given (Timings.ts); the rules below check them all.
    const renewDeadlineMs = f["renew-deadline"]?.value ?? renewDeadlineFor(f["lease-duration"].value)
    const retryPeriodMs = f["retry-period"]?.value ?? retryPeriodFor(renewDeadlineMs)
    if (retryPeriodMs === 0) {
      return Effect.fail(at(
        "renew-deadline",
        `--renew-deadline (${formatDuration(renewDeadlineMs)}) leaves no time for a retry period; give a longer one`
      ))
    }
    return Effect.succeed({
      leaseName: f["lease-name"].value,
      leaseDurationMs: f["lease-duration"].value,
      renewDeadlineMs,
      retryPeriodMs,
      reelectAfterMs: f["reelect-after"]?.value ?? null,
      service: f.service === undefined ? null : {
        name: f.service.value,
        namespace: f["service-namespace"].value,
        ports: f["service-ports"]!.value,
        podIp: f["pod-ip"]!.value,
        nodeName: f["node-name"]?.value ?? null
      }
    })
  }),
  encode: readOnly()
}))

/** What k8s-await-election requires once K8S_AWAIT_ELECTION_ENABLED is set. */
const k8sRequired = [
  ["lease-name", "K8S_AWAIT_ELECTION_LOCK_NAME", "--lease-name, LEASE_NAME"],
  ["namespace", "K8S_AWAIT_ELECTION_LOCK_NAMESPACE", "--namespace, POD_NAMESPACE"],
  ["identity", "K8S_AWAIT_ELECTION_IDENTITY", "--identity, POD_NAME"]
] as const

const ElectionRaw = Schema.Struct({
  election: Candidates,
  /** K8S_AWAIT_ELECTION_ENABLED, when set. */
  enabled: Schema.UndefinedOr(Schema.String),
  /** k8s-await-election's variables without K8S_AWAIT_ELECTION_ENABLED, and no lease name of ours. */
  passThrough: Schema.Boolean,
  namespace: Candidates,
  identity: Candidates,
  lease: Schema.toEncoded(LeaseFields)
})

const decodeSwitch = SchemaParser.decodeUnknownEffect(setting("ELECTION", Switch))
const decodeLease = SchemaParser.decodeUnknownEffect(LeaseFields)

/** On or off, then (when on) the lease settings; with the election off they are neither required nor checked. */
export const ElectionFromRaw = ElectionRaw.pipe(Schema.decodeTo(Schema.NullOr(Election), {
  decode: SchemaGetter.transformEffect((raw) =>
    Effect.gen(function*() {
      const chosen = yield* decodeSwitch(raw.election)
      if (chosen !== undefined && !isFlag(chosen.source) && !chosen.value && raw.enabled !== undefined) {
        return yield* Effect.fail(invalid(
          `ELECTION=${
            quote(raw.election.find((c) => c.source === "ELECTION")!.value, 20)
          } and K8S_AWAIT_ELECTION_ENABLED=${
            quote(raw.enabled, 20)
          } disagree about the election; unset one of them, or give --no-election`
        ))
      }
      if (!(chosen?.value ?? (raw.enabled !== undefined || !raw.passThrough))) return null
      if (raw.enabled !== undefined) {
        for (const [key, variable, ours] of k8sRequired) {
          // Facts (HOSTNAME, the pod's namespace file) and defaults do not count: k8s-await-election wants them said.
          const given = (key === "lease-name" ? raw.lease["lease-name"] : raw[key]).some((c) => !c.weak)
          if (!given) {
            return yield* Effect.fail(
              at(key, `K8S_AWAIT_ELECTION_ENABLED is set, so ${variable} (or ${ours}) is required`)
            )
          }
        }
      }
      return yield* decodeLease(raw.lease)
    })
  ),
  encode: readOnly()
}))
