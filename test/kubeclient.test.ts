/**
 * The API client under hostile credentials and configurations: exec credential
 * plugins that hang, are slow, misbehave, give a token the server rejects, or
 * leave a process holding their output (real processes, watched through
 * /proc), plain http servers, no configuration at all, and the watch's
 * deadlines (its idle timer counts whole lines). KubeClient runs in-process
 * against the emulator, and the built wrapper end to end.
 */
import { Effect, Exit, Layer, Stream } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { Emulator } from "../emulator/index.ts"
import { readRecords } from "../harness/lives.ts"
import { eventually, nodeBin, root, startReplica, wrapperPath } from "../harness/replica.ts"
import { rerunFloorMs } from "../src/kube/ExecCredentials.ts"
import { KubeClient } from "../src/kube/KubeClient.ts"
import { HelperProcesses } from "../src/services/HelperProcesses.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("kube")
const plugin = `${root}test/fixtures/exec-plugin.sh`
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`
const watchPath = (name: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=true&fieldSelector=metadata.name%3D${name}`

/** The emulator's kubeconfig for `id`, with its token replaced by an exec plugin (test/fixtures/exec-plugin.sh). */
const execKubeconfig = (emu: Emulator, dir: string, id: string, env: Record<string, string>): string => {
  const token = `  user:\n    token: ${JSON.stringify(id)}\n`
  const text = emu.kubeconfig(id)
  expect(text).toContain(token)
  const exec = [
    "  user:",
    "    exec:",
    "      apiVersion: client.authentication.k8s.io/v1",
    `      command: ${JSON.stringify(plugin)}`,
    "      interactiveMode: Never",
    "      env:",
    ...Object.entries(env).flatMap(([name, value]) => [
      `      - name: ${name}`,
      `        value: ${JSON.stringify(value)}`
    ]),
    ""
  ].join("\n")
  const path = join(dir, `${id}.kubeconfig`)
  writeFileSync(path, text.replace(token, exec))
  return path
}

interface PluginLine {
  readonly kind: "start" | "grandchild" | "answer"
  readonly pid: number
  readonly t: number
  readonly exp?: string
}

const readPluginLog = (path: string): Array<PluginLine> =>
  existsSync(path)
    ? readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => {
      const [kind, pid, t, exp] = l.split(" ")
      return { kind: kind as PluginLine["kind"], pid: Number(pid), t: Number(t), ...(exp ? { exp } : {}) }
    })
    : []

const stateOf = (pid: number): "alive" | "zombie" | "gone" => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z" ? "zombie" : "alive"
  } catch {
    return "gone"
  }
}
const alive = (pid: number) => stateOf(pid) === "alive"

/**
 * Watches every process the plugin log names, every 5 ms: the most plugin processes alive at once,
 * and when each was first seen gone. With `registered` (a HelperProcesses in this process, so it
 * cannot change between our look at /proc and the question), a plugin alive but unknown to it, or
 * known to it after it was reaped, is recorded in `misregistered`.
 */
const watchPlugins = (log: string, registered?: (pid: number) => boolean) => {
  let maxAlive = 0
  const gone = new Map<number, number>()
  const misregistered: Array<string> = []
  const look = () => {
    const lines = readPluginLog(log)
    const now = Date.now()
    let plugins = 0
    for (const l of lines) {
      if (l.kind === "answer") continue
      const state = stateOf(l.pid)
      if (registered !== undefined && l.kind === "start") {
        if (state === "alive" && !registered(l.pid)) misregistered.push(`${l.pid} alive, not registered`)
        if (state === "gone" && registered(l.pid)) misregistered.push(`${l.pid} reaped, still registered`)
      }
      if (gone.has(l.pid)) continue
      if (state === "alive") plugins += l.kind === "start" ? 1 : 0
      else gone.set(l.pid, now)
    }
    maxAlive = Math.max(maxAlive, plugins)
  }
  const timer = setInterval(look, 5)
  return {
    get maxAlive() {
      return maxAlive
    },
    gone,
    misregistered,
    starts: () => readPluginLog(log).filter((l) => l.kind === "start"),
    /** Stop watching, after one last look. */
    stop: () => {
      look()
      clearInterval(timer)
    }
  }
}

/** Every process a plugin log names, for cleanup and for "none left". */
const leftovers = (log: string) => readPluginLog(log).filter((l) => l.kind !== "answer" && alive(l.pid))

const logs: Array<string> = []
afterEach(() => {
  for (const log of logs.splice(0)) {
    for (const l of leftovers(log)) process.kill(l.pid, "SIGKILL")
  }
})

const pluginEnv = (mode: string, extra: Record<string, string> = {}) => {
  const log = join(sb.dir, `plugin-${mode}.log`)
  logs.push(log)
  return { log, env: { PLUGIN_LOG: log, PLUGIN_MODE: mode, ...extra } }
}

/**
 * Run `f` against a real KubeClient built from the kubeconfig at `path`, with the HelperProcesses it reports to;
 * `pluginRunTimeoutMs` shortens an exec plugin's own bound.
 */
const withClient = <A, E>(
  path: string,
  f: (kube: KubeClient["Service"], helpers: HelperProcesses["Service"]) => Effect.Effect<A, E>,
  pluginRunTimeoutMs = 30_000
) => {
  const saved = process.env["KUBECONFIG"]
  process.env["KUBECONFIG"] = path
  return Effect.runPromise(
    Effect.gen(function*() {
      return yield* f(yield* KubeClient, yield* HelperProcesses)
    }).pipe(
      Effect.provide(KubeClient.layerWith({ pluginRunTimeoutMs }).pipe(Layer.provideMerge(HelperProcesses.layer))),
      Effect.scoped,
      Effect.ensuring(Effect.sync(() => {
        process.env["KUBECONFIG"] = saved
      }))
    )
  )
}

const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const exit: Exit.Exit<unknown, unknown> = yield* Effect.exit(effect.pipe(Effect.timeout(8000)))
    return { exit, ms: Date.now() - start }
  })

const access = { what: "lease x", needs: "get" }

/** GET a lease: its HTTP status, 404 included. */
const get = (k: KubeClient["Service"], timeoutMs = 3000) =>
  k.request({ method: "GET", path: leasePath("x"), timeoutMs, verb: "get", access }).pipe(
    Effect.map((answer) => answer.status),
    Effect.catchReason("KubeError", "NotFound", (_, e) => Effect.succeed(e.status))
  )

const watchOnce = (kube: KubeClient["Service"], path: string, idleTimeoutMs: number, timeoutMs: number) =>
  Effect.scoped(Effect.flatMap(kube.watch({ path, idleTimeoutMs, timeoutMs, access }), Stream.runDrain))

const failureMessage = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isFailure(exit) ? String((exit.cause.reasons[0] as { error?: { message?: string } })?.error?.message) : "success"

describe("exec credential plugins, KubeClient in-process", () => {
  /** Sleep until the token of the latest answer in `log` has expired: a lookup must run the plugin again. */
  const untilExpired = (log: string) =>
    Effect.suspend(() => {
      const answer = readPluginLog(log).findLast((l) => l.kind === "answer")!
      return Effect.sleep(Math.max(0, Date.parse(answer.exp!) - Date.now() + 50))
    })

  it("a hung plugin: one run at a time, outliving the callers' deadlines (the watch's too), killed with its group at its own bound", async () => {
    // The first run answers with a token that expires within a second; every later run hangs.
    const { env, log } = pluginEnv("hang", { PLUGIN_TOKEN: "t", PLUGIN_TTL: "1", PLUGIN_ANSWER_FIRST: "1" })
    const kubeconfig = execKubeconfig(sb.emu, sb.dir, "hung", env)
    let helpers: HelperProcesses["Service"] | undefined
    const procs = watchPlugins(log, (pid) => helpers !== undefined && Effect.runSync(helpers.has(pid)))
    const timeoutMs = 500
    const runBoundMs = 2500
    const { first, results, left } = await withClient(kubeconfig, (k, h) =>
      Effect.gen(function*() {
        helpers = h
        const first = yield* get(k)
        yield* untilExpired(log)
        const request = timed(get(k, timeoutMs))
        const watch = timed(watchOnce(k, watchPath("x"), 60_000, timeoutMs))
        const concurrent = yield* Effect.all([request, request, request, request, watch], { concurrency: "unbounded" })
        const sequential = yield* Effect.all([request, request])
        // Wait out the run's bound: it is killed then, with its group.
        yield* Effect.promise(() =>
          eventually(
            () => (leftovers(log).length === 0 ? true : undefined),
            "no plugin process left",
            runBoundMs + 2000
          )
        )
        return { first, results: [...concurrent, ...sequential], left: yield* h.pids }
      }), runBoundMs)
    expect(first).toBe(404)
    for (const r of results) {
      expect(Exit.isFailure(r.exit)).toBe(true)
      expect(failureMessage(r.exit)).toMatch(/credential/)
      expect(r.ms).toBeLessThan(timeoutMs + 1500)
    }
    procs.stop()
    // Seven callers, one run: the callers' deadlines did not end it, its own bound did.
    const hung = procs.starts().slice(1)
    expect(hung).toHaveLength(1)
    expect(procs.maxAlive).toBe(1)
    for (const s of hung) {
      expect(procs.gone.get(s.pid)! - s.t).toBeGreaterThanOrEqual(runBoundMs - 100)
      expect(procs.gone.get(s.pid)! - s.t).toBeLessThan(runBoundMs + 1000)
    }
    expect(procs.misregistered).toEqual([])
    expect([...left]).toEqual([])
  })

  it("a working plugin: concurrent requests and the watch share one run, and its token is reused until it expires", async () => {
    const token = `tok-${Date.now()}`
    const { env, log } = pluginEnv("answer", { PLUGIN_TOKEN: token, PLUGIN_DELAY: "0.3", PLUGIN_TTL: "2" })
    const kubeconfig = execKubeconfig(sb.emu, sb.dir, "working", env)
    const procs = watchPlugins(log)
    const { batch, runsAfterBatch, reusedBefore } = await withClient(kubeconfig, (k) =>
      Effect.gen(function*() {
        yield* get(k)
        yield* untilExpired(log)
        const batch = yield* Effect.all([
          get(k),
          get(k),
          get(k),
          get(k),
          Effect.scoped(k.watch({ path: watchPath("x"), idleTimeoutMs: 60_000, timeoutMs: 3000, access }))
        ], { concurrency: "unbounded" })
        const runsAfterBatch = procs.starts().length
        // Keep asking until the plugin runs again: that must be no earlier than its token expired.
        let reusedBefore = 0
        while (procs.starts().length < 3) {
          yield* get(k)
          reusedBefore++
          yield* Effect.sleep(100)
        }
        return { batch, runsAfterBatch, reusedBefore }
      }).pipe(Effect.timeout(15_000)))
    procs.stop()
    expect(batch.slice(0, 4)).toEqual([404, 404, 404, 404])
    expect(sb.emu.requests(token).watch).toBe(1)
    expect(runsAfterBatch).toBe(2)
    const starts = procs.starts()
    const secondAnswer = readPluginLog(log).find((l) => l.kind === "answer" && l.pid === starts[1]!.pid)!
    expect(starts[2]!.t).toBeGreaterThanOrEqual(Date.parse(secondAnswer.exp!))
    expect(reusedBefore).toBeGreaterThanOrEqual(3)
    expect(procs.maxAlive).toBe(1)
  })

  it.each(["garbage", "truncated"])(
    "a plugin whose output is %s: the error names the plugin, never the token",
    async (mode) => {
      const token = `s${Date.now() % 10_000}`
      const { env } = pluginEnv(mode, { PLUGIN_TOKEN: token })
      const kubeconfig = execKubeconfig(sb.emu, sb.dir, mode, env)
      const { exit } = await withClient(
        kubeconfig,
        (k) => timed(get(k))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(failureMessage(exit)).toContain("exec-plugin.sh")
      expect(failureMessage(exit)).not.toContain(token)
    }
  )
})

describe("plain http and the watch, KubeClient in-process", () => {
  it("a plain http:// server without insecure-skip-tls-verify is used", async () => {
    const path = join(sb.dir, "plain.kubeconfig")
    writeFileSync(path, sb.emu.kubeconfig("plain").replace(/^ *insecure-skip-tls-verify: true\n/m, ""))
    expect(readFileSync(path, "utf8")).not.toContain("insecure")
    expect(await withClient(path, (k) => get(k))).toBe(404)
    expect(sb.emu.requests("plain").get).toBe(1)
  })

  it("the watch's connect is bounded by the request deadline, not only by its idle timer", async () => {
    const path = join(sb.dir, "w.kubeconfig")
    sb.emu.writeKubeconfig(path, "w")
    sb.emu.setFault("w", { hang: true, verbs: ["watch"] })
    const { exit, ms } = await withClient(path, (k) => timed(watchOnce(k, watchPath("x"), 60_000, 400)))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(failureMessage(exit)).toBe("watch lease x: timed out after 400ms")
    expect(ms).toBeLessThan(400 + 1500)
  })

  it("the watch fails after idleTimeoutMs without a byte, and not while lines keep coming", async () => {
    const path = join(sb.dir, "idle.kubeconfig")
    sb.emu.writeKubeconfig(path, "idle")
    const spec = { holderIdentity: "a", leaseDurationSeconds: 10 }
    sb.emu.setLease("default", "idle", spec)
    const idleMs = 400
    let last = 0
    const { exit, lines, endedAt } = await withClient(path, (k) =>
      Effect.gen(function*() {
        let lines = 0
        const changes = Effect.gen(function*() {
          yield* Effect.promise(() => sb.emu.watchOpened("idle"))
          for (let i = 0; i < 12; i++) {
            yield* Effect.sleep(100)
            sb.emu.setLease("default", "idle", { ...spec, leaseTransitions: i })
          }
        })
        const watched = Effect.scoped(
          Effect.flatMap(
            k.watch({ path: watchPath("idle"), idleTimeoutMs: idleMs, timeoutMs: 3000, access }),
            Stream.runForEach(() => Effect.sync(() => (lines++, last = Date.now())))
          )
        )
        const [exit] = yield* Effect.all([Effect.exit(watched.pipe(Effect.timeout(8000))), changes], {
          concurrency: "unbounded"
        })
        return { exit, lines, endedAt: Date.now() }
      }))
    // The first line is the current state, then one per change over 1.2 s (3 × the idle timeout).
    expect(lines).toBe(13)
    expect(Exit.isFailure(exit)).toBe(true)
    expect(failureMessage(exit)).toContain(`no event for ${idleMs}ms`)
    expect(endedAt - last).toBeGreaterThanOrEqual(idleMs - 20)
    expect(endedAt - last).toBeLessThan(idleMs + 1500)
  })
})

describe("a watch that trickles, KubeClient in-process", () => {
  it("bytes without a newline do not keep the watch alive: the idle timer counts whole lines", async () => {
    // A raw server: the watch answers 200, then one byte every 50 ms, never a newline.
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      const timer = setInterval(() => res.write("x"), 50)
      res.on("close", () => clearInterval(timer))
    })
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
    const path = join(sb.dir, "trickle.kubeconfig")
    const port = (server.address() as { port: number }).port
    writeFileSync(
      path,
      sb.emu.kubeconfig("trickle").replace(/server: .*/, `server: "http://127.0.0.1:${port}"`)
    )
    expect(readFileSync(path, "utf8")).toContain(`127.0.0.1:${port}`)
    const idleMs = 400
    try {
      const { exit, ms } = await withClient(path, (k) => timed(watchOnce(k, watchPath("x"), idleMs, 3000)))
      expect(failureMessage(exit)).toContain(`${idleMs}ms`)
      expect(ms).toBeLessThan(idleMs + 1500)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe("the built wrapper", () => {
  const replica = (id: string, kubeconfig: string) => {
    const r = startReplica({ id, kubeconfig, leaseName: sb.leaseName, childLog: sb.childLog() })
    sb.replicas.push(r)
    return r
  }

  it("a hung plugin: never two alive, the run not ended by request deadlines, none left when the wrapper exits", async () => {
    // The first run answers with a token that expires within a second; every later run hangs.
    const { env, log } = pluginEnv("hang", { PLUGIN_TOKEN: "t", PLUGIN_TTL: "1", PLUGIN_ANSWER_FIRST: "1" })
    const procs = watchPlugins(log)
    const r = replica("hung", execKubeconfig(sb.emu, sb.dir, "hung", env))
    await eventually(() => (procs.starts().length >= 2 ? true : undefined), "the hung run", 20_000)
    const hung = procs.starts()[1]!
    // fastTimings: every request (and its wait for a token) has 1.25 s. The run (bound 30 s) outlives three.
    await new Promise((resolve) => setTimeout(resolve, 3 * 1250))
    expect(alive(hung.pid)).toBe(true)
    r.signal("SIGTERM")
    await r.exited
    await eventually(() => (leftovers(log).length === 0 ? true : undefined), "no plugin process left", 2000)
    procs.stop()
    expect(procs.maxAlive).toBe(1)
    expect(procs.starts()).toHaveLength(2)
  })

  it("a working plugin: the wrapper elects and runs its child on one plugin run, and leaves no plugin behind", async () => {
    const token = `tok-${Date.now()}`
    const { env, log } = pluginEnv("answer", { PLUGIN_TOKEN: token, PLUGIN_DELAY: "0.2" })
    const r = replica("working", execKubeconfig(sb.emu, sb.dir, "working", env))
    await eventually(() => readRecords(sb.childLog()).find((c) => c.event === "start"), "the child")
    await eventually(() => (sb.emu.requests(token).update >= 3 ? true : undefined), "three renews")
    r.signal("SIGTERM")
    await r.exited
    expect(readPluginLog(log).filter((l) => l.kind === "start")).toHaveLength(1)
    expect(leftovers(log)).toEqual([])
    expect(r.stderr).not.toContain(token)
  })

  it("a plugin slower than the request deadline: its one run outlives the deadline, and the wrapper elects with its token", async () => {
    const token = `tok-${Date.now()}`
    // fastTimings: each request, and its wait for a token, has 1.25 s; the plugin takes 3 s.
    const { env, log } = pluginEnv("answer", { PLUGIN_TOKEN: token, PLUGIN_DELAY: "3" })
    replica("slow", execKubeconfig(sb.emu, sb.dir, "slow", env))
    await eventually(() => readRecords(sb.childLog()).find((c) => c.event === "start"), "the child", 15_000)
    expect(readPluginLog(log).filter((l) => l.kind === "start")).toHaveLength(1)
    expect(sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity).toBe("slow")
  })

  it("a token the server rejects (401) is dropped: the plugin runs again, never in a loop, and its corrected token elects", async () => {
    await sb.restartEmulator({ tokens: ["good"] })
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
    const tokenFile = join(sb.dir, "token")
    writeFileSync(tokenFile, "bad")
    // A token without expiry: only the 401 can tell the wrapper to fetch another.
    const { env, log } = pluginEnv("answer", { PLUGIN_TOKEN_FILE: tokenFile, PLUGIN_TTL: "none" })
    const r = replica("rejected", execKubeconfig(sb.emu, sb.dir, "rejected", env))
    await r.waitFor((l) => l.level === "WARN" && String(l.message).includes("401"), "a 401 line")
    const starts = () => readPluginLog(log).filter((l) => l.kind === "start")
    await eventually(() => (starts().length >= 3 ? true : undefined), "two more plugin runs", 20_000)
    // The server keeps saying 401: each run comes no sooner than the floor after the last.
    const times = starts().map((s) => s.t)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(rerunFloorMs - 100)
    writeFileSync(tokenFile, "good")
    await eventually(() => readRecords(sb.childLog()).find((c) => c.event === "start"), "the child", 15_000)
    expect(sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity).toBe("rejected")
    expect((await r.http("/healthz")).status).toBe(200)
  })

  it("a plugin that answers and exits, leaving a process that holds its stdout: the token is used, and nothing of it is left", async () => {
    const token = `tok-${Date.now()}`
    // Each token lasts a second: the plugin runs again and again.
    const { env, log } = pluginEnv("orphan", { PLUGIN_TOKEN: token, PLUGIN_TTL: "1" })
    const r = replica("orphan", execKubeconfig(sb.emu, sb.dir, "orphan", env))
    const fds = () => readdirSync(`/proc/${r.proc.pid}/fd`).length
    const runs = () => readPluginLog(log).filter((l) => l.kind === "start").length
    await eventually(() => (runs() >= 3 ? true : undefined), "three plugin runs", 20_000)
    const fdsBefore = fds()
    await eventually(() => (runs() >= 7 ? true : undefined), "four more plugin runs", 20_000)
    // Every run but the latest is over (each began after the one before had answered): what it left is gone.
    const earlier = readPluginLog(log).filter((l) => l.kind === "grandchild").slice(0, -1)
    expect(earlier.filter((l) => alive(l.pid)).map((l) => l.pid)).toEqual([])
    // Four runs later, no more descriptors held than before (a leaked run keeps its two pipes).
    expect(fds()).toBeLessThanOrEqual(fdsBefore + 2)
    await eventually(() => readRecords(sb.childLog()).find((c) => c.event === "start"), "the child")
    expect(sb.emu.requests(token).update).toBeGreaterThan(0)
  })

  it("a plugin that prints garbage: one warning naming the plugin, and the token is never logged", async () => {
    const token = `s${Date.now() % 10_000}`
    const { env } = pluginEnv("garbage", { PLUGIN_TOKEN: token })
    const r = replica("garbage", execKubeconfig(sb.emu, sb.dir, "garbage", env))
    await r.waitFor((l) => l.level === "WARN" && String(l.message).includes("exec-plugin.sh"), "a warning")
    r.signal("SIGTERM")
    await r.exited
    expect(r.stderr).not.toContain(token)
  })

  it("a kubeconfig with a plain http:// server and no insecure-skip-tls-verify elects", async () => {
    const path = join(sb.dir, "plain.kubeconfig")
    writeFileSync(path, sb.emu.kubeconfig("plain").replace(/^ *insecure-skip-tls-verify: true\n/m, ""))
    expect(readFileSync(path, "utf8")).not.toContain("insecure")
    replica("plain", path)
    await eventually(() => readRecords(sb.childLog()).find((c) => c.event === "start"), "the child")
    expect(sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity).toBe("plain")
  })

  it("a legacy gcp or azure auth-provider is refused in one line, exit 2, before its command can run", () => {
    // client-node runs their cmd-path with execSync: a hung one would freeze every timer, the renew deadline's too.
    for (const provider of ["gcp", "azure"]) {
      const token = `  user:\n    token: ${JSON.stringify(provider)}\n`
      const text = sb.emu.kubeconfig(provider)
      expect(text).toContain(token)
      const ran = join(sb.dir, `${provider}-ran`)
      const path = join(sb.dir, `${provider}.kubeconfig`)
      writeFileSync(
        path,
        text.replace(
          token,
          [
            "  user:",
            "    auth-provider:",
            `      name: ${provider}`,
            "      config:",
            "        access-token: expired",
            "        expiry: 2000-01-01T00:00:00Z",
            "        expires-on: '946684800'",
            "        cmd-path: /bin/sh",
            `        cmd-args: -c 'touch ${ran}; sleep 60'`,
            ""
          ].join("\n")
        )
      )
      const res = spawnSync(nodeBin, [wrapperPath, "--", "true"], {
        env: { PATH: process.env["PATH"] ?? "", KUBECONFIG: path, LEASE_NAME: "x", LISTEN_ADDR: "127.0.0.1:0" },
        encoding: "utf8",
        timeout: 20_000
      })
      expect(res.status, res.stderr).toBe(2)
      const lines = res.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(`auth-provider "${provider}"`)
      expect(existsSync(ran)).toBe(false)
    }
  })

  it("no configuration anywhere: one line naming the three places it looked, exit 2, nothing started", () => {
    const serviceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    // This test is about a machine outside a pod.
    expect(existsSync(serviceAccountToken)).toBe(false)
    const home = mkdtempSync(join(tmpdir(), "joi-home-"))
    const ran = join(sb.dir, "ran")
    const res = spawnSync(nodeBin, [
      wrapperPath,
      "--",
      nodeBin,
      "-e",
      "require('fs').writeFileSync(process.argv[1], '')",
      ran
    ], {
      env: { PATH: process.env["PATH"] ?? "", HOME: home, LEASE_NAME: "x", LISTEN_ADDR: "127.0.0.1:0" },
      encoding: "utf8",
      timeout: 20_000
    })
    expect(res.status).toBe(2)
    const lines = res.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("KUBECONFIG")
    expect(lines[0]).toContain(join(home, ".kube", "config"))
    expect(lines[0]).toContain(serviceAccountToken)
    expect(existsSync(ran)).toBe(false)
  })
})
