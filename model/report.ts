/**
 * A counterexample replayed: the shortest path the search found, run again
 * with every step recorded, then shown as `just-one-init timeline` shows
 * replicas' logs (the same parser and formatter, fed the log lines the
 * wrapper would have written), followed by every step of the model.
 */
import { buildTimeline, formatTimeline, parseLine } from "../src/domain/Timeline.ts"
import type { Model } from "./model.ts"
import type { Found, Result } from "./search.ts"
import type { Record } from "./world.ts"
import { names, tagOf } from "./world.ts"

export interface Replayed {
  /** True time the counterexample takes, in steps. */
  readonly ticks: number
  /** The violation's detail with the replicas' names as the trace gives them. */
  readonly detail: string
  /** The log lines the replicas would have written (JSON, one per line). */
  readonly logLines: ReadonlyArray<string>
  readonly timeline: string
  readonly steps: ReadonlyArray<string>
}

const epoch = Date.UTC(2026, 0, 1)

export const replay = (model: Model, result: Result, found: Found): Replayed => {
  const { codec } = result
  // The search's states are canonical (versions renumbered, replicas reordered); the trace follows a
  // concrete run instead, one that passes through the same states, so that names and versions hold still.
  let canonical = codec.decode(result.initialKeys[found.initial]!)
  let world = canonical
  let tick = 0
  let nextPid = 100
  const pids = new Map<string, number>()
  const logLines: Array<string> = []
  const steps: Array<string> = []
  const line = (who: string, message: string, annotations: { readonly [k: string]: unknown }) =>
    logLines.push(JSON.stringify({
      message,
      timestamp: new Date(epoch + tick * model.unit).toISOString(),
      annotations: { identity: who, ...annotations }
    }))
  const record = (r: Record) => {
    const who = r.i === undefined ? undefined : names[r.i]!
    switch (r._tag) {
      case "step":
        steps.push(
          `t=${tick}  ${who}: ${r.event}: ${r.from}${r.to === r.from ? "" : ` → ${r.to}`} (${r.reason})${
            r.commands === "" ? "" : ` ⇒ ${r.commands}`
          }`
        )
        if (r.from !== r.to) line(who!, "transition", { from: r.from, to: r.to, reason: r.reason })
        break
      case "childStarted": {
        const pid = nextPid++
        pids.set(who!, pid)
        steps.push(`t=${tick}  ${who}: child started (pid ${pid})`)
        line(who!, "child started", { pid })
        break
      }
      case "childEnded": {
        const pid = pids.get(who!)
        steps.push(
          `t=${tick}  ${who}: child ended (exit ${r.exitCode}${r.signal === undefined ? "" : `, ${r.signal}`})`
        )
        line(who!, "child ended", {
          pid,
          exitCode: r.exitCode,
          ...(r.signal === undefined ? {} : { signal: r.signal })
        })
        break
      }
      case "env":
        steps.push(`t=${tick}  ${who === undefined ? "" : `${who}: `}${r.text}`)
        break
    }
  }
  let detail = found.violation.detail
  for (const m of found.moves) {
    const t = model.enabled(canonical)[m]
    if (t === undefined) throw new Error(`replay: move ${m} is not enabled`)
    const out = model.apply(canonical, t)
    const target = out.violation === undefined ? codec.encode(out.world).key : out.violation.invariant
    const same = model.enabled(world).find((c) => {
      const o = model.apply(world, c)
      return (o.violation === undefined ? codec.encode(o.world).key : o.violation.invariant) === target
    })
    if (same === undefined) throw new Error(`replay: no move of the concrete run matches move ${m}`)
    if (same._tag === "tick") tick++
    const done = model.apply(world, same, record)
    if (done.violation !== undefined) {
      detail = done.violation.detail
      // The run stops here; say which children are alive now, or the timeline would take their
      // replicas' silence for a crash.
      done.world.replicas.forEach((r, i) => {
        if (!r.up || r.child === undefined || r.childFrozen) return
        const tag = tagOf(r)
        line(names[i]!, "transition", { from: tag, to: tag, reason: "the check stops here, its child running" })
      })
      break
    }
    world = done.world
    canonical = codec.decode(target)
  }
  const entries = logLines.flatMap((l, seq) => {
    const e = parseLine(l, "model", seq)
    return e === undefined ? [] : [e]
  })
  return { ticks: tick, detail, logLines, timeline: formatTimeline(buildTimeline(entries)), steps }
}

/** The report of a violation: which invariant, why, the timeline, then the steps. */
export const formatFound = (model: Model, result: Result, found: Found): string => {
  const r = replay(model, result, found)
  return [
    `INVARIANT BROKEN: ${found.violation.invariant}: ${r.detail}`,
    `shortest counterexample: ${found.moves.length} moves, ${r.ticks} steps of ${model.unit} ms`,
    "",
    r.timeline.trimEnd(),
    "",
    "every step of the model (t in steps of true time):",
    ...r.steps.map((s) => `  ${s}`),
    ""
  ].join("\n")
}
