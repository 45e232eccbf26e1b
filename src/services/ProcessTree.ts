/**
 * The process table as the stop sees it: a process's state and parent, its
 * children and descendants (from /proc), and signals to a pid or a group. A
 * service so that a test can stand in a process that never dies.
 *
 * It fails closed: only a process's own entry being absent means "gone". A
 * table that cannot be read (EMFILE, /proc hidden or not mounted, EACCES) is
 * an error, never "no children", so the stop keeps the lease until every
 * process is accounted for.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"

export interface Stat {
  /** R, S, D, Z, T ... as the kernel reports it. */
  readonly state: string
  readonly ppid: number
  readonly pgid: number
  /** Start time in clock ticks since boot: tells a reused pid apart. */
  readonly start: string
}

/** /proc could not be read: what is left of the child is unknown. */
export class ProcessTableUnreadable extends Schema.TaggedError<ProcessTableUnreadable>()("ProcessTableUnreadable", {
  message: Schema.String
}) {}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e)

/** ENOENT (and ESRCH, which a vanishing /proc/<pid> can give) on a pid's own entry: that process is gone. */
const isGone = (e: unknown) => {
  const code = codeOf(e)
  return code === "ENOENT" || code === "ESRCH"
}

/** /proc itself is there: our own entry reads. Without it, every "absent" would be a lie. */
const checkProc = () => {
  try {
    readFileSync("/proc/self/stat", "utf8")
  } catch (e) {
    throw new ProcessTableUnreadable({ message: `/proc/self/stat: ${codeOf(e)}` })
  }
}

const unreadable = (what: string, e: unknown) =>
  e instanceof ProcessTableUnreadable ? e : new ProcessTableUnreadable({ message: `${what}: ${codeOf(e)}` })

/**
 * State, parent, group and start time from /proc/<pid>/stat; undefined when the pid does not exist.
 * Throws ProcessTableUnreadable when it cannot tell.
 */
export const statOf = (pid: number): Stat | undefined => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch (e) {
    if (!isGone(e)) throw unreadable(`/proc/${pid}/stat`, e)
    checkProc()
    return undefined
  }
  // The command name in parentheses may contain spaces; fields 3 onwards follow the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { state: fields[0] ?? "", ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] ?? "" }
}

/**
 * A process's children: the kernel's list per thread, or a scan of /proc where the kernel lacks that file.
 * Throws ProcessTableUnreadable when it cannot tell.
 */
export const childrenOf = (pid: number): Array<number> => {
  let tasks: Array<string>
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch (e) {
    if (!isGone(e)) throw unreadable(`/proc/${pid}/task`, e)
    checkProc()
    return []
  }
  try {
    return tasks.flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter((s) => s !== "").map(Number)
    )
  } catch (e) {
    // A thread that ended meanwhile, or a kernel without the file (CONFIG_PROC_CHILDREN): scan instead.
    if (!isGone(e)) throw unreadable(`/proc/${pid}/task/*/children`, e)
  }
  try {
    return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => statOf(p)?.ppid === pid)
  } catch (e) {
    throw unreadable("/proc", e)
  }
}

/** Every process below `pid`, children first. Throws ProcessTableUnreadable when it cannot tell. */
export const descendantsOf = (pid: number): Array<number> => childrenOf(pid).flatMap((c) => [c, ...descendantsOf(c)])

const send = (target: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(target, signal)
    return true
  } catch (e) {
    // ESRCH: already gone; EPERM: it exists but is not ours to signal.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const read = <A>(f: () => A) => Effect.try({ try: f, catch: (e) => unreadable("/proc", e) })

export class ProcessTree extends Context.Service<ProcessTree, {
  /** Every descendant of this process. */
  readonly descendants: Effect.Effect<ReadonlyArray<number>, ProcessTableUnreadable>
  readonly stat: (pid: number) => Effect.Effect<Stat | undefined, ProcessTableUnreadable>
  /** Whether any process of the group exists (zombies included): kill(-pgid, 0), which needs no /proc. */
  readonly groupExists: (pgid: number) => Effect.Effect<boolean>
  readonly signal: (pid: number, signal: NodeJS.Signals) => Effect.Effect<void>
  readonly signalGroup: (pgid: number, signal: NodeJS.Signals) => Effect.Effect<void>
}>()("just-one-init/ProcessTree") {
  static readonly layer = Layer.succeed(
    ProcessTree,
    ProcessTree.of({
      descendants: read(() => descendantsOf(process.pid)),
      stat: (pid) => read(() => statOf(pid)),
      groupExists: (pgid) => Effect.sync(() => send(-pgid, 0)),
      signal: (pid, signal) => Effect.sync(() => void send(pid, signal)),
      signalGroup: (pgid, signal) => Effect.sync(() => void send(-pgid, signal))
    })
  )
}
