/**
 * The values settings take, as schemas from text. Each fails with a message
 * that has no subject ("must be a duration …"); `setting` (Setting.ts) puts the
 * option's name in front.
 */
import { Result, Schema } from "effect"
import { NetAddress } from "effect/net"
import { fromText, quote, rule } from "./Setting.ts"

// -- names ---------------------------------------------------------------------------------------

const DnsSubdomainPattern = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DnsLabelPattern = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const hasControl = (s: string) => /[\u0000-\u001f\u007f]/.test(s)

/** Lease, job, daemonset and pod names. */
export const DnsSubdomain = Schema.String.check(rule(
  (s: string) => DnsSubdomainPattern.test(s),
  (s) => `must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got ${quote(s)}`
))
/** Namespaces and container names. */
export const DnsLabel = Schema.String.check(rule(
  (s: string) => DnsLabelPattern.test(s),
  (s) => `must be a DNS label (lowercase letters, digits and '-', at most 63 characters), got ${quote(s)}`
))
/** Service names (RFC 1035: they start with a letter). */
export const ServiceName = Schema.String.check(rule(
  (s: string) => DnsLabelPattern.test(s) && /^[a-z]/.test(s),
  (s) => `must be a DNS-1035 label (a lowercase letter, then letters, digits and '-', at most 63), got ${quote(s)}`
))
export const Identity = Schema.String.check(rule(
  (s: string) => s.length >= 1 && s.length <= 1024 && !hasControl(s),
  () => "must be 1 to 1024 characters with no control characters"
))
/** Pod and node names as the downward API gives them. */
export const ObjectName = Schema.String.check(rule(
  (s: string) => s.length >= 1 && s.length <= 253 && !hasControl(s) && !s.includes("/"),
  (s) => `must be 1 to 253 characters with no '/' or control characters, got ${quote(s)}`
))
export const InterfaceName = Schema.String.check(rule(
  (s: string) => /^[^\s/\u0000-\u001f\u007f]{1,15}$/.test(s),
  (s) => `must be a network interface name (1 to 15 characters, no '/' or blanks), got ${quote(s)}`
))

// -- durations -----------------------------------------------------------------------------------

const MaxDurationMs = 24 * 60 * 60 * 1000

/** A positive whole number of milliseconds. */
export const Millis = Schema.Int.check(Schema.isGreaterThan(0))

/** `500ms`, `15s`, `1m`, `30min`, `2h`, or a bare number of seconds. */
export const parseDuration = (text: string): number | undefined => {
  const m = /^\s*(\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|sec|m|min|h)?\s*$/.exec(text)
  if (m === null) return undefined
  const unit = m[2] === "ms" ? 1 : m[2] === "m" || m[2] === "min" ? 60_000 : m[2] === "h" ? 3_600_000 : 1000
  return Math.round(Number(m[1]) * unit)
}

export const formatDuration = (ms: number): string =>
  ms % 60_000 === 0 && ms >= 60_000 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`

export const Duration = fromText(Millis, (text) => {
  const ms = parseDuration(text)
  if (ms === undefined) {
    return Result.fail(
      `must be a duration such as 500ms, 15s or 1m, or a whole number of seconds; got ${quote(text, 40)}`
    )
  }
  if (ms <= 0) return Result.fail("must be greater than zero")
  if (ms > MaxDurationMs) return Result.fail("must be at most 24h")
  return Result.succeed(ms)
})

/** The same, with the message the original just-one-init's `--reelect-after` users know. */
export const ReelectAfter = fromText(Millis, (text) => {
  const ms = parseDuration(text)
  return ms === undefined || ms <= 0 || ms > MaxDurationMs
    ? Result.fail(`must be a duration from 1ms to 24h such as 30min, got ${quote(text, 40)}`)
    : Result.succeed(ms)
})

// -- addresses -----------------------------------------------------------------------------------

export const ListenAddress = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })),
  /** Host to bind instead when `host` needs IPv6 and the machine has none. */
  fallbackHost: Schema.NullOr(Schema.String)
})
export type ListenAddress = typeof ListenAddress.Type

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

export const ListenAddressText = fromText(ListenAddress, (text) => {
  const address = parseListenAddress(text)
  return address === undefined
    ? Result.fail(`must be host:port, [ipv6]:port or :port with a port up to 65535, got ${quote(text)}`)
    : Result.succeed(address)
})

/** An IPv4 or IPv6 address, written the canonical way. */
export const IpAddress = fromText(Schema.String, (text) =>
  Result.match(NetAddress.ipFromString(text.trim()), {
    onSuccess: (ip) => Result.succeed(NetAddress.formatIp(ip)),
    onFailure: () => Result.fail(`must be an IPv4 or IPv6 address, got ${quote(text, 60)}`)
  }))

// -- words ---------------------------------------------------------------------------------------

const word = <const W extends string>(words: ReadonlyArray<W>, aliases: Readonly<Record<string, W>>, what: string) =>
  fromText(Schema.Literals(words), (text) => {
    const w = text.trim().toLowerCase()
    const found = words.find((x) => x === w) ?? aliases[w]
    return found === undefined ? Result.fail(`must be ${what}, got ${quote(text, 40)}`) : Result.succeed(found)
  })

export const Switch = fromText(Schema.Boolean, (text) => {
  const w = text.trim().toLowerCase()
  if (["true", "1", "yes", "on"].includes(w)) return Result.succeed(true)
  if (["false", "0", "no", "off"].includes(w)) return Result.succeed(false)
  return Result.fail(`must be true or false (or 1/0, yes/no, on/off), got ${quote(text, 40)}`)
})

export const LogFormat = Schema.Literals(["json", "pretty", "auto"])
export const LogFormatText = word(LogFormat.literals, {}, "json, pretty or auto")
export const LogLevel = Schema.Literals(["trace", "debug", "info", "warn", "error"])
export const LogLevelText = word(LogLevel.literals, { warning: "warn" }, "trace, debug, info, warn or error")
