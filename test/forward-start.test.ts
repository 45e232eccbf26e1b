/**
 * A signal for the child that comes while the command is being started (the go is written to the
 * child-init spawned ahead, its report not read yet) is held and forwarded once it has started, not lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { ChildSupervisor } from "../src/services/ChildSupervisor.ts"
import { HelperProcesses } from "../src/services/HelperProcesses.ts"
import { ProcessTree } from "../src/services/ProcessTree.ts"
import { Reaper } from "../src/services/Reaper.ts"

/** Pids of this process's children whose command line holds `word`. */
const childrenWith = (word: string) =>
  readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8")
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid
        && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(word)
    } catch {
      return false
    }
  })

describe("a signal as the child starts", () => {
  it.live(
    "is held while the start is under way and forwarded to the child's group once it has started",
    () =>
      Effect.gen(function*() {
        const sent: Array<[number, string]> = []
        // The live process table, with every group signal recorded.
        const tree = Layer.effect(
          ProcessTree,
          Effect.gen(function*() {
            const live = yield* ProcessTree
            return ProcessTree.of({
              ...live,
              signalGroup: (pgid, signal) =>
                Effect.andThen(Effect.sync(() => sent.push([pgid, signal])), live.signalGroup(pgid, signal))
            })
          })
        ).pipe(Layer.provide(ProcessTree.layer))
        const command = ["sleep", "30"]
        const layer = ChildSupervisor.layer({ stopGraceMs: 1_000, ahead: command }).pipe(
          Layer.provide(Layer.mergeAll(Reaper.layer, tree, HelperProcesses.layer))
        )
        yield* Effect.scoped(
          Effect.gen(function*() {
            const supervisor = yield* ChildSupervisor
            // The child-init spawned ahead is waiting for its go.
            for (let i = 0; i < 200 && childrenWith("--await").length === 0; i++) yield* Effect.sleep("10 millis")
            assert.isAbove(childrenWith("--await").length, 0, "no child-init was spawned ahead")
            const starting = yield* Effect.forkChild(supervisor.start(command), { startImmediately: true })
            // The go is written; child-init's report cannot have been read within this synchronous turn.
            process.emit("SIGHUP", "SIGHUP")
            const child = yield* Fiber.join(starting)
            assert.strictEqual(yield* child.started, true)
            const forwarded = sent.filter(([, s]) => s === "SIGHUP")
            assert.deepStrictEqual(forwarded.length, 1, "the SIGHUP was not forwarded")
            assert.isAbove(forwarded[0]![0], 1)
          }).pipe(Effect.provide(layer))
        )
      }),
    20_000
  )
})
