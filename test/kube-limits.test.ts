/**
 * Answers too big to hold: a real wrapper against a raw HTTP server that
 * sends a lease body without end, or a watch line without a newline. The
 * wrapper's memory stays bounded (its peak resident size, read from /proc),
 * and one line says why the answer was dropped.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { Replica } from "../harness/replica.ts"
import { eventually, startReplica } from "../harness/replica.ts"

const leaseName = "limits"
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/default/leases/${leaseName}`
const lease = JSON.stringify({
  kind: "Lease",
  apiVersion: "coordination.k8s.io/v1",
  metadata: { name: leaseName, namespace: "default", uid: "u1", resourceVersion: "5" },
  spec: { holderIdentity: "other", leaseDurationSeconds: 3600, renewTime: "2026-01-01T00:00:00.000000Z" }
})
const list = JSON.stringify({
  kind: "LeaseList",
  apiVersion: "coordination.k8s.io/v1",
  metadata: { resourceVersion: "5" },
  items: [JSON.parse(lease)]
})

/** Write `chunk` until `total` bytes went out or the client went away, as fast as the client reads. */
const flood = (res: ServerResponse, chunk: Buffer, total: number, sent: { bytes: number }) => {
  let left = total
  const more = () => {
    while (left > 0 && !res.destroyed) {
      left -= chunk.length
      sent.bytes += chunk.length
      if (!res.write(chunk)) return void res.once("drain", more)
    }
    res.end()
  }
  more()
}

interface Raw {
  readonly server: Server
  readonly dir: string
  readonly kubeconfig: string
  readonly sent: { bytes: number }
  readonly requests: Array<string>
}

const servers: Array<Server> = []
const replicas: Array<Replica> = []
afterEach(async () => {
  for (const r of replicas.splice(0)) {
    r.signal("SIGKILL")
    await r.exited
  }
  await Promise.all(servers.splice(0).map((s) => new Promise((ok) => (s.closeAllConnections(), s.close(ok)))))
})

/** A raw API server that answers with `handle`, and a kubeconfig for it. */
const rawApi = async (handle: (req: IncomingMessage, res: ServerResponse, raw: Raw) => void): Promise<Raw> => {
  const dir = mkdtempSync(join(tmpdir(), "joi-limits-"))
  const raw: Raw = {
    server: createServer((req, res) => {
      raw.requests.push(`${req.method} ${req.url}`)
      handle(req, res, raw)
    }),
    dir,
    kubeconfig: join(dir, "kubeconfig"),
    sent: { bytes: 0 },
    requests: []
  }
  servers.push(raw.server)
  await new Promise<void>((ok) => raw.server.listen(0, "127.0.0.1", ok))
  const port = (raw.server.address() as { port: number }).port
  writeFileSync(
    raw.kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: raw, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      "users: [{name: raw, user: {token: raw}}]",
      "contexts: [{name: raw, context: {cluster: raw, user: raw, namespace: default}}]",
      "current-context: raw",
      ""
    ].join("\n")
  )
  return raw
}

const wrapper = (raw: Raw) => {
  const r = startReplica({ id: "w", kubeconfig: raw.kubeconfig, leaseName, childLog: join(raw.dir, "children.jsonl") })
  replicas.push(r)
  return r
}

/** The wrapper's peak resident size so far, in MB. */
const peakMb = (r: Replica) =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${r.proc.pid}/status`, "utf8"))?.[1] ?? NaN) / 1024

const json = (res: ServerResponse, code: number, text: string) =>
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text)

/** What a bound of "a few MiB" leaves the wrapper at most, with room for Node itself. */
const boundMb = 200

describe("answers too big to hold", () => {
  it("a lease GET whose body never ends is cut at the cap: memory stays bounded, and the line says why", async () => {
    const raw = await rawApi((req, res, raw) => {
      if (req.method === "GET" && req.url === leasePath) {
        res.writeHead(200, { "content-type": "application/json" })
        res.write(`{"kind":"Lease","metadata":{"resourceVersion":"5","annotations":{"x":"`)
        return flood(res, Buffer.alloc(1 << 20, "a"), 1 << 30, raw.sent)
      }
      if (req.method === "GET" && req.url?.includes("watch=true")) return // a watch that stays silent
      if (req.method === "GET") return json(res, 200, list)
      json(res, 500, `{"kind":"Status","code":500,"message":"nothing here"}`)
    })
    const r = wrapper(raw)
    const gets = () => raw.requests.filter((q) => q === `GET ${leasePath}`).length
    await eventually(() => (gets() >= 3 ? true : undefined), "three reads of the lease")
    expect(peakMb(r)).toBeLessThan(boundMb)
    const line = await r.waitFor(
      (l) => l.level === "WARN" && String(l.message).includes(leaseName),
      "the read's warning"
    )
    expect(line.message).toContain("larger than 4 MiB")
  })

  it("a watch line that never ends is cut at the cap: memory stays bounded, and the line says why", async () => {
    const raw = await rawApi((req, res, raw) => {
      if (req.method === "GET" && req.url === leasePath) return json(res, 200, lease)
      if (req.method === "GET" && req.url?.includes("watch=true")) {
        res.writeHead(200, { "content-type": "application/json" })
        return flood(res, Buffer.alloc(64 << 10, "x"), 1 << 30, raw.sent)
      }
      if (req.method === "GET") return json(res, 200, list)
      json(res, 500, `{"kind":"Status","code":500,"message":"nothing here"}`)
    })
    const r = wrapper(raw)
    const down = r.waitFor((l) => String(l.message).includes("is down"), "the watch-down line", 30_000)
    // Either the watch is dropped and said so, or 256 MB went down a watch that was never dropped.
    await Promise.race([down, eventually(() => (raw.sent.bytes >= 256 << 20 ? true : undefined), "256 MB", 30_000)])
    expect(peakMb(r)).toBeLessThan(boundMb)
    expect(String((await down).annotations["why"])).toContain("longer than 4 MiB")
  })
})
