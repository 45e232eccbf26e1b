/**
 * The stop of everything a child started, under one deadline (see ChildSupervisor.ts for the sequence): SIGTERM
 * to its group, then to what left the group, SIGKILL to all that is left at `killAt`, or at once when that has
 * passed; then wait until all of it is reaped, saying so when it takes long, and reading the process table
 * again until every process is accounted for.
 */
import { Deferred, Effect, Ref, Schedule } from "effect"
import { monotonicMs } from "../domain/Time.ts"
import type { HelperProcesses } from "./HelperProcesses.ts"
import type { ProcessTree } from "./ProcessTree.ts"
import type { Reaper } from "./Reaper.ts"

/** After SIGKILL, waiting longer than this means a process stuck in the kernel: say so, and keep waiting. */
export const killWaitMs = 1_000

const poll = Schedule.spaced("20 millis")

/** Run `check` until it holds, for at most `ms`; whether it held. */
const within = (check: Effect.Effect<boolean>, ms: number) =>
  check.pipe(
    Effect.repeat({ schedule: poll, until: (done) => done }),
    Effect.timeoutOption(Math.max(0, ms)),
    Effect.map((o) => o._tag === "Some")
  )

/**
 * The stop under one deadline (see the module comment); completes once everything it started is reaped:
 * the whole group, and what left it [rule 9, docs/safety.md].
 */
export const stopAll =
  (tree: ProcessTree["Service"], reaper: Reaper["Service"], helpers: HelperProcesses["Service"]) =>
  <A>(pgid: number, exited: Deferred.Deferred<A>, killAt: number): Effect.Effect<void> =>
    Effect.gen(function*() {
      const t0 = yield* monotonicMs
      const left = Effect.map(monotonicMs, (now) => killAt - now)
      const saidUnknown = yield* Ref.make(false)
      /** Descendants that are not helpers and not yet reaped (a zombie we cannot reap counts as dead). */
      const read = Effect.gen(function*() {
        const skip = yield* helpers.pids
        const out: Array<number> = []
        for (const pid of yield* tree.descendants) {
          if (skip.has(pid) || pid === pgid) continue
          const stat = yield* tree.stat(pid)
          // A helper leads its own group: what it started is the helper's too.
          if (stat === undefined || skip.has(stat.pgid)) continue
          if (
            stat.state === "Z" && ((yield* reaper.reapNow(pid)) || !reaper.active || stat.ppid !== process.pid)
          ) continue
          out.push(pid)
        }
        return out
      })
      /** The leftovers, or undefined while the table cannot be read (said once): unknown is never "none". */
      const leftovers = read.pipe(Effect.catchTag("ProcessTableUnreadable", (e) =>
        Ref.getAndSet(saidUnknown, true).pipe(
          Effect.flatMap((said) =>
            said ? Effect.void : Effect.logWarning(
              `cannot read the process table (${e.message}): what is left of the child is unknown; the lease is kept `
                + `until every process it started is accounted for, and the table is read again until then`
            ).pipe(Effect.annotateLogs({ pid: pgid }))
          ),
          Effect.as(undefined)
        )))
      const childGone = Deferred.isDone(exited)
      const groupGone = Effect.map(tree.groupExists(pgid), (exists) => !exists)
      const allGone = Effect.all([childGone, groupGone, Effect.map(leftovers, (l) => l?.length === 0)]).pipe(
        Effect.map((xs) => xs.every(Boolean))
      )

      // The deadline: SIGKILL everything left, again while new ones appear (a process may fork as it dies).
      const killAll = Effect.gen(function*() {
        yield* tree.signalGroup(pgid, "SIGKILL")
        for (const pid of (yield* leftovers) ?? []) yield* tree.signal(pid, "SIGKILL")
        return yield* allGone
      })
      if (killAt <= t0) {
        yield* killAll
        yield* Effect.logWarning(
          `stop deadline passed ${
            t0 - killAt
          } ms ago: SIGKILL to every process of the child at once, no grace (the wrapper was frozen or stalled past its last renew + renew deadline + stop grace, when another replica may take the lease)`
        ).pipe(Effect.annotateLogs({ pid: pgid, overdueMs: t0 - killAt }))
      } else {
        yield* tree.signalGroup(pgid, "SIGTERM")
        // The group first; what left it gets SIGTERM once the group is gone, or half-way to the deadline.
        const groupDone = Effect.map(Effect.all([childGone, groupGone]), ([a, b]) => a && b)
        // The child's own exit is an event: checked the moment it comes, not at the next poll (the handover waits on it).
        yield* Deferred.await(exited).pipe(Effect.timeoutOption((yield* left) / 2))
        yield* within(groupDone, (yield* left) / 2)
        for (const pid of (yield* leftovers) ?? []) yield* tree.signal(pid, "SIGTERM")
        if (yield* within(allGone, yield* left)) return
        const remaining = yield* left
        if (remaining > 0) yield* Effect.sleep(remaining)
      }
      const dead = yield* within(killAll, killWaitMs)
      if (!dead) {
        const known = yield* leftovers
        // An unknown table was said already; this line is for processes known to outlive SIGKILL.
        if (known !== undefined) {
          yield* Effect.logError(
            `processes of the child survive SIGKILL after ${killWaitMs} ms (stuck in the kernel?): ${
              known.join(" ") || pgid
            }; the lease is not released until they are gone, and /healthz fails so the pod is restarted`
          )
        }
        yield* killAll.pipe(Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (done) => done }))
      }
    })
