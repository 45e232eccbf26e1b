/**
 * A wrapper that dies leaves nothing running. Outside PID 1 (under tini, in a pod that shares its
 * process namespace, on a laptop) the kernel does not kill the child when the wrapper is SIGKILLed
 * or OOM-killed; child-init (native/child-init.c), spawned in the command's place, does. Real
 * processes: a leader that is not PID 1 is SIGKILLed, and its child, a grandchild in the child's
 * group and a setsid grandchild must all be gone within a wide bound. Through child-init the
 * command's exit code, its death by a signal, a command that cannot be found and forwarded signals
 * reach the wrapper and the command as they did without it.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { ChildRecordLine } from "../harness/lives.ts"
import { readRecords } from "../harness/lives.ts"
import { commOf, parentOf, running } from "../harness/procfs.ts"
import { childPath, eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("cinit")

const kill = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // Gone already.
  }
}

/** The processes of one child (itself and what it started), from their own start records. */
const started = (log: string, roles: ReadonlyArray<string>) =>
  eventually(() => {
    const starts = readRecords(log).filter((r) => r.event === "start")
    const found = roles.map((role) => starts.find((r) => (r.role ?? "child") === role))
    return found.every((r) => r !== undefined) ? (found as Array<ChildRecordLine>) : undefined
  }, `start records of ${roles.join(", ")}`)

describe("a wrapper that dies, not as PID 1", () => {
  it("SIGKILLed as leader: its child, a grandchild in its group and a setsid grandchild are gone within 2 s", async () => {
    const a = sb.replica("a", { env: { CHILD_DESCENDANTS: "group,setsid" } })
    await a.transition("Leader")
    const pids = (await started(sb.childLog(), ["child", "group", "setsid"])).map((r) => r.pid)
    try {
      expect(a.proc.pid).not.toBe(1)
      expect(pids.every(running)).toBe(true)
      a.proc.kill("SIGKILL")
      await a.exited
      // Polls /proc; the assertion below names whatever is still running after the bound.
      await eventually(() => (pids.some(running) ? undefined : true), "the child's processes to die", 2_000).catch(
        () => undefined
      )
      expect(pids.filter(running)).toEqual([])
    } finally {
      pids.forEach(kill)
    }
  })
})

/** A wrapper without an election (no API needed): the command runs under child-init all the same. */
const direct = (command: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const proc = spawn(nodeBin, [wrapperPath, "--no-election", "--", ...command], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", LISTEN_ADDR: "127.0.0.1:0", ...env }
  })
  let stderr = ""
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  return { proc, exited, stderr: () => stderr }
}

describe("the command under child-init", () => {
  it("runs as child-init's child; its exit code, its death by SIGTERM and a command not found mirror as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "joi-cinit-"))
    const parent = join(dir, "parent")
    const three = direct(["/bin/sh", "-c", `cat /proc/$PPID/comm > ${parent}; exit 3`])
    expect(await three.exited).toBe(3)
    expect(readFileSync(parent, "utf8")).toBe("child-init\n")
    expect(await direct(["/bin/sh", "-c", "kill -TERM $$"]).exited).toBe(143)
    const missing = direct(["/no/such/program"])
    expect(await missing.exited).toBe(127)
    const errors = missing.stderr().split("\n").filter((l) => l.includes("\"ERROR\""))
    expect(errors.map((l) => JSON.parse(l).message)).toEqual(["cannot start \"/no/such/program\": ENOENT"])
  })

  it("forwarded signals reach the command, and SIGTERM to the wrapper ends it with the command's code", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "joi-cinit-")), "children.jsonl")
    const r = direct([nodeBin, childPath], { CHILD_LOG: log, CHILD_ID: "d", CHILD_TERM_CODE: "42" })
    const [child] = await started(log, ["child"])
    expect(commOf(parentOf(child!.pid)!)).toBe("child-init")
    expect(parentOf(parentOf(child!.pid)!)).toBe(r.proc.pid)
    r.proc.kill("SIGUSR1")
    await eventually(() => readRecords(log).find((x) => x.event === "signal"), "the forwarded signal")
    r.proc.kill("SIGTERM")
    expect(await r.exited).toBe(42)
  })
})

describe("the elected child's child-init, spawned ahead", () => {
  it("waits beside a follower, and on winning the lease the command starts in it: no fork of the wrapper then", async () => {
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "z", leaseDurationSeconds: 3600, leaseTransitions: 7 })
    const a = sb.replica("a")
    await sb.emu.watchOpened("a")
    const spare = await eventually(
      () =>
        readFileSync(`/proc/${a.proc.pid}/task/${a.proc.pid}/children`, "utf8").split(" ").map(Number)
          .find((pid) => pid > 0 && commOf(pid) === "child-init"),
      "the spare child-init"
    )
    // Released: a wins, and its child (with its fencing token) starts under that very child-init.
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 7 })
    const [child] = await started(sb.childLog(), ["child"])
    expect(parentOf(child!.pid)).toBe(spare)
    expect(child!.token).toBe("8")
    // Another is spawned ahead for the next term, a while later, and stays out of this one's stop.
    const next = await eventually(
      () =>
        readFileSync(`/proc/${a.proc.pid}/task/${a.proc.pid}/children`, "utf8").split(" ").map(Number)
          .find((pid) => pid > 0 && pid !== spare && commOf(pid) === "child-init"),
      "the next spare"
    )
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    await eventually(() => (running(next) ? undefined : true), "the unused spare gone with the wrapper")
  })
})
