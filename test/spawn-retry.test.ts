/**
 * A spawn that fails for want of resources (EMFILE, ENFILE, EAGAIN, ENOMEM) is retried, from a
 * floor and backing off, said once; only errors about the command itself (ENOENT, EACCES,
 * ENOTDIR …) are final. Real processes: the wrapper's descriptor limit is lowered under it with
 * prlimit(1), to the lowest descriptor it has free, so that the spawn's first pipe fails with
 * EMFILE (it waits on a file gate, a stat and no descriptor, until then); and a leader is put in a
 * pids cgroup with room for one more process, so that child-init's fork fails with EAGAIN, while
 * the lease is renewed as usual. The renew deadline still rules: a term that ends while its start
 * is retried stops retrying.
 */
import { execFileSync, spawn } from "node:child_process"
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import type { LogLine } from "../harness/replica.ts"
import { eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { childrenOf } from "../src/services/ProcessTree.ts"
import { sandbox } from "./support/sandbox.ts"

const canPrlimit = (() => {
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), "--nofile", "--noheadings"])
    return true
  } catch {
    return false
  }
})()

/** The wrapper without an election, waiting for a file before it runs the command. */
const gated = (gate: string, command: ReadonlyArray<string>) => {
  const proc = spawn(nodeBin, [wrapperPath, "--no-election", "--wait-for", `file:${gate}`, "--", ...command], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", LISTEN_ADDR: "127.0.0.1:0" }
  })
  const lines: Array<LogLine> = []
  let buffer = ""
  proc.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk
    const parts = buffer.split("\n")
    buffer = parts.pop()!
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine)
      } catch {
        // Not a log line.
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  const line = (message: string) => eventually(() => lines.find((l) => l.message.startsWith(message)), message)
  return { proc, exited, lines, line }
}

/** Lower the soft descriptor limit of `pid` to the lowest descriptor it has free: any new one fails with EMFILE. */
const starve = (pid: number) => {
  const [soft, hard] = execFileSync("prlimit", ["--pid", String(pid), "--nofile", "--noheadings", "-o", "SOFT,HARD"], {
    encoding: "utf8"
  }).trim().split(/\s+/)
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number))
  let free = 0
  while (used.has(free)) free++
  execFileSync("prlimit", ["--pid", String(pid), `--nofile=${free}:${hard}`])
  return () => {
    // Gone already: nothing to give back.
    if (existsSync(`/proc/${pid}`)) execFileSync("prlimit", ["--pid", String(pid), `--nofile=${soft}:${hard}`])
  }
}

describe.skipIf(!canPrlimit)("a spawn that fails for want of resources", () => {
  it("EMFILE is retried, said once, and the command runs with its code once descriptors are free", async () => {
    const gate = join(mkdtempSync(join(tmpdir(), "joi-retry-")), "go")
    const r = gated(gate, ["/bin/sh", "-c", "exit 3"])
    await r.line("waiting for gates")
    const restore = starve(r.proc.pid!)
    writeFileSync(gate, "")
    const retrying = await r.line("cannot start").finally(() => setTimeout(restore, 1_500))
    expect(retrying.message).toContain("EMFILE")
    expect(retrying.level).toBe("WARN")
    // The descriptors come back 1.5 s later: several attempts fail meanwhile, said once.
    expect(await r.exited).toBe(3)
    expect(r.lines.filter((l) => l.message.startsWith("cannot start"))).toHaveLength(1)
    expect(r.lines.filter((l) => l.message === "child started")).toHaveLength(1)
  })

  it("a stop while retrying ends the retries: SIGTERM and the wrapper exits without ever starting the command", async () => {
    const dir = mkdtempSync(join(tmpdir(), "joi-retry-"))
    const gate = join(dir, "go")
    const ran = join(dir, "ran")
    const r = gated(gate, ["/bin/sh", "-c", `touch ${ran}`])
    await r.line("waiting for gates")
    const restore = starve(r.proc.pid!)
    writeFileSync(gate, "")
    try {
      expect((await r.line("cannot start")).level).toBe("WARN")
      r.proc.kill("SIGTERM")
      expect(await r.exited).toBe(126)
    } finally {
      restore()
    }
    expect(r.lines.some((l) => l.message === "child started")).toBe(false)
    expect(readdirSync(dir)).toEqual(["go"])
  })
})
if (!canPrlimit) console.warn("prlimit is not available: the spawn retry tests are skipped")

/** A pids cgroup of its own (v1 or v2), where this machine lets us make one; undefined otherwise. */
const pidsCgroup = (): { dir: string; limit: (max: string) => void; join: (pid: number) => void } | undefined => {
  for (const root of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]) {
    const dir = join(root, `joi-retry-${process.pid}-${Math.random().toString(36).slice(2)}`)
    try {
      mkdirSync(dir)
    } catch {
      continue
    }
    if (existsSync(join(dir, "pids.max"))) {
      return {
        dir,
        limit: (max) => writeFileSync(join(dir, "pids.max"), max),
        join: (pid) => writeFileSync(join(dir, "cgroup.procs"), String(pid))
      }
    }
    rmSync(dir, { recursive: false, force: true })
  }
  return undefined
}
/**
 * Remove a cgroup once the kernel lets it go. An exiting task stays attached to its cgroup for a
 * moment after its parent reaped it, longer on a busy machine (podman and Mesos retry rmdir for the
 * same reason), so EBUSY is retried, for a bounded time, and a failure names what is left in it.
 */
const removeCgroup = (dir: string) =>
  eventually(
    () => {
      try {
        rmdirSync(dir)
        return true
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EBUSY") throw e
        return undefined
      }
    },
    "the cgroup's removal",
    5_000
  ).catch((e: Error) => {
    const left = existsSync(dir) ? readFileSync(join(dir, "cgroup.procs"), "utf8").trim() : ""
    throw new Error(`${e.message}; left in it: ${left.split("\n").join(", ") || "no process"}`)
  })

const probe = pidsCgroup()
if (probe !== undefined) rmdirSync(probe.dir)

describe.skipIf(probe === undefined)("a leader whose spawn fails with EAGAIN (a pids cgroup that is full)", () => {
  const sb = sandbox("retry")
  const lease = () => sb.emu.getLease("default", sb.leaseName)

  /**
   * A follower of a lease held elsewhere, put in a pids cgroup with room for one more task (child-init, not its
   * fork). The child-init it spawned ahead is sent away first (as if gone), so the start spawns one anew.
   */
  const starvedFollower = async () => {
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "z", leaseDurationSeconds: 3600, leaseTransitions: 0 })
    const a = sb.replica("a")
    await sb.emu.watchOpened("a")
    for (const pid of childrenOf(a.proc.pid!)) process.kill(pid, "SIGKILL")
    await eventually(() => (childrenOf(a.proc.pid!).length === 0 ? true : undefined), "the spare child-init gone")
    const cg = pidsCgroup()!
    cg.join(a.proc.pid!)
    cg.limit(String(Number(readFileSync(join(cg.dir, "pids.current"), "utf8")) + 1))
    const cleanup = async () => {
      await a.exited
      await removeCgroup(cg.dir)
    }
    return { a, cg, cleanup }
  }

  it("keeps the lease, renewing, while it retries; once processes can be made the child runs", async () => {
    const { a, cg, cleanup } = await starvedFollower()
    try {
      sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
      await a.transition("Leader")
      const retrying = await a.waitFor((l) => l.message.startsWith("cannot start"), "the retry line")
      expect(retrying.message).toContain("EAGAIN")
      expect(retrying.level).toBe("WARN")
      // Renewed while retrying: the lease's renewTime moves on, and it stays ours.
      const renewed = lease()?.spec?.renewTime
      await eventually(
        () => (lease()?.spec?.renewTime !== renewed ? true : undefined),
        "a renew while the start is retried",
        5_000
      )
      expect(lease()?.spec?.holderIdentity).toBe("a")
      expect(readRecords(sb.childLog())).toEqual([])
      cg.limit("max")
      await a.waitFor((l) => l.message === "child started", "the child's start")
      await eventually(() => readRecords(sb.childLog()).find((r) => r.event === "start"), "the child's own record")
      expect(a.lines.filter((l) => l.message.startsWith("cannot start"))).toHaveLength(1)
      a.signal("SIGTERM")
      expect((await a.exited).code).toBe(0)
    } finally {
      cg.limit("max")
      a.signal("SIGKILL")
      await cleanup()
    }
  })

  it("a term that ends while retrying (the lease taken) stops retrying: back to Follower, and no child ever runs", async () => {
    const { a, cg, cleanup } = await starvedFollower()
    try {
      sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
      const leader = await a.transition("Leader")
      await a.waitFor((l) => l.message.startsWith("cannot start"), "the retry line")
      sb.emu.setLease("default", sb.leaseName, { holderIdentity: "b", leaseDurationSeconds: 3600, leaseTransitions: 1 })
      await a.transition("Follower", a.lines.indexOf(leader))
      cg.limit("max")
      // Room again. Nothing announces the absence of a start: a retry still running would start the
      // child within its backoff (at most 2 s), so the check comes after a window longer than that.
      await new Promise((r) => setTimeout(r, 3_000))
      expect(a.lines.some((l) => l.message === "child started")).toBe(false)
      expect(readRecords(sb.childLog())).toEqual([])
      expect(a.exitCode).toBeUndefined()
    } finally {
      cg.limit("max")
      a.signal("SIGKILL")
      await cleanup()
    }
  })
})
if (probe === undefined) console.warn("no pids cgroup can be made here: the EAGAIN retry tests are skipped")
