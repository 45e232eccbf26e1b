/**
 * Fail closed when the process table cannot be read: the stop decides what
 * is left of the child from /proc, and an unreadable table (fd exhaustion,
 * /proc hidden or not mounted) is "unknown", never "nothing left". The lease
 * is kept until every process is accounted for. Real wrappers in a mount
 * namespace of their own, where /proc is hidden and shown again.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { running } from "../harness/procfs.ts"
import { eventually, nodeBin, root, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("proc")
const records = () => readRecords(sb.childLog())
const started = (role: string) =>
  eventually(() => records().find((r) => r.event === "start" && (r.role ?? "child") === role), role)
const holder = () => sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity

describe("an unreadable process table", () => {
  it("keeps the lease until every process of the child is accounted for, and says so once", async () => {
    // The wrapper in a mount namespace of its own (not a PID namespace: not PID 1), so its /proc can be hidden.
    const a = sb.replica("a", {
      wrapper: ["unshare", "--mount", "--propagation", "private", "--", nodeBin, wrapperPath],
      env: { CHILD_DESCENDANTS: "setsid" }
    })
    await started("child")
    const daemon = await started("setsid")
    const inWrapper = (...cmd: Array<string>) => execFileSync("nsenter", ["-t", String(a.proc.pid), "-m", ...cmd])
    inWrapper("mount", "-t", "tmpfs", "hidden", "/proc")
    a.signal("SIGTERM")
    const said = a.waitFor((l) => l.message.startsWith("cannot read the process table"), "the unknown-table line")
    await Promise.race([said, a.exited])
    // The child itself is gone, but the daemon it left may not be: nothing is released over it.
    expect(running(daemon.pid)).toBe(true)
    expect(holder()).toBe("a")
    expect(a.exitCode).toBeUndefined()
    expect((await said).level).toBe("WARN")
    // The table is readable again: the daemon is found and stopped, and only then is the lease released.
    inWrapper("umount", "/proc")
    const { code } = await a.exited
    expect(code).toBe(0)
    expect(running(daemon.pid)).toBe(false)
    expect(holder()).toBe("")
    expect(a.lines.filter((l) => l.message.startsWith("cannot read the process table"))).toHaveLength(1)
  })

  it("under fd exhaustion (EMFILE), reading it is an error, never \"no children\"", () => {
    // A process with a child, every descriptor it may open taken, then asked for its descendants.
    const script = `
      import { openSync } from "node:fs"
      import { spawn } from "node:child_process"
      import { descendantsOf } from "${root}src/services/ProcessTree.ts"
      const child = spawn("sleep", ["30"], { stdio: "ignore" })
      await new Promise((r) => child.once("spawn", r))
      const fds = []
      try { for (;;) fds.push(openSync("/dev/null", "r")) } catch (e) { if (e.code !== "EMFILE") throw e }
      let outcome
      try { outcome = { children: descendantsOf(process.pid) } } catch (e) { outcome = { error: e._tag, message: e.message } }
      child.kill("SIGKILL")
      console.log(JSON.stringify(outcome))
      process.exit(0)`
    const r = spawnSync("sh", ["-c", `ulimit -n 64; exec "${nodeBin}" --input-type=module -e '${script}'`], {
      encoding: "utf8",
      timeout: 20_000
    })
    expect(r.stderr).toBe("")
    const outcome = JSON.parse(r.stdout.trim()) as { error?: string; message?: string; children?: Array<number> }
    expect(outcome).toMatchObject({ error: "ProcessTableUnreadable" })
    expect(outcome.message).toContain("EMFILE")
  })
})
