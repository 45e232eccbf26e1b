/**
 * `just-one-init timeline`: the JSON log lines of several replicas merged into
 * one timeline of transitions, child starts and stops (and passed gates), with
 * the handover gaps between one replica's child stopping and the next one's
 * starting. Pure: lines in, text out. Lines may carry kubectl's prefixes
 * (`--prefix`: `[pod/NAME/CONTAINER] `, `--timestamps`: an RFC 3339 time);
 * anything that is not one of our lines is skipped.
 */
import { Option, Schema } from "effect"

const LogLine = Schema.Struct({
  message: Schema.String,
  timestamp: Schema.optional(Schema.String),
  annotations: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})
const decodeLogLine = Schema.decodeUnknownOption(Schema.fromJsonString(LogLine))

export type What =
  | { readonly _tag: "Transition"; readonly from: string; readonly to: string; readonly reason: string }
  | { readonly _tag: "ChildStarted"; readonly pid: number | undefined }
  | {
    readonly _tag: "ChildEnded"
    readonly pid: number | undefined
    readonly exitCode: number | undefined
    readonly signal: string | undefined
    readonly stopMs: number | undefined
  }
  | { readonly _tag: "GatePassed"; readonly gate: string }

export interface Entry {
  /** Epoch milliseconds. */
  readonly t: number
  readonly replica: string
  readonly what: What
  /** Input order, to keep the order of lines with the same time. */
  readonly seq: number
}

const kubectlPrefix = /^\[([^\]/]+)\/([^\]/]+)(?:\/[^\]]*)?\]\s+/
const rfc3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s+/

const str = (v: unknown) => (typeof v === "string" ? v : undefined)
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined)
/** An RFC 3339 time to epoch ms; digits beyond milliseconds are dropped, as Date cannot hold them. */
const epochMs = (text: string | undefined) => {
  if (text === undefined) return undefined
  const t = Date.parse(text.replace(/(\.\d{3})\d+/, "$1"))
  return Number.isNaN(t) ? undefined : t
}

const whatOf = (message: string, a: Readonly<Record<string, unknown>>): What | undefined => {
  switch (message) {
    case "transition": {
      const from = str(a["from"])
      const to = str(a["to"])
      return from === undefined || to === undefined
        ? undefined
        : { _tag: "Transition", from, to, reason: str(a["reason"]) ?? "" }
    }
    case "child started":
      return { _tag: "ChildStarted", pid: num(a["pid"]) }
    case "child ended":
      return {
        _tag: "ChildEnded",
        pid: num(a["pid"]),
        exitCode: num(a["exitCode"]),
        signal: str(a["signal"]),
        stopMs: num(a["stopMs"])
      }
    case "gate passed": {
      const gate = str(a["gate"])
      return gate === undefined ? undefined : { _tag: "GatePassed", gate }
    }
  }
}

/** One line of input, or undefined when it is not one of ours. `source` names the replica when nothing else does. */
export const parseLine = (line: string, source: string, seq: number): Entry | undefined => {
  let rest = line.trim()
  const prefix = kubectlPrefix.exec(rest)
  if (prefix !== null) rest = rest.slice(prefix[0].length)
  const stamp = rfc3339.exec(rest)
  if (stamp !== null) rest = rest.slice(stamp[0].length)
  if (!rest.startsWith("{")) return undefined
  const decoded = Option.getOrUndefined(decodeLogLine(rest))
  if (decoded === undefined) return undefined
  const annotations = decoded.annotations ?? {}
  const what = whatOf(decoded.message, annotations)
  const t = epochMs(decoded.timestamp) ?? epochMs(stamp?.[1])
  if (what === undefined || t === undefined) return undefined
  const replica = str(annotations["identity"]) ?? (prefix === null ? undefined : prefix[2]) ?? source
  return { t, replica, what, seq }
}

export interface Handover {
  readonly from: string
  readonly to: string
  /** When the old child's end was logged; undefined when it never was (a crash, or a log cut short). */
  readonly stoppedAt: number | undefined
  /** The old replica's last line, when its child's end was not logged. */
  readonly lastSeenAt: number | undefined
  readonly startedAt: number
  /** The new child started while the old one had not ended, by the logs. */
  readonly overlap: boolean
}

export interface Timeline {
  readonly entries: ReadonlyArray<Entry>
  readonly handovers: ReadonlyArray<Handover>
}

export const buildTimeline = (input: ReadonlyArray<Entry>): Timeline => {
  const entries = [...input].sort((a, b) => a.t - b.t || a.seq - b.seq)
  const lastLine = new Map<string, number>()
  for (const e of entries) lastLine.set(e.replica, e.t)
  const running = new Map<string, number>()
  let ended: { readonly replica: string; readonly t: number } | undefined
  const handovers: Array<Handover> = []
  for (const e of entries) {
    if (e.what._tag === "ChildEnded") {
      running.delete(e.replica)
      ended = { replica: e.replica, t: e.t }
    } else if (e.what._tag === "ChildStarted") {
      const others = [...running.keys()].filter((r) => r !== e.replica)
      // A replica whose log ends before this start went silent (killed): its child's end is unknown.
      const silent = others.filter((r) => lastLine.get(r)! < e.t)
      const alive = others.filter((r) => lastLine.get(r)! >= e.t)
      for (const r of silent) {
        handovers.push({
          from: r,
          to: e.replica,
          stoppedAt: undefined,
          lastSeenAt: lastLine.get(r),
          startedAt: e.t,
          overlap: false
        })
        running.delete(r)
      }
      for (const r of alive) {
        handovers.push({
          from: r,
          to: e.replica,
          stoppedAt: undefined,
          lastSeenAt: undefined,
          startedAt: e.t,
          overlap: true
        })
      }
      if (silent.length === 0 && alive.length === 0 && ended !== undefined) {
        handovers.push({
          from: ended.replica,
          to: e.replica,
          stoppedAt: ended.t,
          lastSeenAt: undefined,
          startedAt: e.t,
          overlap: false
        })
      }
      ended = undefined
      running.set(e.replica, e.t)
    }
  }
  return { entries, handovers }
}

const describe = (w: What): string => {
  switch (w._tag) {
    case "Transition":
      return `${w.from} → ${w.to}${w.reason === "" ? "" : ` (${w.reason})`}`
    case "ChildStarted":
      return `child started${w.pid === undefined ? "" : ` (pid ${w.pid})`}`
    case "ChildEnded": {
      const parts = [
        w.pid === undefined ? undefined : `pid ${w.pid}`,
        w.exitCode === undefined ? undefined : `exit ${w.exitCode}`,
        w.signal === undefined ? undefined : `signal ${w.signal}`,
        w.stopMs === undefined ? undefined : `stop took ${w.stopMs} ms`
      ].filter((p) => p !== undefined)
      return `child ended${parts.length === 0 ? "" : ` (${parts.join(", ")})`}`
    }
    case "GatePassed":
      return `gate passed: ${w.gate}`
  }
}

const describeHandover = (h: Handover, offset: (t: number) => string): string => {
  if (h.overlap) {
    return `${h.from} → ${h.to}: OVERLAP: ${h.to}'s child started at ${
      offset(h.startedAt)
    } while ${h.from}'s had not ended (by the logs; clocks of different nodes may differ)`
  }
  if (h.stoppedAt === undefined) {
    return `${h.from} → ${h.to}: ${h.from}'s child's end was not logged (its last line at ${
      offset(h.lastSeenAt ?? h.startedAt)
    }); ${h.to}'s child started ${h.startedAt - (h.lastSeenAt ?? h.startedAt)} ms after that line`
  }
  return `${h.from} → ${h.to}: ${h.startedAt - h.stoppedAt} ms from the old child's end (${
    offset(h.stoppedAt)
  }) to the new child's start (${offset(h.startedAt)})`
}

/** The timeline as text: one line per entry, times relative to the first, then the handovers. */
export const formatTimeline = (tl: Timeline): string => {
  if (tl.entries.length === 0) return "no just-one-init transitions or child starts in the input\n"
  const t0 = tl.entries[0]!.t
  const offset = (t: number) => `+${((t - t0) / 1000).toFixed(3)}s`
  const width = Math.min(24, Math.max(...tl.entries.map((e) => e.replica.length)))
  const replicas = new Set(tl.entries.map((e) => e.replica))
  const lines = [
    `timeline of ${replicas.size} replica${replicas.size === 1 ? "" : "s"} from ${new Date(t0).toISOString()}`,
    ...tl.entries.map((e) => `${offset(e.t).padStart(10)}  ${e.replica.padEnd(width)}  ${describe(e.what)}`),
    "",
    tl.handovers.length === 0 ? "handovers: none" : "handovers:",
    ...tl.handovers.map((h) => `  ${describeHandover(h, offset)}`)
  ]
  return `${lines.join("\n")}\n`
}
