/**
 * Handover on demand, end to end: `just-one-init handover` (or the same
 * request made with kubectl) moves leadership to the named pod and not to
 * another follower, with no overlap and nothing killed; it is a no-op when the
 * named pod already leads; a preferred holder that is gone is given up on
 * after a lease. Real wrappers, real children, the emulator.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { Replica } from "../harness/replica.ts"
import { eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("handover")
const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start" && (r.role ?? "child") === "child")
const holder = () => sb.emu.getLease("default", sb.leaseName)?.spec.holderIdentity
const kubectl = "/usr/bin/kubectl"

/** Run a command in this process's event loop's good time (the emulator answers from here): code, stdout, stderr. */
const run = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    execFile(file, [...args], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 30_000 }, (
      e,
      out,
      err
    ) => resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : null, out, err }))
  })

/** `just-one-init handover …` as an operator: its own kubeconfig. */
const handover = (...args: Array<string>) => {
  const kubeconfig = join(sb.dir, "operator.kubeconfig")
  sb.emu.writeKubeconfig(kubeconfig, "operator", "default")
  return run(nodeBin, [wrapperPath, "handover", "--lease-name", sb.leaseName, ...args], { KUBECONFIG: kubeconfig })
}

/** kubectl as an operator, with a kubeconfig and a cache of its own. */
const kubectlAs = (...args: Array<string>) => {
  const kc = join(sb.dir, "kubectl.kubeconfig")
  sb.emu.writeKubeconfig(kc, "operator", "default")
  return run(kubectl, ["--cache-dir", join(sb.dir, "cache"), ...args], { HOME: sb.dir, KUBECONFIG: kc })
}

/** Leader a, followers b and c watching. */
const trio = async () => {
  const a = sb.replica("a")
  await eventually(() => starts().find((r) => r.id === "a"), "a's child")
  const others = [sb.replica("b"), sb.replica("c")]
  for (const r of others) await r.port
  for (const id of ["b", "c"]) await sb.emu.watchOpened(id)
  return { a, b: others[0]!, c: others[1]! }
}

const noOverlap = () => {
  const running = new Set(starts().slice(-1).map((r) => r.pid))
  expect(overlaps(lives(readRecords(sb.childLog()), { running }))).toEqual([])
}

const stillFollower = async (r: Replica) => {
  await r.transition("Follower", r.lines.findIndex((l) => l.annotations["to"] === "Releasing"))
  expect(r.exitCode).toBeUndefined()
}

describe("handover on demand", () => {
  it("moves leadership to the named pod, not another follower; the old leader stops its child and stays", async () => {
    const { a } = await trio()
    const done = await handover("--to", "c")
    expect(done.err).toBe("")
    expect(done.code).toBe(0)
    expect(done.out).toMatch(new RegExp(`^lease default/${sb.leaseName}: handed over from "a" to "c" in \\d+ ms\\n$`))
    expect(holder()).toBe("c")
    await eventually(() => starts().find((r) => r.id === "c"), "c's child")
    expect(starts().map((r) => r.id)).toEqual(["a", "c"])
    noOverlap()
    await stillFollower(a)
    const step = a.lines.find((l) => l.annotations["to"] === "Releasing")!
    expect(step.annotations).toMatchObject({ reasonCode: "handover", reason: "handover asked for, to c" })
    // The request is cleared by the new holder.
    const lease = sb.emu.getLease("default", sb.leaseName)!
    expect(lease.metadata.annotations?.["just-one-init/preferred-holder"]).toBeUndefined()
  })

  it("is a no-op when the named pod already leads", async () => {
    await trio()
    const updates = sb.emu.requests("operator").update
    const done = await handover("--to", "a")
    expect(done.code).toBe(0)
    expect(done.out).toBe(`"a" already holds lease default/${sb.leaseName}: nothing to do\n`)
    expect(sb.emu.requests("operator").update).toBe(updates)
    expect(holder()).toBe("a")
    expect(sb.emu.getLease("default", sb.leaseName)!.metadata.annotations?.["just-one-init/preferred-holder"])
      .toBeUndefined()
  })

  it("a preferred holder that is gone: the others hold back for a lease, then one of them takes it", async () => {
    await trio()
    const done = await handover("--to", "gone")
    expect(done.err).toBe("")
    expect(done.code).toBe(0)
    expect(done.out).toMatch(
      /handed over from "a" to "[bc]" in (\d+) ms \(not "gone", which did not take it within a lease\)/
    )
    const tookMs = Number(/in (\d+) ms/.exec(done.out)![1])
    // Left to "gone" for one lease duration (4 s) from the release; taken soon after.
    expect(tookMs).toBeGreaterThanOrEqual(4_000)
    expect(tookMs).toBeLessThan(8_000)
    noOverlap()
  })

  it("without --to, whoever comes first, never the one that handed over", async () => {
    const { a } = await trio()
    const done = await handover()
    expect(done.code).toBe(0)
    expect(done.out).toMatch(/handed over from "a" to "[bc]" in \d+ ms\n$/)
    await stillFollower(a)
    noOverlap()
  })

  it("gives up after its timeout with exit 1, naming what it saw", async () => {
    const a = sb.replica("a")
    await eventually(() => starts().find((r) => r.id === "a"), "a's child")
    // Nobody else runs, and the one that handed over stays away for a lease: the lease stays free.
    const done = await handover("--to", "gone", "--timeout", "1s")
    expect(done.code).toBe(1)
    expect(done.out).toBe("")
    expect(done.err).toBe(
      `just-one-init: handover: no new holder of lease default/${sb.leaseName} within 1s: it is free, and nobody has taken it (asked for "gone")\n`
    )
    await stillFollower(a)
  })

  it("bad input is one line and exit 2, before anything is read or written", async () => {
    const cases: Array<[Array<string>, string]> = [
      [["--to"], "--to needs a value"],
      [["--to", ""], "--to must be 1 to 1024 characters"],
      [["--timeout", "soon"], "--timeout must be a duration"],
      [["--bogus"], "handover: unknown argument \"--bogus\""],
      [["--namespace", "Not_A_Label"], "--namespace must be a DNS label"]
    ]
    for (const [args, text] of cases) {
      const done = await handover(...args)
      expect(done.code, args.join(" ")).toBe(2)
      expect(done.err.split("\n").filter((l) => l !== ""), args.join(" ")).toHaveLength(1)
      expect(done.err, args.join(" ")).toContain(text)
    }
    const none = await run(nodeBin, [wrapperPath, "handover"], {})
    expect(none.code).toBe(2)
    expect(none.err).toContain("--lease-name is required")
    expect(sb.emu.requests("operator").get).toBe(0)
  })

  it.skipIf(!existsSync(kubectl))("kubectl annotate does the same on any cluster", async () => {
    const { a } = await trio()
    const done = await kubectlAs("annotate", "lease", sb.leaseName, "just-one-init/preferred-holder=b")
    expect(done.err).toBe("")
    expect(done.code).toBe(0)
    await eventually(() => starts().find((r) => r.id === "b"), "b's child")
    expect(holder()).toBe("b")
    noOverlap()
    await stillFollower(a)
  })

  it.skipIf(!existsSync(kubectl))(
    "kubectl patch of spec.preferredHolder, on a server with the CoordinatedLeaderElection gate",
    async () => {
      await sb.restartEmulator({ coordinatedLeaderElection: true })
      sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
      const { a } = await trio()
      const patch = JSON.stringify({ spec: { strategy: "just-one-init/handover", preferredHolder: "c" } })
      const done = await kubectlAs("patch", "lease", sb.leaseName, "--type", "merge", "-p", patch)
      expect(done.err).toBe("")
      expect(done.code).toBe(0)
      await eventually(() => starts().find((r) => r.id === "c"), "c's child")
      expect(holder()).toBe("c")
      // Cleared by the new holder, the strategy left as it was.
      const spec = sb.emu.getLease("default", sb.leaseName)!.spec
      expect(spec["preferredHolder"]).toBeUndefined()
      expect(spec["strategy"]).toBe("just-one-init/handover")
      noOverlap()
      await stillFollower(a)
    }
  )
})
