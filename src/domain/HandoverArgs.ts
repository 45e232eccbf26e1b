/**
 * `just-one-init handover --lease-name NAME [--namespace NS] [--to IDENTITY] [--timeout T]`: its command line,
 * as a pure function to the request or one SettingsError line (exit 2). The lease name and namespace may also
 * come from LEASE_NAME and POD_NAMESPACE, as for the wrapper; the namespace otherwise from the kubeconfig.
 */
import { Result, Schema } from "effect"
import { SettingsError } from "./Argv.ts"
import type { Env } from "./Options.ts"
import { firstIssue, quote } from "./Setting.ts"
import { DnsLabel, DnsSubdomain, Duration, Identity } from "./Values.ts"

export interface HandoverRequest {
  readonly leaseName: string
  /** null: POD_NAMESPACE, else the kubeconfig's, else the pod's, else default (decided where the kubeconfig is read). */
  readonly namespace: string | null
  /** Whom to hand over to; null: whoever comes first. */
  readonly to: string | null
  /** null: the lease's duration plus 5 s. */
  readonly timeoutMs: number | null
}

const flags = {
  "lease-name": ["--lease-name", "-l"],
  namespace: ["--namespace", "-n", "-p", "--pod-namespace"],
  to: ["--to"],
  timeout: ["--timeout"]
} as const
type Key = keyof typeof flags

const schemas: Record<Key, Schema.Codec<unknown, string>> = {
  "lease-name": DnsSubdomain,
  namespace: DnsLabel,
  to: Identity,
  timeout: Duration
}

export const handoverUsage =
  "usage: just-one-init handover --lease-name NAME [--namespace NS] [--to IDENTITY] [--timeout DURATION]"

const fail = (setting: string, message: string) => Result.fail(new SettingsError({ setting, message }))

export const parseHandover = (argv: ReadonlyArray<string>, env: Env): Result.Result<HandoverRequest, SettingsError> => {
  const given: Partial<Record<Key, { value: string; source: string } | undefined>> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const key = (Object.keys(flags) as Array<Key>).find((k) => (flags[k] as ReadonlyArray<string>).includes(name))
    if (key === undefined) {
      return fail("handover", `handover: unknown argument ${quote(name.slice(0, 80))}; ${handoverUsage}`)
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined) return fail(key, `${name} needs a value`)
    given[key] = { value, source: name }
  }
  const set = (name: string) => (env[name] ?? "") === "" ? undefined : { value: env[name]!, source: name }
  given["lease-name"] ??= set("LEASE_NAME")
  given.namespace ??= set("POD_NAMESPACE")
  if (given["lease-name"] === undefined) {
    return fail("lease-name", `handover: --lease-name is required; ${handoverUsage}`)
  }
  const decoded: Partial<Record<Key, unknown>> = {}
  for (const key of Object.keys(given) as Array<Key>) {
    const g = given[key]
    if (g === undefined) continue
    const r = Schema.decodeUnknownResult(schemas[key])(g.value)
    if (Result.isFailure(r)) return fail(key, `${g.source} ${firstIssue(r.failure.issue).message}`)
    decoded[key] = r.success
  }
  return Result.succeed({
    leaseName: decoded["lease-name"] as string,
    namespace: (decoded.namespace as string | undefined) ?? null,
    to: (decoded.to as string | undefined) ?? null,
    timeoutMs: (decoded.timeout as number | undefined) ?? null
  })
}
