/**
 * No secret in any output: a real wrapper waits for gates whose URLs carry a
 * token as user name, a user name and password, and tokens in the query, and
 * every output of the run (stderr at debug level, stdout, /status,
 * /debug/transitions, /metrics, the --wait-timeout line, exported spans) is
 * searched for them, while each gate stays recognisable by its scheme, host,
 * port, path and query keys.
 */
import { spawn } from "node:child_process"
import { createServer as createHttpServer } from "node:http"
import type { Server } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import { childPath, freePort, nodeBin, Replica, wrapperPath } from "../harness/replica.ts"
import { startReceiver } from "./support/otlp.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("secrets")
const servers: Array<{ close(): unknown }> = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

const secrets = ["ghp_S3CRETTOKEN", "us3rNAME", "pw0rdS3CRET", "QS3CRETVALUE", "tokS3CRETUSER", "KS3CRETREFUSED"]

describe("gates with secrets in their URLs", () => {
  it("never show a secret, in any output, and stay recognisable", async () => {
    const http: Server = createHttpServer((req, res) => {
      const basic = `Basic ${Buffer.from("us3rNAME:pw0rdS3CRET").toString("base64")}`
      res.writeHead(req.url === "/ready" && req.headers.authorization === basic ? 200 : 503).end()
    })
    servers.push(http)
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()))
    const port = (http.address() as { port: number }).port
    const closed = await freePort()
    const receiver = await startReceiver()
    servers.push(receiver)
    const at = `127.0.0.1:${port}`
    const gates = [
      `http://ghp_S3CRETTOKEN@${at}/health`,
      `http://us3rNAME:pw0rdS3CRET@${at}/ready`,
      `http://${at}/x?access_token=QS3CRETVALUE&mode=ro`,
      `http://tokS3CRETUSER@127.0.0.1:${closed}/h?key=KS3CRETREFUSED`,
      `tcp:127.0.0.1:${closed}`,
      "dns:localhost"
    ]
    const kubeconfig = `${sb.dir}/s.kubeconfig`
    sb.emu.writeKubeconfig(kubeconfig, "s", "default")
    const proc = spawn(nodeBin, [
      wrapperPath,
      "--log-level",
      "debug",
      // Past one 10 s summary of the gates still pending.
      "--wait-timeout",
      "10500ms",
      ...gates.flatMap((g) => ["--wait-for", g]),
      "--",
      nodeBin,
      childPath
    ], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env["PATH"] ?? "",
        KUBECONFIG: kubeconfig,
        LEASE_NAME: sb.leaseName,
        POD_NAME: "s",
        LISTEN_ADDR: "127.0.0.1:0",
        CHILD_LOG: sb.childLog(),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
      }
    })
    let stdout = ""
    proc.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    const r = new Replica("s", proc)
    sb.replicas.push(r)

    const waiting = await r.waitFor((l) => l.message === "waiting for gates", "waiting line")
    expect(waiting.annotations["gates"]).toEqual([
      `http://***@${at}/health`,
      `http://***:***@${at}/ready`,
      `http://${at}/x?access_token=***&mode=***`,
      `http://***@127.0.0.1:${closed}/h?key=***`,
      `tcp 127.0.0.1:${closed}`,
      "dns localhost"
    ])
    await r.waitFor((l) => l.message === "gate passed" && String(l.annotations["gate"]).endsWith("/ready"), "a pass")
    await r.waitFor((l) => l.message === "gates pending", "the 10 s summary", 15_000)
    const pages = await Promise.all(["/status", "/debug/transitions", "/metrics"].map(async (path) => {
      const res = await fetch(`http://127.0.0.1:${await r.port}${path}`)
      return res.text()
    }))
    const status = JSON.parse(pages[0]!) as { gates: Array<{ gate: string; reason: string | null }> }
    expect(status.gates.find((g) => g.gate.includes(`${closed}/h`))?.reason).toBe("connection refused")
    const { code } = await r.exited
    expect(code).toBe(124)
    const last = r.stderr.trim().split("\n").at(-1) ?? ""
    expect(last).toContain(`http://${at}/x?access_token=***&mode=***: HTTP 503`)
    const spans = receiver.received.map((x) => x.body.toString("utf8")).join("\n")
    expect(spans).toContain(`http://***@${at}/health`)
    for (
      const [name, text] of [["stderr", r.stderr], ["stdout", stdout], ["pages", pages.join("\n")], [
        "spans",
        spans
      ]] as const
    ) {
      for (const secret of secrets) expect(text.includes(secret), `${secret} in ${name}`).toBe(false)
    }
  }, 30_000)
})
