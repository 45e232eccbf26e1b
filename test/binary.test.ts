/**
 * The single executable (dist/just-one-init, from `npm run build:binary`) on its own: with no Node
 * on its PATH and no NODE_* variables it prints its version, elects against the emulator, runs a
 * real child and passes its exit code through, and hands over on SIGTERM; SIGKILLed (not as PID 1)
 * it leaves nothing of its child running, through the child-init it carries, or warns once where
 * that cannot be written; as PID 1 of a new PID namespace it reaps orphans with the addon it
 * carries, or, where its temp dir is read-only, warns once and runs on. And the Dockerfile's stages, run here outside Docker: the build stage's
 * commands build the executable from the files that stage copies, and the image's demo child
 * serves under it.
 */
import { execFile, spawn, spawnSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { parentOf, running } from "../harness/procfs.ts"
import { binaryPath, eventually, root } from "../harness/replica.ts"
import { args, runtime, stages } from "./support/dockerfile.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("bin")
const version: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version

/** A PATH with a shell and sleep, and no node: what an image of another language offers. */
const noNodePath = (() => {
  const bin = mkdtempSync(join(tmpdir(), "joi-bin-path-"))
  for (const tool of ["sh", "sleep"]) symlinkSync(`/bin/${tool}`, join(bin, tool))
  return bin
})()
const noNode = { PATH: noNodePath }

const run = (file: string, argv: ReadonlyArray<string>, env: Record<string, string>) =>
  promisify(execFile)(file, argv, { env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr })
  )

/** The environment a process runs with, from /proc. */
const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean)

const exited = (p: ChildProcess) => new Promise<number | null>((r) => p.once("exit", (code) => r(code)))

describe("the single executable, with no Node on its PATH", () => {
  it("prints the package's version, and one line for bad settings", async () => {
    expect(await run(binaryPath, ["--version"], noNode)).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" })
    const bad = await run(binaryPath, ["--", "true"], noNode)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^just-one-init: [^\n]*LEASE_NAME[^\n]*\n$/)
    expect(bad.stdout).toBe("")
  })

  it("elects against the emulator, runs a real child and exits with its code", async () => {
    const found = join(sb.dir, "node-on-path")
    const r = sb.replica("solo", {
      wrapper: [binaryPath],
      env: noNode,
      // The child inherits the wrapper's environment: it reports whether any node could be found.
      command: ["/bin/sh", "-c", `command -v node > ${found} || echo none > ${found}; exit 7`]
    })
    expect(await r.exited).toEqual({ code: 7, signal: null })
    expect(readFileSync(found, "utf8")).toBe("none\n")
    expect(r.lines.filter((l) => l.message === "transition").map((l) => l.annotations["to"])).toEqual([
      "Acquiring",
      "Leader",
      "Releasing",
      "Follower"
    ])
    expect(sb.emu.getLease("default", sb.leaseName)?.spec?.holderIdentity).toBe("")
  })

  it("two on one lease run one child; SIGTERM to the leader stops it (143) and the other takes over", async () => {
    const sleeper = ["/bin/sh", "-c", "exec sleep 30"]
    const a = sb.replica("a", { wrapper: [binaryPath], env: noNode, command: sleeper })
    await a.transition("Leader")
    const b = sb.replica("b", { wrapper: [binaryPath], env: noNode, command: sleeper })
    await sb.emu.watchOpened("b")
    for (const r of [a, b]) {
      const env = environOf(r.proc.pid!)
      expect(env.filter((e) => e.startsWith("NODE_"))).toEqual([])
      expect(env).toContain(`PATH=${noNodePath}`)
    }
    expect((await a.http("/healthcheck")).status).toBe(200)
    expect((await b.http("/healthcheck")).status).toBe(404)
    a.signal("SIGTERM")
    expect(await a.exited).toEqual({ code: 143, signal: null })
    await b.transition("Leader")
    expect(sb.emu.getLease("default", sb.leaseName)?.spec?.holderIdentity).toBe("b")
  })
})

describe("the single executable, killed, not as PID 1", () => {
  const starts = (roles: ReadonlyArray<string>) =>
    eventually(() => {
      const all = readRecords(sb.childLog()).filter((r) => r.event === "start")
      const found = roles.map((role) => all.find((r) => (r.role ?? "child") === role))
      return found.every((r) => r !== undefined) ? found.map((r) => r!.pid) : undefined
    }, `start records of ${roles.join(", ")}`)

  it("SIGKILLed as leader: its child and both grandchildren are gone within 2 s, and its temp dir is left empty", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "joi-bin-tmp-"))
    const a = sb.replica("a", {
      wrapper: [binaryPath],
      env: { ...noNode, TMPDIR: tmp, CHILD_DESCENDANTS: "group,setsid" }
    })
    await a.transition("Leader")
    const pids = await starts(["child", "group", "setsid"])
    try {
      // The command's parent is child-init, run from the executable's own descriptor.
      const init = parentOf(pids[0]!)!
      expect(readFileSync(`/proc/${init}/comm`, "utf8")).toBe("child-init\n")
      expect(parentOf(init)).toBe(a.proc.pid)
      expect(readdirSync(tmp)).toEqual([])
      a.proc.kill("SIGKILL")
      await a.exited
      await eventually(() => (pids.some(running) ? undefined : true), "the child's processes to die", 2_000).catch(
        () => undefined
      )
      expect(pids.filter(running)).toEqual([])
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      for (const pid of pids) if (running(pid)) process.kill(pid, "SIGKILL")
    }
  })

  const canMount = spawnSync("unshare", ["--mount", "true"]).status === 0
  it.skipIf(!canMount)("where its temp dir is noexec it warns once, and runs the command itself", async () => {
    const noexec = mkdtempSync(join(tmpdir(), "joi-bin-noexec-"))
    const parent = join(sb.dir, "parent")
    // A mount namespace of its own for the noexec tmpfs; `exec` keeps the executable out of PID 1.
    const proc = spawn("/usr/bin/unshare", [
      "--mount",
      "/bin/sh",
      "-c",
      `/bin/mount -t tmpfs -o noexec none ${noexec} && exec "$0" --no-election -- /bin/sh -c "$1"`,
      binaryPath,
      `cat /proc/$PPID/comm > ${parent}; exit 6`
    ], { stdio: ["ignore", "ignore", "pipe"], env: { ...noNode, TMPDIR: noexec, LISTEN_ADDR: "127.0.0.1:0" } })
    let stderr = ""
    proc.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
    expect(await exited(proc)).toBe(6)
    expect(stderr.split("\n").filter((l) => l.includes("child-init"))).toHaveLength(1)
    expect(readFileSync(parent, "utf8")).not.toBe("child-init\n")
  })

  it("where child-init cannot be written it warns once, and runs the command itself with its code passed through", async () => {
    const r = sb.replica("a", {
      wrapper: [binaryPath],
      env: { ...noNode, TMPDIR: join(sb.dir, "no-such-dir") },
      command: ["/bin/sh", "-c", "exit 4"]
    })
    expect(await r.exited).toEqual({ code: 4, signal: null })
    const warnings = r.lines.filter((l) => l.message.includes("child-init"))
    expect(warnings.map((l) => l.level)).toEqual(["WARN"])
  })
})

const canUnshare = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]).status === 0
const children = (pid: number) =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number)
  )
const zombiesUnder = (pid: number) =>
  children(pid).filter((c) => {
    try {
      return /State:\s+Z/.test(readFileSync(`/proc/${c}/status`, "utf8"))
    } catch {
      return false
    }
  })

describe.skipIf(!canUnshare)("the single executable as PID 1 of a new PID namespace", () => {
  /** `unshare … sh -c <setup> && exec just-one-init -- /bin/sh -c <script>`: the executable is PID 1. */
  const pid1 = (setup: string, script: string, env: Record<string, string>) => {
    const kubeconfig = join(sb.dir, "pid1.kubeconfig")
    sb.emu.writeKubeconfig(kubeconfig, "pid1", "default")
    const proc = spawn("/usr/bin/unshare", [
      "--pid",
      "--fork",
      "--mount-proc",
      "/bin/sh",
      "-c",
      `${setup} && exec "$0" -- /bin/sh -c "$1"`,
      binaryPath,
      script
    ], {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...noNode,
        KUBECONFIG: kubeconfig,
        LEASE_NAME: sb.leaseName,
        POD_NAME: "pid1",
        LISTEN_ADDR: "127.0.0.1:0",
        ...env
      }
    })
    let stderr = ""
    proc.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s))
    return { proc, stderr: () => stderr }
  }

  it("reaps the orphans of a double-forking child with the addon it carries, and leaves its temp dir empty", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "joi-bin-tmp-"))
    const { proc, stderr } = pid1(
      "true",
      "sh -c 'sleep 0.2 & exit 0'; sh -c 'sleep 0.3 & exit 0'; sleep 3; exit 5",
      { TMPDIR: tmp }
    )
    const wrapper = await eventually(() => children(proc.pid!)[0], "the executable as PID 1")
    // The orphans exit at 0.2 s and 0.3 s; a second later none may be left as a zombie.
    const seen: Array<number> = []
    await eventually(
      () => {
        seen.push(zombiesUnder(wrapper).length)
        return children(wrapper).length > 0 && seen.length > 60 ? true : undefined
      },
      "the child to run for a while",
      10_000
    )
    expect(zombiesUnder(wrapper)).toEqual([])
    expect(await exited(proc)).toBe(5)
    expect(stderr()).not.toContain("without the reaper addon")
    expect(readdirSync(tmp)).toEqual([])
  })

  it("with a read-only temp dir it warns once, runs the child and exits with its code", async () => {
    const readOnly = mkdtempSync(join(tmpdir(), "joi-bin-ro-"))
    const { proc, stderr } = pid1(`/bin/mount -t tmpfs -o ro none ${readOnly}`, "exit 3", { TMPDIR: readOnly })
    expect(await exited(proc)).toBe(3)
    const warnings = stderr().split("\n").filter((l) => l.includes("without the reaper addon"))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: "WARN" })
  })
})
if (!canUnshare) console.warn("unshare --pid is not permitted here: the PID-1 tests of the executable are skipped")

describe("the Dockerfile's stages, outside Docker", () => {
  it("the build stage's commands build the executable from just the files it copies", async () => {
    const [build] = stages()
    const workdir = args(build!, "WORKDIR").at(-1)!
    const dir = mkdtempSync(join(tmpdir(), "joi-docker-build-"))
    for (const copy of args(build!, "COPY")) {
      const [sources, dest] = ((parts) => [parts.slice(0, -1), parts.at(-1)!])(copy.split(/\s+/))
      const intoDir = dest.endsWith("/") || sources.length > 1
      for (const src of sources) {
        const target = join(dir, dest, intoDir ? src.split("/").at(-1)! : "")
        mkdirSync(dirname(target), { recursive: true })
        cpSync(join(root, src), target, { recursive: true })
      }
    }
    // Package installation is not rerun here: apt-get needs Debian's mirrors, and `npm ci` the
    // registry. What they leave behind (node_modules, and the addon the install script builds)
    // comes from this checkout's own `npm ci`.
    const runs = args(build!, "RUN")
    const installs = runs.filter((r) => /apt-get install|npm ci/.test(r))
    expect(installs).toHaveLength(2)
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"))
    mkdirSync(join(dir, "build"))
    symlinkSync(join(root, "build/Release"), join(dir, "build/Release"))
    for (const command of runs.filter((r) => !installs.includes(r))) {
      const result = spawnSync("/bin/sh", ["-c", command], { cwd: dir, encoding: "utf8", env: process.env })
      expect(result.status, `${command}\n${result.stdout}${result.stderr}`).toBe(0)
    }
    // What the runtime stage copies, run by the path the original tool used (a symlink in the image).
    const [from, to] = args(runtime(), "COPY")[0]!.split(/\s+/).slice(1)
    const artifact = join(dir, from!.replace(new RegExp(`^${workdir}/`), ""))
    const link = join(dir, "just-one-init")
    symlinkSync(artifact, link)
    expect(to).toBe("/usr/local/bin/just-one-init")
    expect(await run(link, ["--version"], {})).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" })
  }, 120_000)

  it("the image's demo child serves HTTP under the executable, and stops with SIGTERM", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const cmd = JSON.parse(args(runtime(), "CMD").at(-1)!) as Array<string>
    const onPort = cmd.map((a) => a.replace("LocalPort => 8080", `LocalPort => ${port}`))
    expect(onPort).not.toEqual(cmd)
    const r = sb.replica("demo", { wrapper: [binaryPath], env: { PATH: "/usr/bin:/bin" }, command: onPort })
    await r.transition("Leader")
    // The child listens a moment after it starts; nothing announces that, so ask until it answers.
    const answer = async (deadline: number): Promise<string> => {
      const body = await fetch(`http://127.0.0.1:${port}/`).then((res) => res.text(), () => undefined)
      if (body !== undefined) return body
      if (Date.now() > deadline) throw new Error("the demo child did not answer within 10 s")
      await new Promise((r) => setTimeout(r, 20))
      return answer(deadline)
    }
    const body = await answer(Date.now() + 10_000)
    expect(body).toBe("leader demo\n")
    r.signal("SIGTERM")
    expect(await r.exited).toEqual({ code: 143, signal: null })
  })
})
