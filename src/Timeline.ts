/**
 * just-one-init timeline [FILE...]: read replicas' logs (files, or standard
 * input when none is given or for "-"), print one merged timeline. Loads none
 * of the wrapper's services, least of all the Kubernetes client.
 */
import { createReadStream } from "node:fs"
import { basename } from "node:path"
import { createInterface } from "node:readline"
import type { Readable } from "node:stream"
import type { Entry } from "./domain/Timeline.ts"
import { buildTimeline, formatTimeline, parseLine } from "./domain/Timeline.ts"

const read = async (input: Readable, source: string, entries: Array<Entry>) => {
  // Lines longer than this are not ours (ours are well under 4 kB): skipped without being held whole.
  const lines = createInterface({ input, crlfDelay: Infinity })
  for await (const line of lines) {
    if (line.length > 65_536) continue
    const entry = parseLine(line, source, entries.length)
    if (entry !== undefined) entries.push(entry)
  }
}

/** Print the timeline of `files` (standard input when empty); resolves with the exit code. */
export const timeline = async (files: ReadonlyArray<string>): Promise<number> => {
  const entries: Array<Entry> = []
  for (const file of files.length === 0 ? ["-"] : files) {
    const input = file === "-" ? process.stdin : createReadStream(file)
    try {
      await read(input, file === "-" ? "stdin" : basename(file).replace(/\.(log|jsonl?|txt)$/, ""), entries)
    } catch (e) {
      process.stderr.write(`just-one-init: timeline: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}\n`)
      return 2
    }
  }
  process.stdout.write(formatTimeline(buildTimeline(entries)))
  return 0
}
