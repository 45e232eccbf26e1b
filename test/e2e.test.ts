/**
 * End to end: real wrapper processes (the bundled dist/just-one-init.mjs), a
 * real child, and the Kubernetes API emulator over HTTP with fault injection.
 * "Never two children at once" is checked from the children's own records.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { ReplicaOptions } from "../harness/replica.ts"
import { childPath, eventually, nodeBin, Replica, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("e2e")
const childLog = () => sb.childLog()
const replica = (id: string, extra: Partial<ReplicaOptions> = {}) => sb.replica(id, extra)

const lease = () => sb.emu.getLease("default", sb.leaseName)
const holder = () => lease()?.spec?.holderIdentity ?? undefined

/** Start three replicas and wait until one leads with a running child. */
const cluster = async (extra: Partial<ReplicaOptions> = {}) => {
  const rs = ["a", "b", "c"].map((id) => replica(id, extra))
  const leaderId = await eventually(() => {
    const h = holder()
    return h !== undefined && h !== "" && readRecords(childLog()).some((r) => r.event === "start" && r.id === h)
      ? h
      : undefined
  }, "a leader with a running child")
  const leader = rs.find((r) => r.id === leaderId)!
  return { rs, leader, followers: rs.filter((r) => r !== leader) }
}

const starts = () => readRecords(childLog()).filter((r) => r.event === "start")
const noOverlap = (running: ReadonlySet<number> = new Set()) =>
  expect(overlaps(lives(readRecords(childLog()), { running }))).toEqual([])

describe("just-one-init end to end", () => {
  it("runs exactly one child among three replicas and reports it on the health endpoints", async () => {
    const { followers, leader } = await cluster()
    await leader.transition("Leader")
    expect(starts()).toHaveLength(1)
    expect((await leader.http("/")).status).toBe(200)
    expect((await leader.http("/healthcheck")).body).toMatchObject({ status: "ok", state: "BecameLeader" })
    for (const f of followers) {
      expect((await f.http("/")).status).toBe(404)
      expect((await f.http("/healthz")).status).toBe(200)
    }
    const status = (await leader.http("/status")).body
    expect(status).toMatchObject({
      state: "Leader",
      identity: leader.id,
      holder: leader.id,
      lease: `default/${sb.leaseName}`
    })
    expect((status["child"] as { pid: number }).pid).toBe(starts()[0]!.pid)
    const spec = lease()!.spec!
    expect(spec.leaseDurationSeconds).toBe(4)
    expect(spec.renewTime).toMatch(/\.\d{6}Z$/)
  })

  it("hands over on SIGTERM: the old child stops, the lease is released, a follower starts its child", async () => {
    const { leader, followers } = await cluster()
    const transitionsBefore = lease()!.spec!.leaseTransitions ?? 0
    leader.signal("SIGTERM")
    const { code } = await leader.exited
    expect(code).toBe(0)
    const next = await eventually(() => starts().find((r) => r.id !== leader.id), "a new child")
    expect(followers.map((f) => f.id)).toContain(next.id)
    noOverlap(new Set([next.pid]))
    const stop = readRecords(childLog()).find((r) => r.event === "stop" && r.id === leader.id)!
    expect(stop.t).toBeLessThanOrEqual(next.t)
    expect(lease()!.spec!.leaseTransitions).toBe(transitionsBefore + 1)
  })

  it("after SIGKILL of the leader's whole tree, a follower takes over only once the lease expired", async () => {
    const { leader } = await cluster()
    const killedAt = Date.now()
    await leader.killTree()
    const next = await eventually(() => starts().find((r) => r.id !== leader.id), "a takeover", 20_000)
    // The last renew was at most one retry period before the kill; the lease is 4 s.
    expect(next.t - killedAt).toBeGreaterThanOrEqual(4_000 - 500 - 100)
    noOverlap(new Set([next.pid]))
  })

  it("a partitioned leader kills its child before the lease can expire, then a follower takes over", async () => {
    const { leader } = await cluster()
    const lastRenew = Date.now()
    sb.emu.setFault(leader.id, { hang: true })
    const stop = await eventually(
      () => readRecords(childLog()).find((r) => r.event === "stop" && r.id === leader.id),
      "the partitioned leader's child to stop"
    )
    // Renew deadline 2.5 s from the last renew sent; the lease is 4 s.
    expect(stop.t - lastRenew).toBeLessThan(4_000)
    await leader.transition("Follower", leader.lines.findIndex((l) => l.annotations["to"] === "Leader"))
    const next = await eventually(() => starts().find((r) => r.id !== leader.id), "a takeover")
    expect(next.t).toBeGreaterThanOrEqual(stop.t)
    noOverlap(new Set([next.pid]))
    expect(leader.exitCode).toBeUndefined()
  })

  it("stops the child when someone else takes the lease", async () => {
    const { leader } = await cluster()
    const spec = lease()!.spec!
    sb.emu.setLease("default", sb.leaseName, { ...spec, holderIdentity: "intruder", leaseDurationSeconds: 60 })
    await eventually(
      () => readRecords(childLog()).find((r) => r.event === "stop" && r.id === leader.id),
      "the child to stop"
    )
    await leader.transition("Follower", leader.lines.findIndex((l) => l.annotations["to"] === "Leader"))
    expect(holder()).toBe("intruder")
    expect(starts()).toHaveLength(1)
    expect((await leader.http("/")).status).toBe(404)
  })

  it("--reelect-after steps down: the child stops, the lease is released, and an election runs again", async () => {
    replica("a", { args: ["--reelect-after", "1500ms"] })
    replica("b", { args: ["--reelect-after", "1500ms"] })
    await eventually(() => (starts().length >= 3 ? true : undefined), "three terms")
    const stops = readRecords(childLog()).filter((r) => r.event === "stop")
    expect(stops.length).toBeGreaterThanOrEqual(2)
    noOverlap(new Set([starts().at(-1)!.pid]))
  })

  it("propagates the child's exit code and releases the lease at once", async () => {
    const r = replica("solo", { env: { CHILD_EXIT_AFTER_MS: "300", CHILD_EXIT_CODE: "7" } })
    const { code } = await r.exited
    expect(code).toBe(7)
    expect(holder()).toBe("")
    expect(lease()!.spec!.leaseDurationSeconds).toBe(1)
  })

  it("exits with 128+signal when the child dies by a signal", async () => {
    const r = replica("solo")
    const start = await eventually(() => starts()[0], "the child")
    process.kill(start.pid, "SIGKILL")
    expect((await r.exited).code).toBe(137)
  })

  it("SIGKILLs a child that ignores SIGTERM after the grace period", async () => {
    const r = replica("solo", { env: { CHILD_IGNORE_TERM: "1" } })
    await eventually(() => starts()[0], "the child")
    const t0 = Date.now()
    r.signal("SIGTERM")
    expect((await r.exited).code).toBe(137)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000)
    expect(holder()).toBe("")
  })

  it("forwards SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH to the child and keeps running", async () => {
    const r = replica("solo")
    await eventually(() => starts()[0], "the child")
    const forwarded = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const
    for (const s of forwarded) r.signal(s)
    await eventually(() => {
      const got = readRecords(childLog()).filter((x) => x.event === "signal").map((x) => x.signal)
      return forwarded.every((s) => got.includes(s)) ? true : undefined
    }, "the forwarded signals")
    expect(r.exitCode).toBeUndefined()
    expect((await r.http("/")).status).toBe(200)
  })

  it("stops grandchildren in the child's process group with it", async () => {
    const pidFile = join(sb.dir, "grandchild.pid")
    const r = replica("solo", { command: ["/bin/sh", "-c", `sleep 300 & echo $! > ${pidFile}; wait`] })
    const grandchild = await eventually(
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) || undefined : undefined),
      "the grandchild"
    )
    r.signal("SIGTERM")
    expect((await r.exited).code).toBe(143)
    expect(() => process.kill(grandchild, 0)).toThrow(/ESRCH/)
  })

  it("a child that exits leaving a grandchild: the grandchild is stopped before the lease is released", async () => {
    const pidFile = join(sb.dir, "leftover.pid")
    let aliveAtRelease: boolean | undefined
    const off = sb.emu.onChange((ev) => {
      if (ev.lease.metadata.name === sb.leaseName && ev.lease.spec.holderIdentity === "" && existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, "utf8"))
        aliveAtRelease = (() => {
          try {
            process.kill(pid, 0)
            return true
          } catch {
            return false
          }
        })()
      }
    })
    const r = replica("solo", { command: ["/bin/sh", "-c", `sleep 300 & echo $! > ${pidFile}; sleep 0.3; exit 3`] })
    expect((await r.exited).code).toBe(3)
    off()
    expect(aliveAtRelease).toBe(false)
  })

  it("a follower ignores the signals it would forward", async () => {
    const { followers } = await cluster()
    await followers[0]!.port
    for (const s of ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const) followers[0]!.signal(s)
    expect((await followers[0]!.http("/healthz")).status).toBe(200)
    expect(followers[0]!.exitCode).toBeUndefined()
  })

  it("keeps following with one clear line when RBAC forbids the lease", async () => {
    await sb.restartEmulator({ forbidden: [{ client: "denied", verbs: ["get", "create", "update", "watch", "list"] }] })
    const r = replica("denied")
    const line = await r.waitFor((l) => l.level === "WARN" && String(l.message).includes("403"), "a 403 line")
    expect(line.message).toContain("get, create and update on leases")
    expect((await r.http("/")).status).toBe(404)
    expect((await r.http("/healthz")).status).toBe(200)
    expect(r.lines.filter((l) => String(l.message).includes("403"))).toHaveLength(1)
  })

  it("says once that the namespace does not exist, and keeps following", async () => {
    const r = replica("lost", { namespace: "no-such-namespace" })
    const line = await r.waitFor(
      (l) => l.level === "WARN" && String(l.message).includes("does not exist"),
      "a missing-namespace line"
    )
    expect(line.message).toContain("no-such-namespace")
    expect((await r.http("/healthz")).status).toBe(200)
    expect(r.lines.filter((l) => String(l.message).includes("does not exist"))).toHaveLength(1)
  })

  it("says once that the credentials were rejected (401)", async () => {
    await sb.restartEmulator({ tokens: ["good"] })
    const r = replica("bad-token")
    const line = await r.waitFor((l) => l.level === "WARN" && String(l.message).includes("401"), "a 401 line")
    expect(line.message).toContain("credentials")
    expect((await r.http("/")).status).toBe(404)
  })

  it.each([
    [["--lease-duration", "-3"], "--lease-duration"],
    [["--lease-duration", "9".repeat(400)], "--lease-duration"],
    [["--retry-period", "1e309s"], "--retry-period"],
    [["--lease-name", "ünïcødé"], "--lease-name"],
    [["--listen-addr", "[::]:99999"], "--listen-addr"],
    [["--identity", "line\nbreak"], "--identity"],
    [["--nope"], "--nope"]
  ])("hostile argv (case %#): exit 2, one line naming the setting, no stack trace", (argv, setting) => {
    const res = spawnSync(nodeBin, [wrapperPath, ...argv, "--", "true"], {
      env: { PATH: process.env["PATH"] ?? "", LEASE_NAME: "x" },
      encoding: "utf8"
    })
    expect(res.status).toBe(2)
    const lines = res.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(setting)
    expect(res.stderr).not.toMatch(/\n\s+at /)
  })

  it("starts on k8s-await-election's LEASE_DURATION=4, RENEW_DEADLINE=2, RETRY_PERIOD=1: the stop grace is chosen, and said", async () => {
    const kubeconfig = join(sb.dir, "k.kubeconfig")
    sb.emu.writeKubeconfig(kubeconfig, "k", "default")
    const proc = spawn(nodeBin, [wrapperPath, nodeBin, childPath], {
      stdio: ["ignore", "inherit", "pipe"],
      env: {
        PATH: process.env["PATH"] ?? "",
        KUBECONFIG: kubeconfig,
        K8S_AWAIT_ELECTION_ENABLED: "1",
        K8S_AWAIT_ELECTION_LOCK_NAME: sb.leaseName,
        K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
        K8S_AWAIT_ELECTION_IDENTITY: "k",
        K8S_AWAIT_ELECTION_LEASE_DURATION: "4",
        K8S_AWAIT_ELECTION_RENEW_DEADLINE: "2",
        K8S_AWAIT_ELECTION_RETRY_PERIOD: "1",
        LISTEN_ADDR: "127.0.0.1:0",
        CHILD_LOG: childLog(),
        CHILD_ID: "k"
      }
    })
    const r = new Replica("k", proc)
    sb.replicas.push(r)
    const exited = r.exited.then(({ code }) => {
      throw new Error(`exited ${String(code)}: ${r.stderr}`)
    })
    const said = await Promise.race([r.waitFor((l) => l.message.startsWith("timings chosen"), "timings line"), exited])
    expect(said.message).toBe("timings chosen to fit --lease-duration 4s: --stop-grace 1s")
    await Promise.race([eventually(() => starts().find((x) => x.id === "k"), "the child"), exited])
    expect((await r.http("/status")).body["timings"]).toEqual({
      leaseDurationMs: 4_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 1_000,
      stopGraceMs: 1_000,
      chosen: ["stop-grace"]
    })
  })

  it("rejects bad settings with one line and exit code 2, starting no child", () => {
    const kubeconfig = join(sb.dir, "x.kubeconfig")
    writeFileSync(kubeconfig, sb.emu.kubeconfig("x", "default"))
    const res = spawnSync(nodeBin, [
      wrapperPath,
      "--stop-grace",
      "20s",
      "--",
      nodeBin,
      "-e",
      "require('fs').writeFileSync(process.argv[1], 'ran')",
      join(sb.dir, "ran")
    ], {
      env: { PATH: process.env["PATH"] ?? "", KUBECONFIG: kubeconfig, LEASE_NAME: "x" },
      encoding: "utf8"
    })
    expect(res.status).toBe(2)
    expect(res.stderr.trim().split("\n")).toHaveLength(1)
    expect(res.stderr).toContain("--stop-grace")
    expect(existsSync(join(sb.dir, "ran"))).toBe(false)
  })
})
