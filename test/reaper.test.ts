/**
 * PID-1 duties: orphans that a child leaves behind are reaped, the exit status
 * of every child Node spawned still reaches Node (protected or not), and as
 * real PID 1 (in a new PID namespace) both the Reaper alone
 * (test/fixtures/reaper-pid1.ts, with a control run without it) and the
 * bundled wrapper leave no zombie behind a double-forking child.
 */
import { Effect, Layer } from "effect"
import { execFile, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import { startEmulator } from "../emulator/index.ts"
import { eventually, nodeBin, root, wrapperPath } from "../harness/replica.ts"
import { loadAddon, Reaper } from "../src/services/Reaper.ts"

const children = (pid: number) =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number)
  )
const state = (pid: number) => {
  try {
    return /State:\s+(\S)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
  } catch {
    return undefined
  }
}
const zombiesUnder = (pid: number) => children(pid).filter((c) => state(c) === "Z")

/** A child that leaves an orphan behind which exits 200 ms later. */
const doubleFork = ["/bin/sh", "-c", "sleep 0.2 & exit 0"]

const canUnshare = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]).status === 0

describe("reaping orphans", () => {
  it("finds the addon beside the bundle and where node-gyp built it, and none elsewhere", () => {
    expect(loadAddon(new URL("../dist/just-one-init.mjs", import.meta.url).href)).toBeDefined()
    expect(loadAddon(new URL("../src/services/Reaper.ts", import.meta.url).href)).toBeDefined()
    expect(loadAddon("file:///nonexistent/dir/x.mjs")).toBeUndefined()
  })

  it("leaves zombies without the reaper, reaps them with it, and never steals Node's own child", async () => {
    const addon = loadAddon(new URL("../src/services/Reaper.ts", import.meta.url).href)!
    expect(addon.subreaper()).toBe(true)
    const orphanWithoutReaper = spawn(doubleFork[0]!, doubleFork.slice(1), { stdio: "ignore" })
    await new Promise((r) => orphanWithoutReaper.once("exit", r))
    const zombie = await eventually(() => zombiesUnder(process.pid)[0], "an orphan to become a zombie", 5_000)
    expect(state(zombie)).toBe("Z")

    await Effect.runPromise(Effect.scoped(
      Effect.gen(function*() {
        const reaper = yield* Reaper
        expect(reaper.active).toBe(true)
        const own = spawn(doubleFork[0]!, doubleFork.slice(1), { stdio: "ignore" })
        reaper.protectUnsafe(own.pid!)
        const code = yield* Effect.promise(() => new Promise<number | null>((r) => own.once("exit", r)))
        expect(code).toBe(0)
        // Both orphans (the earlier zombie and the new one, 200 ms later) are reaped.
        yield* Effect.promise(() =>
          eventually(() => (Effect.runSync(reaper.reaped) >= 2 ? true : undefined), "two orphans reaped", 5_000)
        )
        expect(zombiesUnder(process.pid)).toEqual([])
      }).pipe(Effect.provide(Layer.fresh(Reaper.layer)))
    ))
  })

  it("never takes the exit of a child Node spawned, even unprotected and with the event loop late", async () => {
    await Effect.runPromise(Effect.scoped(
      Effect.gen(function*() {
        const reaper = yield* Reaper
        const exits = Array.from({ length: 3 }, () => {
          const child = spawn("/bin/true", { stdio: "ignore" })
          return new Promise<number | null>((r) => child.once("exit", r))
        })
        // The children exit while the loop is blocked past a periodic sweep: that sweep then runs
        // before libuv has handled their SIGCHLD, when they are zombies that look like orphans.
        const until = Date.now() + 1_200
        while (Date.now() < until) { /* block the event loop */ }
        const codes = yield* Effect.promise(() => Promise.all(exits)).pipe(Effect.timeout("3 seconds"))
        expect(codes).toEqual([0, 0, 0])
        expect(yield* reaper.reaped).toBe(0)
      }).pipe(Effect.provide(Layer.fresh(Reaper.layer)))
    ))
  })

  describe.skipIf(!canUnshare)("as PID 1 of a new PID namespace", () => {
    const fixture = async (...args: Array<string>) => {
      const { stdout } = await promisify(execFile)("unshare", [
        "--pid",
        "--fork",
        "--mount-proc",
        nodeBin,
        `${root}test/fixtures/reaper-pid1.ts`,
        ...args
      ], { cwd: root })
      return JSON.parse(stdout) as {
        pid: number
        active: boolean
        directChildExitCode: number | null
        zombiesAfter: number
        reaped: number
      }
    }

    it("the Reaper reaps the orphans of a double-forking child, which stay zombies without it", async () => {
      const [reaping, control] = await Promise.all([fixture(), fixture("--control")])
      expect(control).toEqual({ pid: 1, active: false, directChildExitCode: 0, zombiesAfter: 2, reaped: 0 })
      expect(reaping).toEqual({ pid: 1, active: true, directChildExitCode: 0, zombiesAfter: 0, reaped: 2 })
    })

    const dir = mkdtempSync(join(tmpdir(), "joi-pid1-"))
    let close: () => Promise<void> = async () => {}
    afterAll(() => close())

    it("the bundled wrapper leaves no zombie after a double-forking child, and exits with the child's code", async () => {
      const emu = await startEmulator()
      close = () => emu.close()
      emu.writeKubeconfig(join(dir, "kc"), "pid1", "default")
      // Released before: a lease never seen at all would be waited out for one lease first.
      emu.setLease("default", "pid1", { holderIdentity: "", leaseDurationSeconds: 1 })
      const script = "sh -c 'sleep 0.2 & exit 0'; sh -c 'sleep 0.3 & exit 0'; sleep 3; exit 5"
      const unshare = spawn("unshare", [
        "--pid",
        "--fork",
        "--mount-proc",
        nodeBin,
        wrapperPath,
        "--",
        "/bin/sh",
        "-c",
        script
      ], {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          PATH: process.env["PATH"] ?? "",
          KUBECONFIG: join(dir, "kc"),
          LEASE_NAME: "pid1",
          POD_NAME: "pid1",
          LISTEN_ADDR: "127.0.0.1:0"
        }
      })
      const wrapper = await eventually(() => children(unshare.pid!)[0], "the wrapper as PID 1")
      // The orphans exit at 0.2 s and 0.3 s; a second later none may be left as a zombie.
      const seen: Array<number> = []
      await eventually(
        () => {
          const z = zombiesUnder(wrapper)
          seen.push(z.length)
          return children(wrapper).length > 0 && seen.length > 60 ? true : undefined
        },
        "the child to run for a while",
        10_000
      )
      expect(zombiesUnder(wrapper)).toEqual([])
      const code = await new Promise<number | null>((r) => unshare.once("exit", r))
      expect(code).toBe(5)
    })
  })
  if (!canUnshare) console.warn("unshare --pid is not permitted here: the PID-1 test is skipped")
})
