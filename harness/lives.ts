/**
 * The children's own records (harness/recording-child.*) and what they say:
 * each process's life, and lives that overlap. "Never two children at once"
 * is checked from these, by the tests, the demo, the benchmark and the soak.
 */
import { existsSync, readFileSync } from "node:fs"

export interface ChildRecordLine {
  readonly event: "start" | "beat" | "stop" | "term" | "signal" | "ignored-term"
  /** The replica whose child wrote it. */
  readonly id: string
  readonly pid: number
  /** The leadership episode: the pid of the child that began it (its descendants carry the same). */
  readonly episode?: number
  readonly role?: string
  readonly t: number
  readonly code?: number
  readonly signal?: string
  readonly reason?: string
  /** The child's JUST_ONE_INIT_FENCING_TOKEN, on its start line. */
  readonly token?: string
}

export const readRecords = (path: string): Array<ChildRecordLine> =>
  existsSync(path)
    ? readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as ChildRecordLine)
    : []

/** Call `onRecord` for every record as it is appended (every 10 ms); returns a function that stops following. */
export const followRecords = (path: string, onRecord: (r: ChildRecordLine) => void): () => void => {
  let seen = 0
  const timer = setInterval(() => {
    const records = readRecords(path)
    for (const r of records.slice(seen)) onRecord(r)
    seen = records.length
  }, 10)
  return () => clearInterval(timer)
}

/**
 * A beat is written every 50 ms: a process without a stop line counts as alive until the beat it missed.
 * That is the checker's resolution; a release-based handover takes about 30 ms, so a longer guess would
 * report every such handover as an overlap.
 */
const beatSlackMs = 50

export interface Life {
  readonly id: string
  readonly pid: number
  readonly episode: number
  /** "child", or what kind of descendant it is. */
  readonly role: string
  readonly start: number
  /** The stop record; else its last heartbeat plus a beat, or its kill if sooner; undefined while running. */
  readonly end: number | undefined
  /** Spans in which it was frozen, its replica's whole pod with it: it ran before and after, not during. */
  readonly frozen: ReadonlyArray<{ readonly from: number; readonly to: number }>
}

/** A process frozen from `from` to `to` (SIGSTOP, a paused pod); `diedAt`: when it was seen dead after the thaw. */
export interface Freeze {
  /** The replica, and the pid as the process recorded it. */
  readonly id: string
  readonly pid: number
  readonly from: number
  readonly to: number
  readonly diedAt?: number | undefined
}

export interface LifeOptions {
  /** Pids still running: their lives have no end yet. */
  readonly running?: ReadonlySet<number>
  /** Times at which a replica's whole tree was SIGKILLed: a life without a stop line ends at the first one after it began. */
  readonly kills?: ReadonlyArray<{ readonly id: string; readonly t: number }>
  /** Processes frozen and thawed: not running while frozen; a death seen after the thaw ends the life there. */
  readonly freezes?: ReadonlyArray<Freeze>
}

/**
 * Each process's life from its records. PID namespaces reuse pids, so a life is keyed by
 * replica and pid and begins at its start line.
 */
export const lives = (records: ReadonlyArray<ChildRecordLine>, options: LifeOptions = {}): Array<Life> => {
  type Open = {
    id: string
    pid: number
    episode: number
    role: string
    start: number
    last: number
    beats: boolean
    stop?: number
    /** When each of its records was written, in order: whether it was alive when a freeze began. */
    times: Array<number>
  }
  const open = new Map<string, Open>()
  const all: Array<Open> = []
  for (const r of records) {
    const key = `${r.id}:${r.pid}`
    if (r.event === "start") {
      const life: Open = {
        id: r.id,
        pid: r.pid,
        episode: r.episode ?? r.pid,
        role: r.role ?? "child",
        start: r.t,
        last: r.t,
        beats: false,
        times: [r.t]
      }
      open.set(key, life)
      all.push(life)
      continue
    }
    const life = open.get(key)
    if (life === undefined) continue
    life.last = Math.max(life.last, r.t)
    life.times.push(r.t)
    if (r.event === "beat") life.beats = true
    if (r.event === "stop") life.stop = r.t
  }
  return all.map((l) => {
    // Without a stop line a process that beats died after its last beat and before the next one, or at its
    // replica's kill if that came sooner. One that does not beat (the shell child) died at its kill.
    const killed = options.kills?.find((k) => k.id === l.id && k.t >= l.start)?.t
    const running = l.stop === undefined && options.running?.has(l.pid) === true
    const frozen = (options.freezes ?? []).filter((f) =>
      f.id === l.id && f.pid === l.pid && f.from >= l.start && (l.stop === undefined || f.from < l.stop)
      && (killed === undefined || f.from < killed) && aliveAt(l, f.from)
    )
    // A frozen process writes nothing, so its last beat says little: a death seen after the thaw says more.
    const died = frozen.findLast((f) => f.diedAt !== undefined)?.diedAt
    const unseen = died ?? (l.beats
      ? Math.min(killed ?? Number.POSITIVE_INFINITY, l.last + beatSlackMs)
      : killed ?? l.last + beatSlackMs)
    const end = running ? undefined : l.stop ?? unseen
    return {
      id: l.id,
      pid: l.pid,
      episode: l.episode,
      role: l.role,
      start: l.start,
      end,
      frozen: frozen.map(({ from, to }) => ({ from, to }))
    }
  }).sort((a, b) => a.start - b.start)
}

/**
 * A process that beats was alive when a freeze began only if it wrote something just before: a pid in a
 * later PID namespace of the same replica may be the old one's number, and its freeze is not the old one's.
 */
const aliveAt = (l: { readonly beats: boolean; readonly times: ReadonlyArray<number> }, t: number) =>
  !l.beats || l.times.some((x) => x <= t && t - x <= aliveSlackMs)

/** How long a beating process may go without a record and still count as alive (beats are 50 ms apart). */
const aliveSlackMs = 1_000

/** The spans a life ran in: from its start to its end, less its frozen spans; `thawed` marks a span that began at a thaw. */
const runs = (l: Life) => {
  const out: Array<{ from: number; to: number; thawed: boolean }> = []
  let from = l.start
  let thawed = false
  for (const f of [...l.frozen].sort((a, b) => a.from - b.from)) {
    if (f.from > from) out.push({ from, to: f.from, thawed })
    from = Math.max(from, f.to)
    thawed = true
  }
  const end = l.end ?? Number.POSITIVE_INFINITY
  if (end > from) out.push({ from, to: end, thawed })
  return out
}

/**
 * Time two lives of different episodes both ran while one of them had just been thawed: what no lease can
 * remove (a paused process acts for a moment after it resumes, until its wrapper kills it). Longest first.
 */
export const thawOverlaps = (ls: ReadonlyArray<Life>): Array<{ ms: number; what: string }> => {
  const found: Array<{ ms: number; what: string }> = []
  for (const [a, b] of pairs(ls)) {
    for (const x of runs(a)) {
      for (const y of runs(b)) {
        const ms = Math.min(x.to, y.to) - Math.max(x.from, y.from)
        if (ms > 0 && (x.thawed || y.thawed)) {
          found.push({ ms, what: `${a.id}/${a.pid} (${a.role}) beside ${b.id}/${b.pid} (${b.role})` })
        }
      }
    }
  }
  return found.sort((p, q) => q.ms - p.ms)
}

/**
 * How long each process of a child ran on after its pod's last thaw, until its death: the time no lease can
 * remove. Only processes that recorded their lives count (a pod's child-init, spawned ahead or not, is no child).
 */
export const runsAfterThaw = (ls: ReadonlyArray<Life>, until: number): Array<{ ms: number; life: Life }> =>
  ls.filter((l) => l.frozen.length > 0).map((l) => ({
    ms: Math.max(0, (l.end ?? until) - Math.max(...l.frozen.map((f) => f.to))),
    life: l
  })).sort((a, b) => b.ms - a.ms)

/** Pairs of lives of different episodes (a child and its own descendants may overlap). */
const pairs = function*(ls: ReadonlyArray<Life>) {
  for (let i = 0; i < ls.length; i++) {
    for (let j = i + 1; j < ls.length; j++) {
      const a = ls[i]!
      const b = ls[j]!
      if (a.id !== b.id || a.episode !== b.episode) yield [a, b] as const
    }
  }
}

/**
 * Pairs of lives of different episodes that ran at the same time, described. Frozen spans do not count (a
 * frozen process does not run); the moments right after a thaw are `thawOverlaps`' to report, not these.
 */
export const overlaps = (ls: ReadonlyArray<Life>, origin = 0): Array<string> => {
  const found: Array<string> = []
  for (const [a, b] of pairs(ls)) {
    const both = runs(a).some((x) =>
      !x.thawed && runs(b).some((y) => !y.thawed && Math.max(x.from, y.from) < Math.min(x.to, y.to))
    )
    if (both) {
      const end = a.end === undefined ? "running" : `${a.end - origin}`
      found.push(
        `${a.id}/${a.pid} (${a.role}) [${a.start - origin}, ${end}) overlaps ${b.id}/${b.pid} (${b.role}) from ${
          b.start - origin
        }`
      )
    }
  }
  return found
}
