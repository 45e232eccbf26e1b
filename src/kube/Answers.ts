/**
 * Reading what the API server sends, within bounds: a whole body, or a
 * watch's lines, neither past `maxBytes`, the lines with an idle timer that
 * only a whole line resets (bytes trickling without a newline do not show a
 * watch alive). A server or proxy that sends more is cut off with one line
 * saying why, instead of growing the wrapper until the kernel kills it.
 */
import { Effect, Stream } from "effect"
import type * as http from "node:http"
import type { KubeError } from "./KubeError.ts"

/** The most of one body or one watch line read: 4 MiB (etcd stores no object over 1.5 MiB). */
export const maxBytes = 4 << 20
/** For the lines that say an answer was over it. */
export const readLimit = `${maxBytes >> 20} MiB, the most just-one-init reads`

/** A body over `maxBytes`. */
export class TooLong extends Error {}

/** The whole body, at most `maxBytes` of it. */
export const readBody = async (res: http.IncomingMessage): Promise<string> => {
  if (Number(res.headers["content-length"]) > maxBytes) {
    res.destroy()
    throw new TooLong()
  }
  const chunks: Array<Buffer> = []
  let size = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      res.destroy()
      throw new TooLong()
    }
    chunks.push(chunk)
  }
  if (!res.complete) throw new Error("the answer broke off")
  return Buffer.concat(chunks).toString("utf8")
}

/** The start of a line whose newline has not come yet. */
interface Line {
  readonly parts: ReadonlyArray<Buffer>
  readonly size: number
}
const noLine: Line = { parts: [], size: 0 }

/** The whole lines `chunk` completes, and what waits for its newline; undefined once a line is over `maxBytes`. */
const splitLines = (line: Line, chunk: Buffer): readonly [Line, ReadonlyArray<string>] | undefined => {
  const lines: Array<string> = []
  let parts = line.parts
  let size = line.size
  let from = 0
  for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
    if (size + nl - from > maxBytes) return undefined
    lines.push(Buffer.concat([...parts, chunk.subarray(from, nl)]).toString("utf8"))
    parts = []
    size = 0
    from = nl + 1
  }
  const rest = chunk.subarray(from)
  if (size + rest.length > maxBytes) return undefined
  return [rest.length === 0 ? { parts, size } : { parts: [...parts, rest], size: size + rest.length }, lines]
}

/** A watch's lines, each at most `maxBytes`; `failed` words a failure (the line says why). */
export const watchLines = (
  res: http.IncomingMessage,
  idleTimeoutMs: number,
  failed: (why: string) => KubeError
): Stream.Stream<string, KubeError> =>
  Stream.fromAsyncIterable(res as AsyncIterable<Buffer>, (cause) => failed(describe(cause))).pipe(
    Stream.mapAccumEffect(() => noLine, (line: Line, chunk: Buffer) => {
      const split = splitLines(line, chunk)
      return split === undefined
        ? Effect.fail(failed(`a line longer than ${readLimit}; dropped`))
        : Effect.succeed(split)
    }),
    // Only a whole line (an event, a bookmark) shows the watch alive.
    Stream.timeoutOrElse({
      duration: idleTimeoutMs,
      orElse: () => Stream.fail(failed(`no event for ${idleTimeoutMs}ms`))
    })
  )

/** Retry-After in ms (at most a minute), when it is a number of seconds. */
export const retryAfter = (header: string | null): number | undefined => {
  if (header === null) return undefined
  const seconds = Number(header)
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 60) * 1000 : undefined
}

/** An error of node:http in a few words, with its code. */
export const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    const code = inner instanceof Error ? ((inner as { code?: string }).code ?? inner.message) : undefined
    return code === undefined ? cause.message : `${cause.message} (${code})`
  }
  return String(cause)
}
