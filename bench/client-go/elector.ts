/**
 * The benchmark's baseline: a container entrypoint built the way a client-go user builds one, on the
 * port of client-go's leader election beside it (./leaderelection.ts, ReleaseOnCancel on).
 *
 *   node bench/client-go/elector.ts [--lease-duration 15s --renew-deadline 10s --retry-period 2s
 *     --stop-grace 4s] -- <command> [args...]
 *
 * Env as the product reads it: KUBECONFIG (or in-cluster), LEASE_NAME, POD_NAME, POD_NAMESPACE, LISTEN_ADDR.
 * OnStartedLeading starts the child in its own process group, stdio inherited. On SIGTERM the child is
 * stopped (SIGTERM to the group, SIGKILL after the stop grace) and only then the election cancelled, which
 * releases the lease; a child that exits by itself cancels it too. When renewing fails, client-go releases
 * first and calls OnStoppedLeading after, which stops the child. The wrapper exits with the child's code.
 * Logs are JSON lines on stderr in the product's shape (harness/replica.ts reads them): `health server
 * listening` and `transition` among them; GET /healthz and /status answer on LISTEN_ADDR.
 *
 * It lives under bench/, not src/: it is what the product is measured against, shares none of its code,
 * and is plain async TypeScript rather than Effect so that it reads side by side with the Go it ports.
 */
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { constants } from "node:os"
import type { Log } from "./leaderelection.ts"
import { invalidConfig, LeaderElector, LeaseLock } from "./leaderelection.ts"

const fail = (message: string): never => {
  process.stderr.write(`client-go elector: ${message}\n`)
  process.exit(2)
}

// ---- settings ----

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/** A Go duration ("15s", "2500ms", "1m30s"), in milliseconds. */
const parseDuration = (text: string): number | undefined => {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0)
}

const argv = process.argv.slice(2)
const dashes = argv.indexOf("--")
const command = dashes === -1 ? [] : argv.slice(dashes + 1)
if (command.length === 0) fail("no command: give it after --")
const durations: Record<string, number> = {
  "--lease-duration": 15_000,
  "--renew-deadline": 10_000,
  "--retry-period": 2_000,
  "--stop-grace": 4_000
}
const flags = argv.slice(0, dashes)
for (let i = 0; i < flags.length; i++) {
  const [flag, inline] = flags[i]!.split("=", 2) as [string, string | undefined]
  if (!(flag in durations)) fail(`unknown flag ${flag}`)
  const text = inline ?? flags[++i]
  const ms = text === undefined ? undefined : parseDuration(text)
  if (ms === undefined) fail(`${flag} must be a duration such as 15s or 500ms, not ${JSON.stringify(text ?? "")}`)
  durations[flag] = ms!
}
const timings = {
  leaseDurationMs: durations["--lease-duration"]!,
  renewDeadlineMs: durations["--renew-deadline"]!,
  retryPeriodMs: durations["--retry-period"]!,
  releaseOnCancel: true
}
const stopGraceMs = durations["--stop-grace"]!
const invalid = invalidConfig(timings)
if (invalid !== undefined) fail(invalid)

const env = (name: string) => process.env[name] || undefined
const leaseName = env("LEASE_NAME") ?? fail("LEASE_NAME is not set")
const identity = env("POD_NAME") ?? fail("POD_NAME is not set: it is the holder identity")
const listen = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(env("LISTEN_ADDR") ?? ":5047")
  ?? fail(`LISTEN_ADDR must be host:port, not ${JSON.stringify(env("LISTEN_ADDR"))}`)

const kc = new KubeConfig()
try {
  kc.loadFromDefault()
} catch (e) {
  fail(`cannot load the Kubernetes configuration: ${e instanceof Error ? e.message : String(e)}`)
}
const namespace = env("POD_NAMESPACE") ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default"

// ---- logs ----

const log: Log = (level, message, annotations = {}) =>
  process.stderr.write(
    `${
      JSON.stringify({ message, level, timestamp: new Date().toISOString(), annotations: { identity, ...annotations } })
    }\n`
  )

type State = "Follower" | "Leader" | "Releasing"
let state: State = "Follower"
const transition = (to: State, reason: string) => {
  log("INFO", "transition", { from: state, to, reason })
  state = to
}

// ---- the child ----

let child: ChildProcess | undefined
let childExited: Promise<number> | undefined
let stopping: Promise<void> | undefined
/** Set once the wrapper is shutting down: no child starts after that. */
let shuttingDown = false
let exitCode = 0
const election = new AbortController()

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone.
  }
}

const startChild = () => {
  if (shuttingDown) return
  const proc = spawn(command[0]!, command.slice(1), { stdio: "inherit", detached: true })
  child = proc
  childExited = new Promise((resolve) => {
    proc.once("error", (e) => {
      log("ERROR", "child could not start", { error: e.message })
      resolve(127)
    })
    proc.once("exit", (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])))
  })
  void childExited.then((code) => {
    log("INFO", "child exited", { pid: proc.pid, code })
    exitCode = code
    child = undefined
    if (shuttingDown) return
    // It ended by itself: cancel the election, which releases the lease.
    shuttingDown = true
    transition("Releasing", "child exited")
    election.abort()
  })
  if (proc.pid !== undefined) log("INFO", "child started", { pid: proc.pid, command })
}

/** SIGTERM to the child's group, SIGKILL after the stop grace; resolves once the child is gone. */
const stopChild = () =>
  stopping ??= (async () => {
    shuttingDown = true
    const proc = child
    if (proc?.pid === undefined) return
    signalGroup(proc.pid, "SIGTERM")
    const kill = setTimeout(() => signalGroup(proc.pid!, "SIGKILL"), stopGraceMs)
    await childExited
    clearTimeout(kill)
  })()

const onSignal = async (signal: NodeJS.Signals) => {
  if (shuttingDown && child === undefined) return
  log("INFO", "signal received", { signal })
  if (child !== undefined) {
    if (state === "Leader") transition("Releasing", signal)
    await stopChild() // before the release: ReleaseOnCancel needs the guarded work finished first
  }
  shuttingDown = true
  election.abort()
}
process.on("SIGTERM", onSignal)
process.on("SIGINT", onSignal)

// ---- the election ----

const elector = new LeaderElector({
  lock: new LeaseLock(kc.makeApiClient(CoordinationV1Api), namespace, leaseName, identity),
  ...timings,
  log,
  callbacks: {
    onStartedLeading: () => {
      transition("Leader", "acquired")
      startChild()
    },
    onStoppedLeading: async () => {
      if (child !== undefined && !shuttingDown) {
        transition("Releasing", "leaderelection lost")
      }
      await stopChild()
    },
    onNewLeader: (holder) => log("INFO", "new leader", { holder })
  }
})

// ---- health server ----

const server = createServer((req, res) => {
  const body = req.url === "/healthz"
    ? { status: "ok" }
    : req.url === "/status"
    ? { state, identity, holder: elector.getLeader(), child: child?.pid === undefined ? null : { pid: child.pid } }
    : undefined
  res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" })
  res.end(JSON.stringify(body ?? { status: "not found" }))
})
await new Promise<void>((resolve) => {
  server.once("error", (e) => fail(`cannot listen on ${env("LISTEN_ADDR") ?? ":5047"}: ${e.message}`))
  server.listen(Number(listen[3]), listen[1] ?? (listen[2] || undefined), resolve)
})
const bound = server.address() as AddressInfo
log("INFO", "health server listening", {
  address: bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`
})

// ---- run ----

await elector.run(election.signal)
server.close()
log("INFO", "exiting", { code: exitCode })
process.exit(exitCode)
