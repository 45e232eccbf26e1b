/**
 * Dependency gates end to end: real wrapper processes, a real child, the
 * emulator over HTTP, real sockets and files. The child and the lease wait
 * for every gate; a timeout, a 403 and a stop signal while waiting; the three
 * ways to declare gates; COMMAND's quoting; the election off; an init
 * container with no command; and the Kubernetes client built only when a gate
 * needs it.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { ForbiddenRule } from "../emulator/index.ts"
import { objects } from "../emulator/index.ts"
import { readRecords } from "../harness/lives.ts"
import type { LogLine, Replica } from "../harness/replica.ts"
import { eventually, freePort, nodeBin, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("gates")
const servers: Array<Server> = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

const message = (m: string) => (l: LogLine) => l.message === m
const passedGate = (gate: string) => (l: LogLine) => l.message === "gate passed" && l.annotations["gate"] === gate
const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start")
const leaseRequests = (id: string) =>
  Object.values(sb.emu.requests(id, "leases.coordination.k8s.io")).reduce((a, b) => a + b, 0)

const listen = async (port: number) => {
  const server = createServer((s) => s.destroy())
  servers.push(server)
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()))
}

/** Lease writes as the API server commits them, with the time each was seen. */
const leaseWrites = () => {
  const writes: Array<{ t: number; holder: string }> = []
  sb.emu.onChange((ev) => {
    if (ev.lease.metadata.name === sb.leaseName) {
      writes.push({ t: Date.now(), holder: ev.lease.spec?.holderIdentity ?? "" })
    }
  })
  return writes
}

/** `get` again every 20 ms until its answer satisfies `ok` (a state that no log line announces). */
const polled = async <A>(get: () => Promise<A>, ok: (a: A) => boolean, timeoutMs = 10_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const a = await get()
    if (ok(a) || Date.now() > deadline) return a
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The wrapper has judged its gates at least once and found them pending (and so is waiting). */
const pendingSeen = (r: Replica) =>
  polled(
    () => r.http("/status"),
    (s) => (s.body["gates"] as Array<{ reason: string | null }>).every((g) => g.reason !== null)
  ).then((s) => {
    for (const g of s.body["gates"] as Array<{ passed: boolean; reason: string | null }>) {
      expect([g.passed, g.reason === null]).toEqual([false, false])
    }
  })

const timedOut = async (r: Replica) => {
  const { code } = await r.exited
  return { code, last: r.stderr.trim().split("\n").at(-1) ?? "" }
}

describe("gates before the election", () => {
  it("the child and the lease wait for every gate; the child starts at once after the last passes", async () => {
    const port = await freePort()
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: false }] }))
    sb.emu.putObject(objects.job({ name: "migrate", active: 1 }))
    const writes = leaseWrites()
    const r = sb.replica("a", {
      args: ["--wait-for", "service:db", "--wait-for", "job:migrate", "--wait-for", `tcp:127.0.0.1:${port}`]
    })
    const waiting = await r.waitFor(message("waiting for gates"), "waiting line")
    expect(waiting.annotations["gates"]).toEqual(["service default/db", "job default/migrate", `tcp 127.0.0.1:${port}`])

    // Probes while waiting: alive, not the leader, and /status lists every gate with its reason.
    expect((await r.http("/healthz")).status).toBe(200)
    expect((await r.http("/healthcheck")).status).toBe(404)
    const status = await polled(
      () => r.http("/status"),
      (s) => (s.body["gates"] as Array<{ reason: string | null }>).every((g) => g.reason !== null)
    )
    expect(status.body).toEqual({
      phase: "waiting",
      gates: [
        { gate: "service default/db", passed: false, reason: "0 ready endpoints (1 not ready)" },
        { gate: "job default/migrate", passed: false, reason: "not succeeded yet (1 active)" },
        { gate: `tcp 127.0.0.1:${port}`, passed: false, reason: "connection refused" }
      ],
      timings: { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500, stopGraceMs: 1_000, chosen: [] }
    })

    await listen(port)
    await r.waitFor(passedGate(`tcp 127.0.0.1:${port}`), "tcp gate passed")
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: true }] }))
    await r.waitFor(passedGate("service default/db"), "service gate passed")
    expect(starts()).toEqual([])
    expect(writes).toEqual([])
    // Not even read: the election has not begun.
    expect(leaseRequests("a")).toBe(0)

    const lastGate = Date.now()
    sb.emu.putObject(objects.job({ name: "migrate", succeeded: 1 }))
    await r.waitFor(message("gates passed"), "all gates passed")
    const [child] = await eventually(() => (starts().length > 0 ? starts() : undefined), "the child")
    expect(child!.t).toBeGreaterThanOrEqual(lastGate)
    // A wide safety bound; how quickly is measured by npm run bench.
    expect(child!.t - lastGate).toBeLessThan(3000)
    expect(writes.length).toBeGreaterThan(0)
    expect(writes.every((w) => w.t >= lastGate)).toBe(true)
    expect(writes[0]!.holder).toBe("a")
    expect(leaseRequests("a")).toBeGreaterThan(0)
  })

  it("--wait-timeout exits 124 naming every gate still pending, with no child and no lease", async () => {
    const port = await freePort()
    const ready = join(sb.dir, "ready")
    writeFileSync(ready, "")
    const r = sb.replica("t", {
      args: [
        "--wait-timeout",
        "1500ms",
        "--wait-for",
        `file:${ready}`,
        "--wait-for",
        `tcp:127.0.0.1:${port}`,
        "--wait-for",
        "service:db"
      ]
    })
    const { code, last } = await timedOut(r)
    expect(code).toBe(124)
    expect(last).toBe(
      `just-one-init: --wait-timeout (1500ms) ran out; still pending: tcp 127.0.0.1:${port}: connection refused; service default/db: 0 ready endpoints (no EndpointSlice)`
    )
    expect(r.lines.some(passedGate(`file ${ready}`))).toBe(true)
    expect(starts()).toEqual([])
    expect(leaseRequests("t")).toBe(0)
  })

  it("SIGTERM while waiting exits 0 at once, with no child and no lease written", async () => {
    const writes = leaseWrites()
    const r = sb.replica("s", { args: ["--wait-for", `tcp:127.0.0.1:${await freePort()}`] })
    await r.waitFor(message("waiting for gates"), "waiting line")
    const sent = Date.now()
    r.signal("SIGTERM")
    expect((await r.exited).code).toBe(0)
    expect(Date.now() - sent).toBeLessThan(2000)
    expect(r.lines.find(message("stopped while waiting for gates"))?.annotations["signal"]).toBe("SIGTERM")
    expect(starts()).toEqual([])
    expect(writes).toEqual([])
    expect(leaseRequests("s")).toBe(0)
  })

  it("a 403 on a gate's resource is said once with what the Role needs, and is not fatal", async () => {
    // The emulator reads its rules at each request: removing this one is granting the Role.
    const rules: Array<ForbiddenRule> = [{ client: "f", resource: "jobs" }]
    await sb.restartEmulator({ forbidden: rules })
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
    const r = sb.replica("f", { args: ["--wait-for", "job:migrate"] })
    const forbidden =
      "forbidden to list jobs.batch in namespace default (403): the Role bound to this service account needs list and watch on jobs.batch"
    const warning = await r.waitFor((l) => l.level === "WARN" && l.message === forbidden, "the 403 warning")
    expect(warning.annotations["gate"]).toBe("job default/migrate")
    await eventually(() => (sb.emu.requests("f", "jobs").list >= 3 ? true : undefined), "three lists")
    expect(r.lines.filter((l) => l.level === "WARN")).toHaveLength(1)
    expect(r.exitCode).toBeUndefined()
    expect((await r.http("/status")).body["gates"]).toEqual([
      { gate: "job default/migrate", passed: false, reason: forbidden }
    ])

    rules.splice(0)
    sb.emu.putObject(objects.job({ name: "migrate", succeeded: 1 }))
    await r.transition("Leader")
    await eventually(() => (starts().length > 0 ? true : undefined), "the child")
  })
})

describe("ways to declare gates", () => {
  it("--wait-for, WAIT_FOR and kubernetes-entrypoint's variables give the same gates and the same result", async () => {
    const socket = join(sb.dir, "db.sock")
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1" }] }))
    sb.emu.putObject(objects.job({ name: "migrate", active: 1 }))
    const common = { command: [], args: ["--wait-timeout", "2s"] }
    const forms = [
      sb.replica("flags", {
        ...common,
        args: [
          ...common.args,
          "--wait-for",
          "service:db",
          "--wait-for",
          "job:migrate",
          "--wait-for",
          `socket:${socket}`
        ]
      }),
      sb.replica("waitfor", { ...common, env: { WAIT_FOR: `service:db, job:migrate, socket:${socket}` } }),
      sb.replica("entrypoint", {
        ...common,
        env: { DEPENDENCY_SERVICE: "db", DEPENDENCY_JOBS: "default:migrate", DEPENDENCY_SOCKET: socket }
      })
    ]
    const results = await Promise.all(forms.map(timedOut))
    const waiting = forms.map((r) => r.lines.find(message("waiting for gates"))!.annotations["gates"])
    expect(waiting).toEqual(Array(3).fill(["service default/db", "job default/migrate", `socket ${socket}`]))
    expect(results).toEqual(
      Array(3).fill({
        code: 124,
        last:
          `just-one-init: --wait-timeout (2s) ran out; still pending: job default/migrate: not succeeded yet (1 active); socket ${socket}: does not exist`
      })
    )
  })

  it("COMMAND is split as a shell splits words, run after the gates with the election off, its code passed through", async () => {
    const out = join(sb.dir, "argv")
    const flag = join(sb.dir, "flag")
    const r = sb.replica("c", {
      command: [],
      args: ["--no-election", "--wait-for", `file:${flag}`],
      env: { COMMAND: `sh -c 'printf "%s|" "$@" > ${out}; exit 3' argv0 "a  b" 'c d' e\\ f` }
    })
    await r.waitFor(message("waiting for gates"), "waiting line")
    expect(existsSync(out)).toBe(false)
    writeFileSync(flag, "")
    expect((await r.exited).code).toBe(3)
    expect(readFileSync(out, "utf8")).toBe("a  b|c d|e f|")
  })

  it("--no-election with an API gate builds the client, runs the command after it, and passes its exit code", async () => {
    const r = sb.replica("n", { args: ["--no-election", "--wait-for", "job:migrate"], command: ["sh", "-c", "exit 7"] })
    await r.waitFor((l) => l.message === "waiting for gates", "waiting line")
    await pendingSeen(r)
    expect(r.exitCode).toBeUndefined()
    sb.emu.putObject(objects.job({ name: "migrate", succeeded: 1 }))
    expect((await r.exited).code).toBe(7)
    expect(leaseRequests("n")).toBe(0)
  })

  it("gates and no command: an init container waits, then exits 0, with the election never run", async () => {
    const r = sb.replica("i", { command: [], env: { DEPENDENCY_SERVICE: "db" } })
    await r.waitFor(message("waiting for gates"), "waiting line")
    await pendingSeen(r)
    expect(r.exitCode).toBeUndefined()
    sb.emu.putObject(objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1" }] }))
    expect((await r.exited).code).toBe(0)
    expect(leaseRequests("i")).toBe(0)
    expect(starts()).toEqual([])
  })
})

describe("the Kubernetes client only when a gate needs it", () => {
  /** A wrapper with no API configuration at all. */
  const bare = (args: ReadonlyArray<string>) => {
    const home = mkdtempSync(join(tmpdir(), "joi-gates-"))
    const proc = spawn(nodeBin, [wrapperPath, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env["PATH"] ?? "", HOME: home, LISTEN_ADDR: "127.0.0.1:0" }
    })
    let stderr = ""
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    return new Promise<{ code: number | null; stderr: string }>((resolve) =>
      proc.once("exit", (code) => resolve({ code, stderr }))
    )
  }

  it("local gates need no configuration; an API gate without one is one line and exit 2", async () => {
    const ready = join(sb.dir, "ready")
    writeFileSync(ready, "")
    const local = await bare(["--no-election", "--wait-for", `file:${ready}`, "--", "sh", "-c", "exit 5"])
    expect(local.code).toBe(5)
    expect(local.stderr).not.toMatch(/KUBECONFIG/)
    const api = await bare(["--no-election", "--wait-for", "service:db", "--", "true"])
    expect(api.code).toBe(2)
    expect(api.stderr.trim().split("\n")).toHaveLength(1)
    expect(api.stderr).toMatch(/^just-one-init: no Kubernetes API configuration: KUBECONFIG is not set/)
  })
})
