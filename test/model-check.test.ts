/**
 * The model check (model/): a bounded search of the real `step`; mutation
 * cases, each a copy of step with one safety rule broken, that the search must
 * catch while the real step passes the very same search; and a check that the
 * search's canonical states (times clamped, versions renumbered, replicas
 * sorted) lose nothing step can tell apart.
 */
import { spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import type { ElectionModule } from "../model/adapter.ts"
import { loadElection } from "../model/adapter.ts"
import { Codec } from "../model/codec.ts"
import { Model } from "../model/model.ts"
import type { Mutant, Patch } from "../model/mutate.ts"
import { mutate } from "../model/mutate.ts"
import { makeSettings } from "../model/options.ts"
import { formatFound } from "../model/report.ts"
import { search } from "../model/search.ts"
import type { Faults, Invariant, World } from "../model/world.ts"
import { allFaults, ModelError, noFaults } from "../model/world.ts"
import { mulberry32 } from "./support/random.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const real = await loadElection()

const run = (
  election: ElectionModule,
  o: Parameters<typeof makeSettings>[0] & { readonly depth: number; readonly maxSeconds?: number }
) => {
  const model = new Model(makeSettings(o), election)
  const result = search(model, { depth: o.depth, maxSeconds: o.maxSeconds ?? 100 })
  return { model, result, report: result.found === undefined ? "" : formatFound(model, result, result.found) }
}

const only = (...kinds: ReadonlyArray<keyof Faults>): Faults => ({
  ...noFaults,
  ...Object.fromEntries(kinds.map((k) => [k, true]))
})

describe("model check of the real step", () => {
  it("finds no broken invariant with 2 replicas, every kind of fault (one per run) and a store loss", () => {
    const { result, report } = run(real, { faultBudget: 1, losses: 1, depth: 17, maxSeconds: 150 })
    expect(report, report).toBe("")
    // A search cut short by its time budget proves less than it claims.
    expect(result.stoppedBy, `${result.states} states in ${result.seconds.toFixed(0)} s`).not.toBe("time")
    expect(result.states).toBeGreaterThan(100_000)
  }, 200_000)

  it(
    "has a leader that thaws past its lease kill its child before the child runs again (one freeze, no store loss)",
    () => {
      // Without a kill time counted from the last renew, the thawed child runs beside the new leader's.
      const { report } = run(real, {
        faults: only("freeze"),
        faultBudget: 1,
        losses: 0,
        initialLeases: ["free"],
        depth: 20
      })
      expect(report, report).toBe("")
    },
    200_000
  )
})

interface Case {
  readonly name: string
  readonly patches: ReadonlyArray<Patch>
  /** The smallest world in which the rule matters. */
  readonly world: Parameters<typeof makeSettings>[0]
  /** The real step passes this deep in that world. */
  readonly depth: number
  readonly expected: Invariant
}

const cases: ReadonlyArray<Case> = [
  {
    name: "the renew deadline lengthened by a lease duration",
    patches: [{
      file: "Machine.ts",
      find: /state\.renewSentAt \+ t\.renewDeadlineMs/,
      replace: "state.renewSentAt + t.renewDeadlineMs + t.leaseDurationMs"
    }],
    world: { faults: only("partition"), faultBudget: 1, losses: 0, initialLeases: ["free"] },
    depth: 22,
    expected: "never two children"
  },
  {
    name: "the conditional write dropped (a PUT without the resourceVersion)",
    patches: [{
      file: "Election.ts",
      find: /\[\{ _tag: "Acquire", base \}\]/,
      replace: `[{ _tag: "Acquire", base: base === undefined ? undefined : { ...base, resourceVersion: "" } }]`
    }],
    world: { faults: noFaults, losses: 0, initialLeases: ["free", "held"] },
    depth: 30,
    expected: "never two children"
  },
  {
    name: "the wait for an absent lease removed",
    patches: [{
      file: "Lease.ts",
      find: /const heldUntil = holder === ""/,
      replace: `const heldUntil = holder === "" || obs.lease === undefined`
    }],
    world: { faults: noFaults, losses: 1, initialLeases: ["absent"] },
    depth: 24,
    expected: "never two children"
  },
  {
    name: "the kill at the stop deadline removed (the child may outlive its stop)",
    patches: [{
      file: "Election.ts",
      find: /\{ _tag: "StopChild"[^}]*\}/,
      replace: `{ _tag: "StopChild", killAt: Number.POSITIVE_INFINITY }`
    }],
    world: { faults: only("partition"), faultBudget: 1, losses: 0, initialLeases: ["free"] },
    depth: 22,
    expected: "never two children"
  }
]

/** Not in the list: the other invariants can break too. */
const more: ReadonlyArray<Case> = [
  {
    name: "Released ignored: Releasing never ends",
    patches: [{
      file: "Election.ts",
      find:
        /case "Released":\n      return follow\(m, undefined, now, t, reason\("released"\), handedOver\(s, now, t\)\)/,
      replace: `case "Released":\n      return [m, [], reason("released")]`
    }],
    world: { faults: only("signal", "childExit"), faultBudget: 1, losses: 0, initialLeases: ["free"] },
    depth: 20,
    expected: "releasing ends"
  },
  {
    name: "a free lease never taken",
    patches: [{
      file: "Lease.ts",
      find: /const heldUntil = holder === ""\n    \? Number\.NEGATIVE_INFINITY/,
      replace: `const heldUntil = holder === ""\n    ? Number.POSITIVE_INFINITY`
    }],
    world: { faults: noFaults, losses: 0, initialLeases: ["free"] },
    depth: 20,
    expected: "progress"
  },
  {
    name: "the code of a child that ended by itself dropped",
    patches: [{
      file: "Election.ts",
      find: /\? \{ \.\.\.m, exiting: true, exitCode: e\.exitCode \}/,
      replace: `? { ...m, exiting: true, exitCode: 0 }`
    }],
    world: { faults: only("signal", "childExit"), faultBudget: 1, losses: 0, initialLeases: ["free"] },
    depth: 20,
    expected: "exit codes"
  }
]

describe("mutation cases: a copy of step with one rule broken yields a counterexample", () => {
  const mutants: Array<Mutant> = []
  afterAll(() => mutants.forEach((m) => m.remove()))

  it.each([...cases, ...more])("$name", async (c) => {
    const passes = run(real, { ...c.world, depth: c.depth })
    expect(passes.report, `the real step must pass this world:\n${passes.report}`).toBe("")
    const mutant = mutate(c.patches)
    mutants.push(mutant)
    const { result, report } = run(await loadElection(mutant.url), { ...c.world, depth: c.depth })
    expect(result.found?.violation.invariant, `no counterexample within depth ${c.depth}`).toBe(c.expected)
    expect(report).toContain(`INVARIANT BROKEN: ${c.expected}`)
    // Shown as the timeline command shows replicas' logs: an overlap is named there too.
    if (c.expected === "never two children") expect(report).toContain("OVERLAP")
    else expect(report).toContain("every step of the model")
  }, 120_000)

  it("refuses a mutation whose patch no longer matches the source", () => {
    expect(() => mutate([{ file: "Election.ts", find: /no such text in step/, replace: "" }])).toThrow(
      /no longer matches/
    )
  })
})

describe("the search's canonical states", () => {
  it("lose nothing step can tell apart: on random runs a state and its canonical form have the same successors", () => {
    const model = new Model(makeSettings({ faults: allFaults, faultBudget: 4, losses: 2, replicas: 2 }), real)
    const codec = new Codec(model)
    const successors = (w: World) =>
      new Set(
        model.enabled(w).map((t) => {
          const out = model.apply(w, t)
          return out.violation !== undefined ? `!${out.violation.invariant}` : codec.encode(out.world).key
        })
      )
    let compared = 0
    for (let seed = 1; seed <= 60; seed++) {
      const rng = mulberry32(seed)
      const starts = model.initialWorlds()
      // Never canonicalised: absolute clocks, versions as written, replicas in their own order.
      let world = starts[Math.floor(rng() * starts.length)]!
      for (let k = 0; k < 120; k++) {
        const concrete = successors(world)
        const canonical = successors(codec.decode(codec.encode(world).key))
        expect([...concrete].filter((x) => !canonical.has(x)), `seed ${seed}, move ${k}`).toEqual([])
        expect(canonical.size, `seed ${seed}, move ${k}`).toBe(concrete.size)
        compared++
        const moves = model.enabled(world)
        const out = model.apply(world, moves[Math.floor(rng() * moves.length)]!)
        if (out.violation !== undefined) break
        world = out.world
      }
    }
    expect(compared).toBeGreaterThan(3000)
  }, 120_000)

  it("refuse a machine field the adapter does not know, rather than compare states without it", () => {
    const model = new Model(makeSettings({}), real)
    const world = model.initialWorlds()[0]!
    const r = world.replicas[0]!
    const odd = { ...world, replicas: [{ ...r, machine: { ...r.machine, stopDeadline: 5 } }, world.replicas[1]!] }
    expect(() => new Codec(model).encode(odd)).toThrow(ModelError)
    expect(() => new Codec(model).encode(odd)).toThrow(/stopDeadline/)
    // The same for a field of the lease that step may come to read.
    const held = model.initialWorlds()[1]!
    const preferring = { ...held, store: { ...held.store, cur: { ...held.store.cur!, preferredHolder: "b" } } }
    expect(() => new Codec(model).encode(preferring)).toThrow(/preferredHolder/)
  })
})

describe("npm run check:model", () => {
  const cli = (...args: ReadonlyArray<string>) =>
    spawnSync(process.execPath, [join(root, "model", "main.ts"), ...args], { encoding: "utf8", cwd: root })

  it("prints the states, the depth reached and the time", () => {
    const r = cli("--depth", "3")
    expect(r.stderr).not.toMatch(/Error/)
    expect(r.stdout).toMatch(/^\d+ distinct states, \d+ transitions, depth 3 complete, [\d.]+ s \(depth 3 reached\)$/m)
    expect(r.status).toBe(0)
  })

  it("refuses a bad flag with one line naming it", () => {
    const r = cli("--replicas", "9")
    expect(r.status).toBe(2)
    expect(r.stderr.trim().split("\n")).toEqual([
      "check:model: --replicas must be a whole number from 1 to 3, not \"9\""
    ])
    expect(r.stdout).toBe("")
  })
})
