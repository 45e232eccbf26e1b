/**
 * Real wrapper processes for end-to-end tests: spawn the bundled
 * just-one-init, follow its JSON log lines, and await events instead of
 * sleeping. Children record their own lives (harness/recording-child.mjs);
 * `overlaps` checks "never two children at once" from those records.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { groupOf } from "./procfs.ts"

export const root = fileURLToPath(new URL("..", import.meta.url))
export const wrapperPath = `${root}dist/just-one-init.mjs`
/** The single executable (npm run build:binary): Node, the bundle and the reaper addon in one file. */
export const binaryPath = `${root}dist/just-one-init`
export const childPath = `${root}harness/recording-child.mjs`
export const nodeBin = process.execPath

export interface LogLine {
  readonly message: string
  readonly level: string
  readonly timestamp: string
  readonly annotations: Record<string, unknown>
}

/** Short timings so tests take seconds: R + G < D, P < R. */
export const fastTimings = {
  leaseDuration: "4s",
  renewDeadline: "2500ms",
  retryPeriod: "500ms",
  stopGrace: "1s"
} as const

export interface ReplicaOptions {
  readonly id: string
  readonly kubeconfig: string
  readonly leaseName: string
  readonly childLog: string
  readonly namespace?: string
  readonly env?: Record<string, string>
  readonly args?: ReadonlyArray<string>
  readonly command?: ReadonlyArray<string>
  readonly timings?: { leaseDuration: string; renewDeadline: string; retryPeriod: string; stopGrace: string }
  /** The argv that runs the wrapper: the bundle under this Node by default, or `[binaryPath]`. */
  readonly wrapper?: ReadonlyArray<string>
}

export class Replica {
  readonly lines: Array<LogLine> = []
  stderr = ""
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  exitCode: number | null | undefined = undefined
  /** Called with every log line as it arrives (the demo prints a timeline from it). */
  onLine: (l: LogLine) => void = () => {}
  readonly id: string
  readonly proc: ChildProcess

  constructor(id: string, proc: ChildProcess) {
    this.id = id
    this.proc = proc
    let buffer = ""
    proc.stderr!.setEncoding("utf8")
    proc.stderr!.on("data", (chunk: string) => {
      this.stderr += chunk
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf("\n")) !== -1) {
        const text = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        let line: LogLine
        try {
          line = JSON.parse(text) as LogLine
        } catch {
          continue
        }
        this.lines.push(line)
        this.onLine(line)
        this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true))
      }
    })
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code, signal) => {
        this.exitCode = code
        resolve({ code, signal })
      })
    )
  }

  /** The first log line (seen already or to come) that matches; rejects after `timeoutMs`. */
  waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(pred)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.id}: no ${what} within ${timeoutMs}ms; stderr:\n${this.stderr.slice(-3000)}`)),
        timeoutMs
      )
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) })
    })
  }

  /** The next transition into `to` after the `after`-th line. */
  transition(to: string, after = 0, timeoutMs?: number): Promise<LogLine> {
    const start = after
    return this.waitFor(
      (l) => l.message === "transition" && l.annotations["to"] === to && this.lines.indexOf(l) >= start,
      `transition to ${to}`,
      timeoutMs
    )
  }

  get port(): Promise<number> {
    return this.waitFor((l) => l.message === "health server listening", "listening line").then((l) =>
      Number(String(l.annotations["address"]).split(":").pop())
    )
  }

  async http(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`http://127.0.0.1:${await this.port}${path}`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  signal(signal: NodeJS.Signals) {
    this.proc.kill(signal)
  }

  /** SIGKILL the wrapper and its child's whole process group, as a node failure would. */
  async killTree(): Promise<void> {
    const status = this.exitCode === undefined ? await this.http("/status").catch(() => undefined) : undefined
    const child = status?.body["child"] as { pid?: number } | null | undefined
    // The child's group: child-init leads it, the command (whose pid /status shows) is a member.
    const group = child?.pid === undefined ? undefined : groupOf(child.pid)
    this.proc.kill("SIGKILL")
    if (group !== undefined) {
      try {
        process.kill(-group, "SIGKILL")
      } catch {
        // Already gone.
      }
    }
    await this.exited
  }
}

export const startReplica = (o: ReplicaOptions): Replica => {
  const t = o.timings ?? fastTimings
  const [file, ...wrapperArgs] = o.wrapper ?? [nodeBin, wrapperPath]
  const proc = spawn(
    file!,
    [
      ...wrapperArgs,
      "--lease-duration",
      t.leaseDuration,
      "--renew-deadline",
      t.renewDeadline,
      "--retry-period",
      t.retryPeriod,
      "--stop-grace",
      t.stopGrace,
      ...(o.args ?? []),
      "--",
      ...(o.command ?? [nodeBin, childPath])
    ],
    {
      stdio: ["ignore", "inherit", "pipe"],
      env: {
        PATH: process.env["PATH"] ?? "",
        KUBECONFIG: o.kubeconfig,
        LEASE_NAME: o.leaseName,
        POD_NAME: o.id,
        POD_NAMESPACE: o.namespace ?? "default",
        LISTEN_ADDR: "127.0.0.1:0",
        CHILD_LOG: o.childLog,
        CHILD_ID: o.id,
        ...o.env
      }
    }
  )
  return new Replica(o.id, proc)
}

/** Resolve when `check` holds, polling a file-backed condition every 20 ms (children write files, not events). */
export const eventually = async <A>(check: () => A | undefined, what: string, timeoutMs = 20_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A port nothing listens on (yet): bound once to learn a free one, then closed. */
export const freePort = async (): Promise<number> => {
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()))
  const port = (probe.address() as { port: number }).port
  await new Promise((r) => probe.close(r))
  return port
}
