/**
 * The command without an election: --no-election / ELECTION=off, and
 * k8s-await-election's pass-through when it is not enabled. No Lease is
 * written and no API configuration is needed, yet the command is supervised:
 * signals forwarded, its exit code passed through, a stop signal stops it.
 */
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { childPath, eventually, nodeBin, wrapperPath } from "../harness/replica.ts"

/** A wrapper with no API configuration at all: with the election off it must never need one. */
const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const home = mkdtempSync(join(tmpdir(), "joi-direct-"))
  const proc = spawn(nodeBin, [wrapperPath, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", HOME: home, LISTEN_ADDR: "127.0.0.1:0", ...env }
  })
  let stderr = ""
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  return { proc, exited, stderr: () => stderr, home }
}

describe("the command without an election", () => {
  it("--no-election passes the exit code through, with no API configuration", async () => {
    const r = run(["--no-election", "--", "sh", "-c", "exit 7"])
    expect(await r.exited).toBe(7)
    expect(r.stderr()).not.toMatch(/KUBECONFIG|kube/i)
  })

  it("ELECTION=off: SIGTERM stops the child and the wrapper exits with its code; other signals are forwarded", async () => {
    const home = mkdtempSync(join(tmpdir(), "joi-direct-"))
    const childLog = join(home, "children.jsonl")
    const r = run(["--", nodeBin, childPath], {
      ELECTION: "off",
      CHILD_LOG: childLog,
      CHILD_ID: "d",
      CHILD_TERM_CODE: "42"
    })
    await eventually(() => readRecords(childLog).find((x) => x.event === "start"), "the child")
    r.proc.kill("SIGUSR1")
    await eventually(() => readRecords(childLog).find((x) => x.event === "signal"), "the forwarded signal")
    r.proc.kill("SIGTERM")
    expect(await r.exited).toBe(42)
  })

  it("k8s-await-election not enabled: the command (argv, no --) runs directly and its code passes through", async () => {
    const r = run(["sh", "-c", "exit 3"], {
      K8S_AWAIT_ELECTION_ENABLED: "",
      K8S_AWAIT_ELECTION_NAME: "x",
      K8S_AWAIT_ELECTION_LOCK_NAME: "x",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_IDENTITY: "pod-1"
    })
    expect(await r.exited).toBe(3)
  })

  it("a command that cannot be found exits 127 with one line", async () => {
    const r = run(["--no-election", "--", "/no/such/program"])
    expect(await r.exited).toBe(127)
    expect(r.stderr()).toContain("/no/such/program")
  })
})
