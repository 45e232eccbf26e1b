/**
 * The command's start, through child-init (native/child-init.c) where there is one: a tiny
 * per-child init that the wrapper spawns in the command's place, which dies with the wrapper and
 * SIGKILLs everything the command started when it does (outside PID 1 the kernel would leave them
 * running). It leads the command's process group, ignores the signals sent to that group, and ends
 * as the command ends (its code, or its signal), so the stop, forwarding and exit codes are as without
 * it. It reports on fd 3 the command's pid once exec'd, or the errno when it could not be started.
 *
 * Where child-init is: beside the bundle (dist/child-init), or where node-gyp built it; in the
 * single executable an embedded asset, written to a private temp dir, opened, and the dir removed
 * at once: it runs as /proc/<pid>/fd/<n> for as long as the wrapper holds that descriptor, so
 * nothing is left behind even by a SIGKILLed wrapper, and no cleaner of /tmp can take it away.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { accessSync, closeSync, constants, openSync, statSync } from "node:fs"
import type { Readable } from "node:stream"
import { fileURLToPath } from "node:url"
import { getSystemErrorName } from "node:util"
import { withAsset } from "./Assets.ts"

const candidates = ["./child-init", "../build/Release/child-init", "../../build/Release/child-init"]

/** A regular file this process may execute (access(2) X_OK also fails on a noexec mount). */
const runnable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

const fromExecutable = (): string | undefined =>
  withAsset("child-init", (path) => {
    // Kept open (read-only, close-on-exec) for the wrapper's whole life: its one reference.
    const fd = openSync(path, "r")
    const viaFd = `/proc/${process.pid}/fd/${fd}`
    if (runnable(viaFd)) return viaFd
    closeSync(fd)
    return undefined
  })

/** The path to run child-init by, or undefined where it cannot be had (not built, a noexec temp dir). */
export const locateChildInit = (base: string | undefined = import.meta.url): string | undefined => {
  if (process.getBuiltinModule("node:sea").isSea()) return fromExecutable()
  if (base === undefined) return undefined
  return candidates.map((c) => fileURLToPath(new URL(c, base))).find(runnable)
}

export interface Launched {
  /** The process Node spawned and waits for, leader of the command's process group: child-init, or the command. */
  readonly leader: number
  /** The command's own pid. */
  readonly pid: number
}

export interface NotLaunched {
  readonly error: string
  readonly leader?: number
}

export interface LaunchOptions {
  readonly init: string | undefined
  readonly env: NodeJS.ProcessEnv
  /** Called in the tick of the spawn with the leader's pid, before anything else can see it. */
  readonly onSpawn: (leader: number) => void
  /** How the command ended (child-init ends the same way), once it was started. */
  readonly onExit: (code: number | null, signal: NodeJS.Signals | null) => void
  /**
   * The outcome: started, or the errno code (ENOENT …) why not. A failed start has no process left:
   * child-init, when it was spawned (`leader`), has been waited for.
   */
  readonly onStart: (outcome: Launched | NotLaunched) => void
}

const errorOf = (e: unknown): NotLaunched => {
  const err = e as NodeJS.ErrnoException
  return { error: err.code ?? err.message }
}

/** Spawn `command` in its own process group (so a stop reaches its grandchildren), under child-init if there is one. */
export const launch = (command: ReadonlyArray<string>, o: LaunchOptions): void => {
  const [file, ...args] = command as [string, ...Array<string>]
  let proc: ChildProcess
  try {
    proc = o.init === undefined
      ? spawn(file, args, { stdio: "inherit", detached: true, env: o.env })
      : spawn(o.init, [String(process.pid), file, ...args], {
        argv0: "child-init",
        stdio: ["inherit", "inherit", "inherit", "pipe"],
        detached: true,
        env: o.env
      })
  } catch (e) {
    // Some failures are thrown at once (ENOTDIR, ENAMETOOLONG, E2BIG, EACCES on some paths)...
    return o.onStart(errorOf(e))
  }
  const leader = proc.pid
  // ...others come as 'error' with no process at all (ENOENT, EMFILE, EAGAIN).
  if (leader === undefined) return void proc.once("error", (e) => o.onStart(errorOf(e)))
  proc.on("error", () => {})
  o.onSpawn(leader)
  if (o.init === undefined) {
    proc.once("exit", o.onExit)
    return o.onStart({ leader, pid: leader })
  }
  follow(proc, leader, o)
}

/** child-init's report, and its exit: the command's once started, not the command's otherwise. */
const follow = (proc: ChildProcess, leader: number, o: Pick<LaunchOptions, "onExit" | "onStart">): void => {
  let outcome: Launched | NotLaunched | undefined
  let exit: [number | null, NodeJS.Signals | null] | undefined
  const settle = () => {
    if (outcome === undefined) return
    if ("pid" in outcome) {
      o.onStart(outcome)
      if (exit !== undefined) o.onExit(...exit)
    } else if (exit !== undefined) o.onStart(outcome)
  }
  proc.once("exit", (code, signal) => {
    exit = [code, signal]
    if (outcome === undefined) return
    if ("pid" in outcome) o.onExit(code, signal)
    else o.onStart(outcome)
  })
  let text = ""
  const report = proc.stdio[3] as Readable
  report.setEncoding("utf8")
  report.on("data", (chunk: string) => (text += chunk))
  report.on("error", () => {})
  report.once("close", () => {
    const [what, value] = text.trim().split(" ")
    const n = Number(value)
    outcome = !(Number.isInteger(n) && n > 0)
      ? { error: "child-init ended without starting the command", leader }
      : what === "pid"
      ? { leader, pid: n }
      : { error: getSystemErrorName(-n), leader }
    settle()
  })
}

/** A child-init spawned ahead, waiting on fd 3 for the go (`--await`). */
export interface Warm {
  readonly leader: number
  /** Start the command in it, with `env` added to the environment it was spawned with; false when it is gone. */
  go(env: Readonly<Record<string, string>>, o: Pick<LaunchOptions, "onExit" | "onStart">): boolean
  /** Send it away unused (it ends quietly). */
  dismiss(): void
}

/**
 * Spawn child-init for `command` ahead of need, so that starting it later costs a write, not a fork of the
 * wrapper (which takes milliseconds per hundred megabytes of it). undefined where the spawn fails.
 */
export const prepare = (
  command: ReadonlyArray<string>,
  o: Pick<LaunchOptions, "env" | "onSpawn"> & { readonly init: string }
): { readonly warm: Warm; readonly proc: ChildProcess } | undefined => {
  const [file, ...args] = command as [string, ...Array<string>]
  let proc: ChildProcess
  try {
    proc = spawn(o.init, [String(process.pid), "--await", file, ...args], {
      argv0: "child-init",
      stdio: ["inherit", "inherit", "inherit", "pipe"],
      detached: true,
      env: o.env
    })
  } catch {
    return undefined
  }
  const leader = proc.pid
  if (leader === undefined) return void proc.once("error", () => {})
  proc.on("error", () => {})
  o.onSpawn(leader)
  const channel = proc.stdio[3] as Readable & { write(s: string): boolean; end(): void }
  let gone = false
  proc.once("exit", () => (gone = true))
  // Neither it nor its channel keeps the wrapper alive while it waits.
  proc.unref()
  ;(channel as unknown as { unref?: () => void }).unref?.()
  const warm: Warm = {
    leader,
    go: (env, handlers) => {
      if (gone || proc.exitCode !== null || proc.signalCode !== null) return false
      ;(channel as unknown as { ref?: () => void }).ref?.()
      proc.ref()
      follow(proc, leader, handlers)
      channel.write(`${Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join("")}\0`)
      return true
    },
    dismiss: () => channel.end()
  }
  return { warm, proc }
}
