/**
 * Every line of the wrapper on stderr, in the chosen format: whatever the
 * wrapper logs, the health server's included (a page that fails, connections
 * refused over its limit, a request it cannot parse), in every log format and
 * level, stderr a terminal or not, stdout carries the child's bytes and
 * nothing else, through an election, a handover and SIGTERM.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { freePort, nodeBin, root } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("streams")

/**
 * A bundle whose /metrics page fails: the Prometheus chunk is left out, so the first scrape's import
 * throws, and the health server logs a warning from its request handler.
 */
const bundleWithoutMetrics = () => {
  const dir = join(sb.dir, "dist")
  mkdirSync(dir)
  for (const f of readdirSync(join(root, "dist"))) {
    if (!f.startsWith("Prometheus-")) copyFileSync(join(root, "dist", f), join(dir, f))
  }
  return join(dir, "just-one-init.mjs")
}

/** What the child writes to its stdout: no newline, a NUL and a byte that is no UTF-8. */
const childBytes = (id: string) => Buffer.concat([Buffer.from(`child ${id}`), Buffer.from([0, 0xff])])
const child = ["/bin/sh", "-c", "printf 'child %s\\000\\377' \"$CHILD_ID\"; exec sleep 600"]

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`

interface Mode {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** stderr a terminal (through script(1)); stdout is a file or a pipe either way. */
  readonly tty: boolean
  readonly format: "json" | "pretty"
  /** Whether a warning gets through the level. */
  readonly warns: boolean
}

const modes: ReadonlyArray<Mode> = [
  {
    name: "json, trace",
    args: ["--log-format", "json", "--log-level", "trace"],
    tty: false,
    format: "json",
    warns: true
  },
  {
    name: "json, error",
    args: ["--log-format", "json", "--log-level", "error"],
    tty: false,
    format: "json",
    warns: false
  },
  {
    name: "pretty, debug",
    args: ["--log-format", "pretty", "--log-level", "debug"],
    tty: false,
    format: "pretty",
    warns: true
  },
  {
    name: "pretty, warn",
    args: ["--log-format", "pretty", "--log-level", "warn"],
    tty: false,
    format: "pretty",
    warns: true
  },
  { name: "the default off a terminal (json, info)", args: [], tty: false, format: "json", warns: true },
  { name: "the default on a terminal (pretty, info)", args: [], tty: true, format: "pretty", warns: true },
  {
    name: "json on a terminal, LOG_LEVEL=warn",
    args: ["--log-format", "json"],
    env: { LOG_LEVEL: "warn" },
    tty: true,
    format: "json",
    warns: true
  },
  { name: "pretty on a terminal, error", args: ["--log-level", "error"], tty: true, format: "pretty", warns: false }
]

interface Wrapper {
  readonly id: string
  readonly port: number
  readonly proc: ChildProcess
  /** The wrapper's own pid (under script(1), its child's). */
  readonly pid: () => number
  stdout: () => Buffer
  stderr: () => string
  readonly exited: Promise<number | null>
}

const start = (bundle: string, mode: Mode, id: string, port: number): Wrapper => {
  const kubeconfig = join(sb.dir, `${id}.kubeconfig`)
  sb.emu.writeKubeconfig(kubeconfig, id, "default")
  const env = {
    PATH: process.env["PATH"] ?? "",
    KUBECONFIG: kubeconfig,
    LEASE_NAME: sb.leaseName,
    POD_NAME: id,
    LISTEN_ADDR: `127.0.0.1:${port}`,
    CHILD_ID: id,
    ...mode.env
  }
  const argv = [nodeBin, bundle, "--lease-duration", "4s", "--renew-deadline", "2500ms", "--retry-period", "500ms"]
  const command = [...argv, "--stop-grace", "1s", ...mode.args, "--", ...child]
  const out: Array<Buffer> = []
  let err = ""
  const stdoutFile = join(sb.dir, `${id}.stdout`)
  const proc = mode.tty
    ? spawn("script", ["-qfec", `exec ${command.map(shellQuote).join(" ")} >${shellQuote(stdoutFile)}`, "/dev/null"], {
      stdio: ["ignore", "pipe", "pipe"],
      env
    })
    : spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"], env })
  // Under script(1) the terminal's output is the wrapper's stderr (and what the child writes there).
  if (mode.tty) proc.stdout!.on("data", (c: Buffer) => (err += c.toString("utf8")))
  else proc.stdout!.on("data", (c: Buffer) => out.push(c))
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  const pid = () => {
    if (!mode.tty) return proc.pid!
    const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(" ")
    return Number(children[0])
  }
  return {
    id,
    port,
    proc,
    pid,
    stdout: () => (mode.tty ? readFileSync(stdoutFile) : Buffer.concat(out)),
    stderr: () => err,
    exited
  }
}

const status = async (w: Wrapper, path: string) => {
  try {
    return (await fetch(`http://127.0.0.1:${w.port}${path}`)).status
  } catch {
    return undefined
  }
}
/** Poll `path` every 20 ms until it answers `code` (no line announces it in every format). */
const until = async (w: Wrapper, path: string, code: number, what: string) => {
  const deadline = Date.now() + 20_000
  while ((await status(w, path)) !== code) {
    if (Date.now() > deadline) throw new Error(`no ${what} within 20 s; stderr:\n${w.stderr().slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A request the HTTP parser refuses (a client error), on a raw socket. */
const garbage = (port: number) =>
  new Promise<void>((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.end("NOT HTTP AT ALL\r\n\r\n"))
    s.on("data", () => {})
    s.on("close", () => resolve())
    s.on("error", () => resolve())
  })

/** More connections than the health server takes (32): the ones over are refused, which it says. */
const flood = async (port: number) => {
  let refused = 0
  const sockets = Array.from({ length: 40 }, () => {
    const s = connect(port, "127.0.0.1")
    s.on("error", () => {})
    s.on("close", () => refused++)
    s.resume()
    return s
  })
  const deadline = Date.now() + 5_000
  while (refused < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  for (const s of sockets) s.destroy()
}

describe("the wrapper's own lines", () => {
  it.each(modes)("$name: on stderr only; stdout holds exactly the child's bytes", async (mode) => {
    const bundle = bundleWithoutMetrics()
    const a = start(bundle, mode, "a", await freePort())
    await until(a, "/healthcheck", 200, "a leading with its child")
    const b = start(bundle, mode, "b", await freePort())
    await until(b, "/healthz", 200, "b up")
    for (const w of [a, b]) {
      expect(await status(w, "/metrics")).toBe(500)
      for (const path of ["/status", "/debug/transitions", "/nope"]) await status(w, path)
      await fetch(`http://127.0.0.1:${w.port}/status`, { method: "POST" })
      await garbage(w.port)
      await flood(w.port)
    }
    process.kill(a.pid(), "SIGTERM")
    await a.exited
    await until(b, "/healthcheck", 200, "b leading after the handover")
    process.kill(b.pid(), "SIGTERM")
    await b.exited

    for (const w of [a, b]) {
      expect(w.stdout().equals(childBytes(w.id)), `${w.id}'s stdout: ${JSON.stringify(w.stdout().toString())}`).toBe(
        true
      )
      const lines = w.stderr().split(/\r?\n/).filter((l) => l !== "")
      expect(lines.some((l) => l.includes("health server: a page failed"))).toBe(mode.warns)
      expect(lines.some((l) => l.includes("health server: 32 connections open"))).toBe(mode.warns)
      if (mode.format === "json") {
        for (const l of lines) {
          const parsed = JSON.parse(l) as { annotations: Record<string, unknown> }
          expect(parsed.annotations["identity"]).toBe(w.id)
        }
      } else {
        expect(lines.filter((l) => l.startsWith("{"))).toEqual([])
      }
    }
  }, 60_000)
})
