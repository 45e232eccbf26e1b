/** Low-level HTTP: replies with the API server's headers, request bodies, JSON decoding errors. */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { badRequest } from "./status.ts"
import { isRecord } from "./util.ts"

export interface Reply {
  readonly code: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

export const alive = (res: ServerResponse) => !res.destroyed && !res.writableEnded

export const serialize = (body: unknown, pretty: boolean) =>
  typeof body === "string" ? body : JSON.stringify(body, null, pretty ? 2 : undefined) + (pretty ? "\n" : "")

export const send = (res: ServerResponse, r: Reply, pretty = false) => {
  if (!alive(res)) return
  const text = serialize(r.body, pretty)
  res.writeHead(r.code, {
    "content-type": "application/json",
    "audit-id": randomUUID(),
    "cache-control": "no-cache, private",
    "content-length": Buffer.byteLength(text),
    ...r.headers
  })
  res.end(text)
}

export const resetSocket = (res: ServerResponse) => {
  const s = res.socket
  if (s === null) return
  if (typeof s.resetAndDestroy === "function") s.resetAndDestroy()
  else s.destroy()
}

export const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
    req.on("close", () => {
      if (!req.complete) reject(new Error("request aborted"))
    })
  })

/** A JSON object body, or the decoder's 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: ...`. */
export const parseJson = (text: string, what: string, version = "v1"): Record<string, unknown> => {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw badRequest(
      `${what} in version "${version}" cannot be handled as a ${what}: ${
        text.trim() === "" ? "unexpected end of JSON input" : `invalid character: ${(e as Error).message}`
      }`
    )
  }
  if (isRecord(v)) return v
  throw badRequest(
    `${what} in version "${version}" cannot be handled as a ${what}: json: cannot unmarshal ${
      Array.isArray(v) ? "array" : typeof v
    } into Go value of type struct`
  )
}
