/**
 * Fault injection per client: which fault a request meets, answers that
 * replace the real one (hang, reset, status, HTML, garbage) and answers that
 * mangle it (truncated, slowloris).
 */
import { randomUUID } from "node:crypto"
import type { ServerResponse } from "node:http"
import type { Reply } from "./http.ts"
import { alive, resetSocket, send, serialize } from "./http.ts"
import type { ResourceType } from "./resources.ts"
import { resourceMatches } from "./resources.ts"
import type { Status } from "./status.ts"
import { conflict, notFound, statusBody } from "./status.ts"
import type { Fault, Verb } from "./types.ts"

export class Faults {
  private readonly faults = new Map<string, Fault>()

  set(client: string, fault: Fault | undefined) {
    if (fault === undefined) this.faults.delete(client)
    else this.faults.set(client, { ...fault })
  }

  /** The client's own fault, else the "*" one, if it covers this request; a counted fault counts down. */
  take(client: string, verb: Verb, rt: ResourceType, subresource: string | undefined): Fault | undefined {
    for (const key of [client, "*"]) {
      const f = this.faults.get(key)
      if (f === undefined || (f.verbs !== undefined && !f.verbs.includes(verb))) continue
      if (f.resources !== undefined && !f.resources.some((r) => resourceMatches(r, rt, subresource))) continue
      if (f.count !== undefined) {
        if (f.count <= 1) this.faults.delete(key)
        else f.count--
      }
      return f
    }
    return undefined
  }
}

const faultStatus = (
  code: number,
  rt: ResourceType,
  name: string | undefined,
  retryAfterSeconds: number | undefined
): Status => {
  const retry = retryAfterSeconds === undefined ? {} : { retryAfterSeconds }
  switch (code) {
    case 429:
      return statusBody(429, "TooManyRequests", "Too many requests, please try again later.", retry)
    case 500:
      return statusBody(500, "InternalError", "Internal error occurred: injected fault", {
        causes: [{ message: "injected fault" }],
        ...retry
      })
    case 503:
      return statusBody(503, "ServiceUnavailable", "The server is currently unable to handle the request", retry)
    case 504:
      return statusBody(504, "Timeout", "Timeout: request did not complete within the allotted timeout", retry)
    case 409:
      return conflict(rt, name ?? "").status
    case 404:
      return notFound(rt, name ?? "").status
    case 401:
      return statusBody(401, "Unauthorized", "Unauthorized")
    case 410:
      return statusBody(410, "Expired", "The resourceVersion for the provided watch is too old.")
    default:
      return statusBody(code, code >= 500 ? "InternalError" : "BadRequest", `injected fault (HTTP ${code})`, retry)
  }
}

const htmlPage =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

/** A fault that replaces the answer entirely (hang/reset/status/html/garbage). Answers whether it did. */
export const replaceAnswer = (
  f: Fault,
  res: ServerResponse,
  rt: ResourceType,
  name: string | undefined
): boolean => {
  if (f.hang) return true // never answer; the socket is destroyed by the client, close() or restart()
  if (f.reset) {
    resetSocket(res)
    return true
  }
  if (f.status !== undefined) {
    send(res, {
      code: f.status,
      body: faultStatus(f.status, rt, name, f.retryAfterSeconds),
      ...(f.retryAfterSeconds === undefined ? {} : { headers: { "retry-after": String(f.retryAfterSeconds) } })
    })
    return true
  }
  if (f.body === "html") {
    if (alive(res)) {
      res.writeHead(502, {
        "content-type": "text/html",
        "content-length": Buffer.byteLength(htmlPage),
        server: "nginx"
      })
      res.end(htmlPage)
    }
    return true
  }
  if (f.body === "garbage") {
    if (alive(res)) {
      const text = "<<<this is not JSON>>> \u0000\u0001 {\"kind\":"
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
      res.end(text)
    }
    return true
  }
  return false
}

/** truncated/slowloris applied to the real answer. */
export const mangle = (f: Fault, res: ServerResponse, r: Reply) => {
  if (!alive(res)) return
  const text = Buffer.from(serialize(r.body, false))
  res.writeHead(r.code, {
    "content-type": "application/json",
    "audit-id": randomUUID(),
    "content-length": text.length,
    ...r.headers
  })
  if (f.body === "truncated") {
    res.write(text.subarray(0, text.length >> 1), () => setTimeout(() => res.socket?.destroy(), 5))
    return
  }
  let i = 0
  res.flushHeaders()
  const timer = setInterval(() => {
    if (!alive(res)) return clearInterval(timer)
    if (i >= text.length - 1) {
      clearInterval(timer)
      res.end(text.subarray(i))
    } else res.write(text.subarray(i, ++i))
  }, 1000)
  res.on("close", () => clearInterval(timer))
}
