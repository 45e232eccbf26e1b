/**
 * Shell-style word splitting for kubernetes-entrypoint's `COMMAND`: blanks
 * separate words, single quotes keep everything, double quotes keep all but
 * `\"`, `\\`, `\$` and `` \` ``, a backslash outside quotes keeps the next
 * character. Nothing is expanded: `$HOME`, `*` and `~` stay as written.
 *
 * Hand-rolled because effect/process's `CommandLine.template` splits the same
 * way but refuses `$`, globs, operators, `#` and `~` (it stands in for a shell),
 * while kubernetes-entrypoint passes such characters through literally.
 */
import { Result } from "effect"

const blank = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r"

/** The words of `text`, or why it cannot be split (an unterminated quote, a trailing backslash). */
export const splitWords = (text: string): Result.Result<Array<string>, string> => {
  const words: Array<string> = []
  let word = ""
  // Whether a word has started: an empty quote ('') is a word of its own.
  let started = false
  let quote: "'" | "\"" | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    const next = text[i + 1]
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word += c
    } else if (quote === "\"") {
      if (c === "\"") quote = undefined
      else if (c === "\\" && next !== undefined && "\"\\$`\n".includes(next)) {
        if (next !== "\n") word += next
        i++
      } else word += c
    } else if (blank(c)) {
      if (started) words.push(word)
      word = ""
      started = false
    } else if (c === "\\") {
      if (next === undefined) return Result.fail("ends with a backslash that escapes nothing")
      i++
      // A backslash before a line break joins the lines.
      if (next !== "\n") {
        word += next
        started = true
      }
    } else {
      if (c === "'" || c === "\"") quote = c
      else word += c
      started = true
    }
  }
  if (quote !== undefined) return Result.fail(`has an unterminated ${quote === "'" ? "single" : "double"} quote`)
  if (started) words.push(word)
  return Result.succeed(words)
}
