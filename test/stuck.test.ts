/**
 * A stop that cannot finish (a process stuck in the kernel after SIGKILL)
 * must not release the lease, must say so in one line after a bounded wait,
 * and must make /healthz fail so that the liveness probe restarts the pod.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, Queue, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import { ChildSupervisor, killWaitMs } from "../src/services/ChildSupervisor.ts"
import { Elector } from "../src/services/Elector.ts"
import { route } from "../src/services/HealthServer.ts"
import { HelperProcesses } from "../src/services/HelperProcesses.ts"
import { ProcessTree } from "../src/services/ProcessTree.ts"
import { Reaper } from "../src/services/Reaper.ts"
import type { StopSignal } from "../src/services/Signals.ts"
import { replica } from "./support/elector.ts"
import type { ChildRecord } from "./support/memory.ts"
import { MemoryLease } from "./support/memory.ts"

const stopGraceMs = 1_000

describe("a stop that is stuck", () => {
  it.effect("keeps the lease, and /healthz fails once the stop outlasts grace + the kill wait", () =>
    Effect.gen(function*() {
      const lease = new MemoryLease()
      const log: Array<ChildRecord> = []
      const signals = yield* Queue.unbounded<StopSignal>()
      const layer = replica({
        id: "a",
        lease,
        timing: { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500, stopGraceMs },
        // A child whose stop takes an hour, and SIGKILL does not end: stuck, as far as the probes can tell.
        children: { log, stopMs: () => 3_600_000, survivesKill: true },
        signals: Queue.take(signals)
      })
      const elector = yield* Effect.provide(Elector, layer)
      const running = yield* Effect.forkChild(elector.run, { startImmediately: true })
      // A lease never seen, found absent, is waited out for one lease before it is created.
      yield* TestClock.adjust(4_100)
      assert.strictEqual((yield* elector.status).state, "Leader")
      yield* Queue.offer(signals, "SIGTERM")
      yield* TestClock.adjust(stopGraceMs + killWaitMs)
      const before = yield* elector.status
      assert.strictEqual(before.state, "Releasing")
      assert.strictEqual(route("/healthz", { phase: "election", elector: before })[0], 200)
      yield* TestClock.adjust(1_001)
      const stuck = yield* elector.status
      assert.strictEqual(stuck.wedged, true)
      assert.strictEqual(route("/healthz", { phase: "election", elector: stuck })[0], 500)
      assert.strictEqual(lease.object?.spec["holderIdentity"], "a")
      yield* TestClock.adjust(3_600_000)
      assert.strictEqual(yield* Fiber.join(running), 143)
    }))

  it.live(
    "waits after SIGKILL for a bounded time, says so in one line, and goes on waiting",
    () =>
      Effect.gen(function*() {
        const stuck = yield* Ref.make(true)
        // A process table in which the child's group survives every signal until `stuck` is cleared.
        const tree = ProcessTree.of({
          descendants: Effect.succeed([]),
          stat: () => Effect.succeed(undefined),
          groupExists: () => Ref.get(stuck),
          signal: () => Effect.void,
          signalGroup: () => Effect.void
        })
        const reaper = Reaper.of({
          active: false,
          protectUnsafe: () => {},
          unprotect: () => Effect.void,
          reapNow: () => Effect.succeed(false),
          reaped: Effect.succeed(0)
        })
        const lines = yield* Ref.make<Array<string>>([])
        const stuckLine = yield* Deferred.make<void>()
        const logger = Logger.make(({ message }) =>
          Effect.runSync(
            Ref.update(lines, (l) => [...l, String(message)]).pipe(
              Effect.andThen(
                String(message).includes("survive SIGKILL") ? Deferred.succeed(stuckLine, undefined) : Effect.void
              )
            )
          )
        )
        const supervisor = yield* Effect.provide(
          ChildSupervisor,
          ChildSupervisor.layer({ stopGraceMs: 200 }).pipe(Layer.provide(Layer.mergeAll(
            Layer.succeed(ProcessTree, tree),
            Layer.succeed(Reaper, reaper),
            HelperProcesses.layer
          )))
        )
        const scope = yield* Scope.make()
        const child = yield* Effect.provideService(supervisor.start(["sleep", "60"]), Scope.Scope, scope)
        const closed = yield* Deferred.make<void>()
        yield* Effect.forkChild(
          Scope.close(scope, Exit.void).pipe(Effect.andThen(Deferred.succeed(closed, undefined))),
          { startImmediately: true }
        ).pipe(Effect.provide(Logger.layer([logger])))
        // The line comes once the kill wait after SIGKILL is over; the stop goes on waiting.
        yield* Deferred.await(stuckLine).pipe(Effect.timeout(200 + killWaitMs + 3_000))
        // A window in which the stop must neither finish nor say it again (it re-kills every 200 ms).
        yield* Effect.sleep(500)
        assert.isFalse(yield* Deferred.isDone(closed))
        const said = (yield* Ref.get(lines)).filter((l) => l.includes("survive SIGKILL"))
        assert.strictEqual(said.length, 1)
        process.kill(child.pid, "SIGKILL")
        yield* Ref.set(stuck, false)
        yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"))
      }),
    15_000
  )
})
