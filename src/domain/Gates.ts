/**
 * Gates: what to wait for before contending. They come from `--wait-for
 * KIND:TARGET`, `WAIT_FOR`, and kubernetes-entrypoint's DEPENDENCY_*
 * variables, mixed freely; each is decoded through the `Gate` schema, which
 * holds the rules on names, labels, ports and paths, and carries a human label
 * and the flag or variable it came from.
 */
import { Result, Schema } from "effect"
import type { Draft, GateContext, GateKind } from "./GateDraft.ts"
import { GateJson } from "./GateJson.ts"
import { dependencyJson, dependencyLists, type DependencyVariable, parseDependency, parseWaitFor } from "./GateText.ts"
import { redactUrl } from "./Redact.ts"
import { type Candidate, firstProblem, isFlag, quote, rule } from "./Setting.ts"
import { DnsLabel, DnsSubdomain, InterfaceName, ObjectName, ServiceName } from "./Values.ts"

const LabelName = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const LabelPrefix = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const LabelValue = /^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const labelKeyOk = (key: string) => {
  const slash = key.indexOf("/")
  return slash === -1
    ? LabelName.test(key)
    : LabelPrefix.test(key.slice(0, slash)) && LabelName.test(key.slice(slash + 1))
}

/** A label selector's `matchLabels`. */
export const Labels = Schema.Record(Schema.String, Schema.String).check(
  rule(
    (labels: Readonly<Record<string, string>>) => Object.keys(labels).length > 0,
    () => "needs at least one label KEY=VALUE"
  ),
  rule(
    (labels) => Object.keys(labels).every(labelKeyOk),
    (labels) => `has an invalid label key ${quote(Object.keys(labels).find((k) => !labelKeyOk(k))!, 60)}`
  ),
  rule(
    (labels) => Object.values(labels).every((v) => LabelValue.test(v)),
    (labels) => `has an invalid label value ${quote(Object.values(labels).find((v) => !LabelValue.test(v))!, 60)}`
  )
)

const Path = Schema.String.check(rule((s: string) => s !== "" && !s.includes("\u0000"), () => "must be a path"))
const HttpUrl = Schema.String.check(rule((s: string) => {
  const url = URL.parse(s)
  return url !== null && (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
}, (s) => `must be an http:// or https:// URL with a host, got ${quote(redactUrl(s))}`))
const Port = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }, { expected: "a port from 1 to 65535" }))
const NonEmpty = Schema.String.check(rule((s: string) => s !== "", () => "must not be empty"))
const Common = { label: Schema.String, source: Schema.String }

export const Gate = Schema.TaggedUnion({
  Service: { namespace: DnsLabel, name: ServiceName, ...Common },
  Job: { namespace: DnsLabel, name: DnsSubdomain, ...Common },
  JobSelector: { namespace: DnsLabel, labels: Labels, ...Common },
  DaemonSet: { namespace: DnsLabel, name: DnsSubdomain, ...Common },
  /** A container of this pod (`pod` in `namespace`) must be Ready. */
  Container: { namespace: DnsLabel, pod: ObjectName, name: DnsLabel, ...Common },
  Pod: { namespace: DnsLabel, labels: Labels, requireSameNode: Schema.Boolean, ...Common },
  File: { path: Path, ...Common },
  Socket: { path: Path, ...Common },
  Tcp: { host: NonEmpty, port: Port, ...Common },
  Dns: { name: NonEmpty, ...Common },
  Http: { url: HttpUrl, ...Common },
  CustomResource: {
    apiVersion: NonEmpty,
    kind: NonEmpty,
    namespace: DnsLabel,
    name: DnsSubdomain,
    fields: Schema.Array(Schema.Struct({ key: NonEmpty, value: Schema.String })),
    conditions: Schema.Array(Schema.Struct({ type: NonEmpty, status: NonEmpty })),
    ...Common
  },
  /** kubernetes-entrypoint's config: render `template` ({{ .IP }} from `interfaceName`, {{ .HOSTNAME }}) to `path`. */
  Config: { path: Path, template: Path, interfaceName: InterfaceName, ...Common }
})
export type Gate = typeof Gate.Type

/** The parsers' kinds are the schema's: neither list can gain a kind the other lacks. */
const sameKinds: [GateKind, Gate["_tag"]] extends [Gate["_tag"], GateKind] ? true : never = true
void sameKinds

const needsNode = "needs NODE_NAME (spec.nodeName from the downward API) or POD_NAME to know this node"

/** Check a draft against what it needs from the context and against the schema. */
export const check = (draft: Draft, label: string, source: string, ctx: GateContext): Result.Result<Gate, string> => {
  if (draft._tag === "Container" && ctx.podName === null) {
    return Result.fail("a container gate needs POD_NAME (metadata.name from the downward API) to find this pod")
  }
  if ((draft._tag === "DaemonSet" || (draft._tag === "Pod" && draft["requireSameNode"] === true))) {
    if (ctx.nodeName === null && ctx.podName === null) {
      return Result.fail(`a ${draft._tag.toLowerCase()} gate ${needsNode}`)
    }
  }
  if (draft._tag === "Config" && ctx.interfaceName === null) {
    return Result.fail("a config gate needs INTERFACE_NAME (the interface whose address fills {{ .IP }})")
  }
  return Result.mapError(
    Schema.decodeUnknownResult(Gate)({ ...draft, label, source }),
    (e) => firstProblem(e.issue)
  )
}

/** Where gates come from: `--wait-for`/`WAIT_FOR` candidates and the DEPENDENCY_* variables that are set. */
export interface GateSources {
  readonly waitFor: ReadonlyArray<Candidate>
  readonly dependencies: Partial<Record<DependencyVariable, string>>
}

export interface GateProblem {
  readonly setting: string
  readonly message: string
}

/** Every gate, in the order given, without repeats; or the first problem. */
export const parseGates = (sources: GateSources, ctx: GateContext): Result.Result<Array<Gate>, GateProblem> => {
  const gates = new Map<string, Gate>()
  const add = (
    setting: string,
    source: string,
    item: string,
    r: Result.Result<{ draft: Draft; label: string }, string>
  ) => {
    const gate = Result.flatMap(r, ({ draft, label }) => check(draft, label, source, ctx))
    if (Result.isFailure(gate)) return { setting, message: `${source} ${item}: ${gate.failure}` }
    // By the URL itself, as labels hide what may tell two URLs apart.
    const key = `${gate.success._tag} ${gate.success._tag === "Http" ? gate.success.url : gate.success.label}`
    if (!gates.has(key)) gates.set(key, gate.success)
    return undefined
  }
  const flags = sources.waitFor.filter((c) => isFlag(c.source))
  for (const c of flags.length > 0 ? flags : sources.waitFor) {
    // In WAIT_FOR commas separate gates, so a pod's labels are joined with '+'.
    const items = isFlag(c.source) ? [c.value] : c.value.split(",").map((s) => s.trim()).filter((s) => s !== "")
    for (const item of items) {
      // A bad URL is echoed without its credentials or query values too.
      const shown = quote(/^https?:/i.test(item) ? redactUrl(item) : item)
      const problem = add("wait-for", c.source, shown, parseWaitFor(item, isFlag(c.source) ? /[,+]/ : /\+/, ctx))
      if (problem !== undefined) return Result.fail(problem)
    }
  }
  const deps = sources.dependencies
  for (
    const [variable, kind] of Object.entries(dependencyLists) as Array<
      [keyof typeof dependencyLists, typeof dependencyLists[keyof typeof dependencyLists]]
    >
  ) {
    // DEPENDENCY_JOBS_JSON takes precedence over DEPENDENCY_JOBS, as in kubernetes-entrypoint.
    if (variable === "DEPENDENCY_JOBS" && deps.DEPENDENCY_JOBS_JSON !== undefined) continue
    for (const item of (deps[variable] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const problem = add(variable, variable, quote(item), parseDependency(kind, item, ctx))
      if (problem !== undefined) return Result.fail(problem)
    }
  }
  for (const variable of dependencyJson) {
    const text = deps[variable]
    if (text === undefined) continue
    const items = GateJson[variable](text, ctx)
    if (Result.isFailure(items)) return Result.fail({ setting: variable, message: `${variable} ${items.failure}` })
    for (const [i, item] of items.success.entries()) {
      const problem = add(variable, variable, `[${i}]`, Result.succeed(item))
      if (problem !== undefined) return Result.fail(problem)
    }
  }
  return Result.succeed([...gates.values()])
}
