/**
 * One setting from its candidate texts: `setting` chooses among an option's
 * flag, environment variables, facts and default, decodes the text with the
 * option's value schema (Values.ts), whose messages have no subject ("must be
 * a duration …"), and puts the option's name in front.
 */
import { Effect, Result, Schema, SchemaGetter, SchemaIssue, SchemaParser } from "effect"

/** One text an option may take its value from: a flag, a variable, a fact about the host, or the default. */
export const Candidate = Schema.Struct({
  source: Schema.String,
  value: Schema.String,
  /** A fact or default: used only when no flag or variable is set, and never in conflict with them. */
  weak: Schema.Boolean
})
export type Candidate = typeof Candidate.Type
export const Candidates = Schema.Array(Candidate)

export const isFlag = (source: string) => source.startsWith("-")

/** Input echoed in a message: quoted (so it stays on one line) and cut short. */
export const quote = (text: string, max = 80) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text)

export const invalid = (message: string) => new SchemaIssue.InvalidValue({ message })

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first problem an issue holds (decoding stops at the first anyway), and where it is. */
export const firstIssue = (issue: SchemaIssue.Issue) => {
  const first = formatter(issue).issues[0]
  return {
    path: (first?.path ?? []).map((p) => (typeof p === "object" ? p.key : p)),
    message: first?.message ?? "is invalid"
  }
}

/** The first problem as text, e.g. `[0].port: Expected number` or `namespace must be a DNS label …`. */
export const firstProblem = (issue: SchemaIssue.Issue): string => {
  const { message, path } = firstIssue(issue)
  const where = path.map((p, i) =>
    typeof p === "number"
      ? `[${p}]`
      : /^[A-Za-z_][\w-]*$/.test(String(p))
      ? `${i === 0 ? "" : "."}${String(p)}`
      : `[${quote(String(p), 40)}]`
  ).join("")
  return where === "" ? message : /^[a-z]/.test(message) ? `${where} ${message}` : `${where}: ${message}`
}

/** Settings are decoded, never encoded. */
export const readOnly = <T, E>() => SchemaGetter.forbidden<T, E>(() => "settings are read, never written")

/** A schema from text to `to` through `parse`, which answers the value or what is wrong with the text. */
export const fromText = <T>(to: Schema.Codec<T>, parse: (text: string) => Result.Result<T, string>) =>
  Schema.String.pipe(Schema.decodeTo(to, {
    decode: SchemaGetter.transformEffect((text: string) =>
      Result.match(parse(text), { onSuccess: Effect.succeed, onFailure: (m) => Effect.fail(invalid(m)) })
    ),
    encode: readOnly()
  }))

/** A check whose message may show the value. */
export const rule = <T>(holds: (value: T) => boolean, message: (value: T) => string) =>
  Schema.makeFilter<T>((value) => holds(value) || message(value))

/** A rule on several fields, reported against the setting `key`. */
export const ruleAt = <T>(key: string, holds: (value: T) => boolean, message: (value: T) => string) =>
  Schema.makeFilter<T>((value) => holds(value) || { path: [key], issue: message(value) })

/** An endpoint port as k8s-await-election's K8S_AWAIT_ELECTION_SERVICE_PORTS_JSON has it (core/v1 EndpointPort). */
/** An issue about the setting `key`, for rules checked outside a struct of settings. */
export const at = (key: string, message: string) => new SchemaIssue.Pointer([key], invalid(message))

export const Sourced = <S extends Schema.Top>(value: S) =>
  Schema.Struct({ value, source: Schema.String, weak: Schema.Boolean })

/**
 * One option from its candidates: a flag wins; otherwise the variables set for
 * it must agree once decoded (they may belong to different tools); otherwise
 * the first fact or default. With `missing`, having none is
 * that error; without, the setting is undefined.
 */
export function setting<T>(
  name: string,
  text: Schema.Codec<T, string>,
  missing: string
): Schema.Codec<Sourced<T>, ReadonlyArray<Candidate>>
export function setting<T>(
  name: string,
  text: Schema.Codec<T, string>
): Schema.Codec<Sourced<T> | undefined, ReadonlyArray<Candidate>>
export function setting<T>(
  name: string,
  text: Schema.Codec<T, string>,
  missing?: string
): Schema.Codec<Sourced<T> | undefined, ReadonlyArray<Candidate>> {
  const decode = SchemaParser.decodeUnknownEffect(text)
  const type = Schema.toType(text) as Schema.Codec<T>
  const same = Schema.toEquivalence(type)
  const one = (c: Candidate) =>
    decode(c.value).pipe(
      Effect.map((value): Sourced<T> => ({ value, source: c.source, weak: c.weak })),
      Effect.mapError((issue) => {
        const subject = isFlag(c.source) || c.source === name || c.source === "default" ? name : `${name} (${c.source})`
        return invalid(`${subject} ${firstProblem(issue)}`)
      })
    )
  const pick = (cs: ReadonlyArray<Candidate>): Effect.Effect<Sourced<T> | undefined, SchemaIssue.Issue> => {
    const flag = cs.find((c) => isFlag(c.source) && !c.weak)
    if (flag !== undefined) return one(flag)
    const set = cs.filter((c) => !c.weak)
    if (set.length === 0) {
      if (cs[0] !== undefined) return one(cs[0])
      return missing === undefined ? Effect.succeed(undefined) : Effect.fail(invalid(missing))
    }
    return Effect.forEach(set, one).pipe(Effect.flatMap((values) => {
      const first = values[0]!
      const other = values.findIndex((v) => !same(v.value, first.value))
      if (other === -1) return Effect.succeed(first)
      return Effect.fail(invalid(
        `${set[0]!.source}=${quote(set[0]!.value, 40)} and ${set[other]!.source}=${
          quote(set[other]!.value, 40)
        } disagree about ${name}; unset one of them, or give ${name} to choose`
      ))
    }))
  }
  const to = missing === undefined ? Schema.UndefinedOr(Sourced(type)) : Sourced(type)
  return Candidates.pipe(Schema.decodeTo(to as Schema.Codec<Sourced<T> | undefined>, {
    decode: SchemaGetter.transformEffect(pick),
    encode: readOnly()
  }))
}
export interface Sourced<T> {
  readonly value: T
  readonly source: string
  readonly weak: boolean
}
