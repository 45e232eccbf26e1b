/**
 * npm run check:model -- [flags]: the exhaustive check of the real `step`
 * (see README.md in this folder). Exits 0 when no invariant broke within the
 * bound, 1 with the shortest counterexample when one did, 2 on bad flags.
 */
import { loadElection } from "./adapter.ts"
import { Model } from "./model.ts"
import { BadOption, parseOptions, usage } from "./options.ts"
import { formatFound } from "./report.ts"
import { search } from "./search.ts"
import { ModelError } from "./world.ts"

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  let options
  try {
    options = parseOptions(argv)
  } catch (e) {
    if (!(e instanceof BadOption)) throw e
    process.stderr.write(`check:model: ${e.message}\n`)
    return 2
  }
  const { settings, depth, maxSeconds } = options
  const t = settings.timing
  const off = Object.entries(settings.faults).filter(([, on]) => !on).map(([f]) => f)
  process.stdout.write(
    `model check of src/domain/Election.ts step: ${settings.replicas} replicas; steps of ${t.unitMs} ms: retry ${t.retry}, renew deadline ${t.renewDeadline}, stop grace ${t.stopGrace}, lease ${t.leaseDuration}, release ${t.releaseDuration}; request timeout ${settings.requestTimeout}, reads stale by up to ${settings.staleness}, ${settings.losses} store loss${
      settings.losses === 1 ? "" : "es"
    }${
      settings.lossAnytime ? " at any moment" : " of a settled holder"
    }, clocks drift apart by up to ${settings.drift} step${
      settings.drift === 1 ? "" : "s"
    } per lease duration; up to ${settings.faultBudget} fault${settings.faultBudget === 1 ? "" : "s"} per run of: ${
      off.length === 0 ? "all kinds" : `all kinds but ${off.join(", ")}`
    }; initial lease: ${settings.initialLeases.join(", ")}; depth ${depth}, at most ${maxSeconds} s\n`
  )
  const model = new Model(settings, await loadElection())
  let result
  try {
    result = search(model, {
      depth,
      maxSeconds,
      onLevel: (d, states, frontier, seconds) =>
        process.stderr.write(`  depth ${d}: ${states} states, ${frontier} new, ${seconds.toFixed(1)} s\n`)
    })
  } catch (e) {
    if (!(e instanceof ModelError)) throw e
    process.stderr.write(`check:model: the model cannot go on: ${e.message}\n`)
    return 3
  }
  const why = {
    depth: `depth ${depth} reached`,
    time: `time budget of ${maxSeconds} s spent during depth ${result.depth + 1}`,
    exhausted: "no new states: every reachable state explored",
    violation: "an invariant broke"
  }[result.stoppedBy]
  process.stdout.write(
    `${result.states} distinct states, ${result.transitions} transitions, depth ${result.depth} complete, ${
      result.seconds.toFixed(1)
    } s (${why})\n`
  )
  if (result.found === undefined) return 0
  process.stdout.write(`\n${formatFound(model, result, result.found)}`)
  return 1
}

process.exitCode = await main(process.argv.slice(2))
