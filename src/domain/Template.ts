/**
 * kubernetes-entrypoint's config templates: Go `text/template` executed with
 * three string fields (`IP`, `IP_ERLANG`, `HOSTNAME`). With such data a
 * template can only print a field, so that is what is implemented: `{{ .IP }}`,
 * Go's trim markers (`{{- ` and ` -}}` eat the white space beside them) and
 * comment actions. Anything else is refused with a line naming it,
 * where Go would have printed an error too (no npm package executes Go
 * templates; a port of text/template would be thousands of lines for these three).
 */
import { Result } from "effect"

/** An action with its optional trim markers: `{{- ` needs white space after the dash, ` -}}` before it. */
const action = /\{\{(-[ \t\r\n])?([\s\S]*?)([ \t\r\n]-)?\}\}/g
const field = /^\.([A-Za-z_][A-Za-z0-9_]*)$/
const comment = /^\/\*[\s\S]*\*\/$/
/** Go's trim markers eat ASCII white space only. */
const trimStart = (s: string) => s.replace(/^[ \t\r\n]+/, "")
const trimEnd = (s: string) => s.replace(/[ \t\r\n]+$/, "")

/** Render `text` with `values`; a field that is not there or an unsupported action is the failure. */
export const renderTemplate = (
  text: string,
  values: Readonly<Record<string, string>>
): Result.Result<string, string> => {
  let out = ""
  let last = 0
  let trimNext = false
  for (const m of text.matchAll(action)) {
    const literal = text.slice(last, m.index)
    const kept = trimNext ? trimStart(literal) : literal
    out += m[1] === undefined ? kept : trimEnd(kept)
    trimNext = m[3] !== undefined
    last = m.index + m[0].length
    const body = m[2]!.trim()
    if (comment.test(body)) continue
    const name = field.exec(body)?.[1]
    if (name === undefined) {
      return Result.fail(
        `unsupported action ${
          JSON.stringify(m[0].slice(0, 60))
        }: a config template can use {{ .IP }}, {{ .IP_ERLANG }} and {{ .HOSTNAME }}`
      )
    }
    if (!Object.hasOwn(values, name)) {
      return Result.fail(`no field ${name}: a config template can use {{ .IP }}, {{ .IP_ERLANG }} and {{ .HOSTNAME }}`)
    }
    out += values[name]
  }
  const rest = text.slice(last)
  if (rest.includes("{{")) return Result.fail("an action opened with {{ is never closed")
  return Result.succeed(out + (trimNext ? trimStart(rest) : rest))
}

/** The values kubernetes-entrypoint gives its templates: the interface's address, that address with commas, the hostname. */
export const templateValues = (ip: string, hostname: string) => ({
  IP: ip,
  IP_ERLANG: ip.replaceAll(".", ","),
  HOSTNAME: hostname
})
