/**
 * Leadership ends everything it started, in time; a stale incarnation never
 * touches a newer one's lease; the child's own exit always decides the
 * wrapper's code; and a follower stays a good citizen of the API server
 * whatever it answers. Real wrapper processes, real children, the emulator.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually } from "../harness/replica.ts"
import { childrenOf } from "../src/services/ProcessTree.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("end")
const records = () => readRecords(sb.childLog())
const lease = () => sb.emu.getLease("default", sb.leaseName)
const started = (id: string, role = "child") =>
  eventually(
    () => records().find((r) => r.event === "start" && r.id === id && (r.role ?? "child") === role),
    `${id}'s ${role}`
  )
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const descendants = (pid: number): Array<number> => childrenOf(pid).flatMap((c) => [c, ...descendants(c)])
/** The child-init a follower keeps spawned ahead for its next term: one of its helpers, waiting. */
const spare = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[2] === "--await"
const afterLeader = (r: Replica) => r.lines.findIndex((l) => l.annotations["to"] === "Leader")
const exitWithin = (r: Replica, ms: number) =>
  Promise.race([
    r.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${r.id} did not exit within ${ms} ms`)), ms))
  ])

/** Partition the leader "a" and wait until "b" leads and "a" is a follower again. */
const partitionedHandover = async (env: Record<string, string>) => {
  const a = sb.replica("a", { env })
  await started("a")
  const b = sb.replica("b", { env })
  await b.port
  sb.emu.setFault("a", { hang: true })
  sb.emu.dropWatches("a")
  const next = await started("b")
  await a.transition("Follower", afterLeader(a))
  return { a, b, next }
}

/** Every process of an episode, by the records it wrote. */
const episodePids = (id: string) => [...new Set(records().filter((r) => r.id === id).map((r) => r.pid))]

describe("when leadership ends, every process it started is gone in time", () => {
  it("one stop deadline: a slow child and a SIGTERM-ignoring member of its group die before the next child starts", async () => {
    const { a, next } = await partitionedHandover({ CHILD_TERM_DELAY_MS: "850", CHILD_DESCENDANTS: "group-stubborn" })
    expect(records().some((r) => r.id === "a" && r.role === "group-stubborn")).toBe(true)
    const running = new Set(episodePids("b"))
    expect(overlaps(lives(records(), { running }))).toEqual([])
    for (const pid of episodePids("a")) expect(alive(pid), `a's process ${pid}`).toBe(false)
    expect(next.id).toBe("b")
    expect(a.exitCode).toBeUndefined()
  })

  it("processes that left the group (setsid) die too, and a follower has no descendants but its helpers", async () => {
    const { a, next } = await partitionedHandover({ CHILD_DESCENDANTS: "setsid,setsid-stubborn" })
    expect(records().filter((r) => r.id === "a" && r.role?.startsWith("setsid") && r.event === "start")).toHaveLength(2)
    const running = new Set(episodePids("b"))
    expect(overlaps(lives(records(), { running }))).toEqual([])
    for (const pid of episodePids("a")) expect(alive(pid), `a's process ${pid}`).toBe(false)
    expect(descendants(a.proc.pid!).filter((pid) => !spare(pid))).toEqual([])
    expect(next.id).toBe("b")
  })

  it("a command that spawn() rejects at once (ENOTDIR) ends with 126, one line, and the lease released", async () => {
    const r = sb.replica("solo", { command: ["/etc/hostname/x"] })
    const { code } = await exitWithin(r, 20_000)
    expect(code).toBe(126)
    const errors = r.lines.filter((l) => l.level === "ERROR")
    expect(errors.map((l) => l.message)).toEqual(["cannot start \"/etc/hostname/x\": ENOTDIR"])
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(lease()?.spec.holderIdentity).toBe("")
  })

  it("a child that exits by itself while a step-down is under way ends the wrapper with its code", async () => {
    const r = sb.replica("solo", {
      args: ["--reelect-after", "800ms"],
      env: { CHILD_EXIT_AFTER_MS: "500", CHILD_EXIT_CODE: "7", CHILD_DESCENDANTS: "group-stubborn" }
    })
    const { code } = await exitWithin(r, 15_000)
    expect(code).toBe(7)
    expect(records().filter((x) => x.event === "start" && (x.role ?? "child") === "child")).toHaveLength(1)
    // The step-down was under way when the child ended: the case this test is about.
    const stepDown = r.lines.findIndex((l) =>
      l.message === "transition" && l.annotations["to"] === "Releasing" && l.annotations["reason"] === "re-election due"
    )
    const ended = r.lines.findIndex((l) => l.message === "child ended")
    expect(stepDown).toBeGreaterThanOrEqual(0)
    expect(ended).toBeGreaterThan(stepDown)
    expect(r.lines[ended]?.annotations["byItself"]).toBe(true)
  })

  it("SIGTERM while the wrapper is still starting (no credentials yet, nothing read) exits 0, as the README says of a follower", async () => {
    const marker = join(sb.dir, "plugin-started")
    const plugin = join(sb.dir, "slow-plugin.sh")
    writeFileSync(
      plugin,
      `#!/bin/sh\ntouch ${marker}\nsleep 3\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"solo"}}'\n`
    )
    chmodSync(plugin, 0o755)
    const kubeconfig = join(sb.dir, "exec.kubeconfig")
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "e", cluster: { server: sb.emu.url, "insecure-skip-tls-verify": true } }],
        users: [{
          name: "u",
          user: {
            exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" }
          }
        }],
        contexts: [{ name: "e", context: { cluster: "e", user: "u" } }],
        "current-context": "e"
      })
    )
    const r = sb.replica("solo", { kubeconfig })
    await eventually(() => (existsSync(marker) ? true : undefined), "the credential plugin to start")
    r.signal("SIGTERM")
    const { code } = await exitWithin(r, 15_000)
    expect(code).toBe(0)
    expect(records()).toEqual([])
  })
})

describe("two incarnations with one identity", () => {
  /** What another incarnation of "a" writes when it takes the lease: our identity, its own incarnation. */
  const otherIncarnationTakes = async () => {
    const current = lease()!
    const body = {
      ...current,
      metadata: { ...current.metadata, annotations: { "just-one-init/incarnation": "another-incarnation" } },
      spec: { ...current.spec, holderIdentity: "a", acquireTime: new Date().toISOString().replace("Z", "000Z") }
    }
    const res = await fetch(`${sb.emu.url}/apis/coordination.k8s.io/v1/namespaces/default/leases/${sb.leaseName}`, {
      method: "PUT",
      headers: { authorization: "Bearer other", "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    expect(res.status).toBe(200)
  }

  it("a stale incarnation stopping its child never releases the newer incarnation's lease", async () => {
    const a = sb.replica("a", { env: { CHILD_TERM_DELAY_MS: "800" } })
    await started("a")
    a.signal("SIGTERM")
    await eventually(() => records().find((r) => r.event === "term"), "the child to begin stopping")
    await otherIncarnationTakes()
    await exitWithin(a, 15_000)
    expect(lease()!.spec.holderIdentity).toBe("a")
    expect(lease()!.metadata.annotations?.["just-one-init/incarnation"]).toBe("another-incarnation")
  })

  it("a leader whose renew meets the newer incarnation's lease stops its child and leaves that lease alone", async () => {
    const a = sb.replica("a")
    await started("a")
    await otherIncarnationTakes()
    await eventually(() => records().find((r) => r.event === "stop" && r.id === "a"), "a's child to stop", 10_000)
    // Back to Follower: whatever the stop would have released is decided by now.
    await a.transition("Follower", a.lines.findIndex((l) => l.annotations["to"] === "Leader"))
    expect(lease()!.metadata.annotations?.["just-one-init/incarnation"]).toBe("another-incarnation")
    expect(lease()!.spec.holderIdentity).toBe("a")
    expect(a.exitCode).toBeUndefined()
  })
})

describe("a good citizen of the API server under any answer", () => {
  it.each(
    [
      ["429 with Retry-After: 0 on every request", { status: 429, retryAfterSeconds: 0 }],
      ["503 on every request", { status: 503 }],
      ["a reset connection on every request", { reset: true }],
      ["watches that end at once", { watch: "end-at-once", verbs: ["watch"] }],
      ["watches that send an ERROR event", { watch: "error-event", verbs: ["watch"] }]
    ] as const
  )("a follower answered %s stays under its request budget", async (_name, fault) => {
    const a = sb.replica("a")
    await started("a")
    const b = sb.replica("b")
    await b.port
    await sb.emu.watchOpened("b")
    sb.emu.setFault("b", fault)
    sb.emu.dropWatches("b")
    const count = () => Object.values(sb.emu.requests("b")).reduce((x, y) => x + y, 0)
    const before = count()
    // A measurement window, not a synchronisation: with a 500 ms retry period 5 s allow about 10 polls
    // and a few watch attempts; a hot loop makes thousands.
    await new Promise((r) => setTimeout(r, 5_000))
    expect(count() - before).toBeLessThanOrEqual(40)
    expect(a.exitCode).toBeUndefined()
  })
})
