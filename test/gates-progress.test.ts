/**
 * What an operator reads while gates hold the app back: one line as waiting
 * starts, a summary of what is still pending (with the reason) every 10 s, one
 * line as each gate passes, and one when all have. The clock is the test's;
 * the gate is a real file.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Queue, Ref } from "effect"
import { TestClock } from "effect/testing"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Gates } from "../src/services/Gates.ts"
import type { StopSignal } from "../src/services/Signals.ts"
import { Signals } from "../src/services/Signals.ts"
import { StatusBoard } from "../src/services/StatusBoard.ts"

type Line = { readonly message: string; readonly annotations: Record<string, unknown> }

/** Test time moves a second, then real time a little, so that the gate's file-system calls answer. */
const second = Effect.andThen(TestClock.adjust(1_000), Effect.promise(() => new Promise((r) => setTimeout(r, 5))))

describe("gate progress", () => {
  it.effect("says when waiting starts, what is pending every 10 s with its reason, and each pass", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "joi-progress-"))
      const path = join(dir, "ready")
      const lines = yield* Ref.make<ReadonlyArray<Line>>([])
      const logger = Logger.map(
        Logger.formatStructured,
        ({ annotations, message }) =>
          Effect.runSync(Ref.update(lines, (l) => [...l, { message: String(message), annotations }]))
      )
      const signals = yield* Queue.unbounded<StopSignal>()
      const gates = yield* Effect.provide(
        Gates,
        Gates.layer({
          gates: [{ _tag: "File", path, label: `file ${path}`, source: "--wait-for" }],
          waitTimeoutMs: null,
          self: { namespace: "default", podName: null, nodeName: null },
          requestTimeoutMs: 1_000
        }).pipe(Layer.provide(Layer.mergeAll(
          StatusBoard.layer,
          Layer.succeed(Signals, Signals.of({ next: Queue.take(signals) }))
        )))
      )
      const waiting = yield* Effect.forkChild(gates.wait.pipe(Effect.provide(Logger.layer([logger]))), {
        startImmediately: true
      })
      const said = (message: string) => Effect.map(Ref.get(lines), (l) => l.filter((x) => x.message === message))

      for (let i = 0; i < 25; i++) yield* second
      assert.deepStrictEqual((yield* said("waiting for gates")).map((l) => l.annotations["gates"]), [[`file ${path}`]])
      assert.deepStrictEqual((yield* said("gates pending")).map((l) => l.annotations["pending"]), [
        [`file ${path}: does not exist`],
        [`file ${path}: does not exist`]
      ])
      assert.strictEqual((yield* said("gate passed")).length, 0)

      writeFileSync(path, "")
      // The check backs off to once every 500 ms.
      for (let i = 0; i < 3 && (yield* said("gate passed")).length === 0; i++) yield* second
      assert.strictEqual(yield* Fiber.join(waiting), "Passed")
      const [passed] = yield* said("gate passed")
      assert.deepStrictEqual([passed?.annotations["gate"], passed?.annotations["kind"]], [`file ${path}`, "File"])
      assert.isAtLeast(passed?.annotations["waitedMs"] as number, 25_000)
      assert.strictEqual((yield* said("gates passed")).length, 1)
      assert.strictEqual((yield* said("gates pending")).length, 2)
      rmSync(dir, { recursive: true })
    }))
})
