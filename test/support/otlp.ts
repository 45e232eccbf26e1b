/**
 * A local OTLP/HTTP receiver: it answers every POST with 200 and keeps what it
 * got, so a test can read the spans a real wrapper exported (JSON bodies are
 * decoded; protobuf bodies are kept raw).
 */
import { createServer } from "node:http"

export interface Received {
  readonly path: string
  readonly contentType: string
  readonly body: Buffer
}

export interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes: Record<string, unknown>
  readonly status: { readonly code: number }
}

const valueOf = (v: Record<string, unknown>): unknown =>
  "stringValue" in v
    ? v["stringValue"]
    : "intValue" in v
    ? Number(v["intValue"])
    : "doubleValue" in v
    ? v["doubleValue"]
    : "boolValue" in v
    ? v["boolValue"]
    : v

const attributes = (kvs: ReadonlyArray<{ key: string; value: Record<string, unknown> }>) =>
  Object.fromEntries(kvs.map((kv) => [kv.key, valueOf(kv.value)]))

export const startReceiver = async () => {
  const received: Array<Received> = []
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        contentType: req.headers["content-type"] ?? "",
        body: Buffer.concat(chunks)
      })
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** The resources and spans of every JSON export so far. */
    spans: () =>
      received.filter((r) => r.contentType.includes("json")).flatMap((r) => {
        const data = JSON.parse(r.body.toString("utf8")) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: Record<string, unknown> }> }
            scopeSpans: Array<
              { spans: Array<OtlpSpan & { attributes: Array<{ key: string; value: Record<string, unknown> }> }> }
            >
          }>
        }
        return data.resourceSpans.flatMap((rs) =>
          rs.scopeSpans.flatMap((ss) =>
            ss.spans.map((s) => ({
              ...s,
              attributes: attributes(s.attributes),
              resource: attributes(rs.resource.attributes)
            }))
          )
        )
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
