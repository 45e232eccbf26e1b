/**
 * The checker's settings from command-line flags, with the defaults the
 * README's figures were measured with. Bad input is one line naming the flag.
 */
import type { ModelTiming } from "./adapter.ts"
import type { Faults, InitialLease, Invariant, Settings } from "./world.ts"
import { allFaults, invariants } from "./world.ts"

export interface Options {
  readonly settings: Settings
  readonly depth: number
  readonly maxSeconds: number
}

/** Steps of one second: retry 2, renew deadline 3, stop grace 1, lease 6 (see README for why these). */
export const defaultTiming: ModelTiming = {
  unitMs: 1000,
  retry: 2,
  renewDeadline: 3,
  stopGrace: 1,
  leaseDuration: 6,
  releaseDuration: 1
}

export const defaultDepth = 40

/**
 * Steps one clock may gain on another within a lease duration when both rates are within ρ of
 * true time: 2ρ·D rounded up (one step at 1%, for any D under 50 steps).
 */
export const driftOf = (rho: number, t: ModelTiming) => rho === 0 ? 0 : Math.ceil(2 * rho * t.leaseDuration - 1e-9)

export const makeSettings = (
  o: {
    readonly replicas?: number
    readonly timing?: ModelTiming
    readonly requestTimeout?: number
    readonly staleness?: number
    readonly losses?: number
    readonly lossAnytime?: boolean
    readonly rho?: number
    readonly faults?: Faults
    readonly faultBudget?: number
    readonly initialLeases?: ReadonlyArray<InitialLease>
    readonly check?: ReadonlyArray<Invariant>
    readonly symmetry?: boolean
  } = {}
): Settings => {
  const timing = o.timing ?? defaultTiming
  return {
    replicas: o.replicas ?? 2,
    timing,
    // The runtime's request timeout is half the renew deadline.
    requestTimeout: o.requestTimeout ?? Math.max(1, Math.floor(timing.renewDeadline / 2)),
    staleness: o.staleness ?? 1,
    losses: o.losses ?? 1,
    lossAnytime: o.lossAnytime ?? false,
    drift: driftOf(o.rho ?? 0.01, timing),
    faults: o.faults ?? allFaults,
    faultBudget: o.faultBudget ?? 1,
    initialLeases: o.initialLeases ?? ["absent", "held", "free"],
    check: new Set(o.check ?? invariants),
    symmetry: o.symmetry ?? true
  }
}

export class BadOption extends Error {}

const faultNames = Object.keys(allFaults) as ReadonlyArray<keyof Faults>

export const usage =
  `usage: npm run check:model -- [--replicas 2|3] [--depth N] [--max-seconds S] [--losses K] [--rho R]
    [--timing P,R,G,D] [--request-timeout A] [--staleness S] [--faults all|none|f1,f2,-f3] [--fault-budget F]
    [--initial absent,held,free] [--check inv1,inv2] [--loss-anytime] [--no-symmetry]
faults: ${faultNames.join(", ")}
invariants: ${invariants.map((i) => i.replaceAll(" ", "-")).join(", ")}`

export const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const given = new Map<string, string>()
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!
    if (arg === "--no-symmetry" || arg === "--loss-anytime") {
      given.set(arg.slice(2), "on")
      continue
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (m === null) throw new BadOption(`unexpected argument ${JSON.stringify(arg)}`)
    const value = m[2] ?? argv[++k]
    if (value === undefined) throw new BadOption(`--${m[1]} needs a value`)
    given.set(m[1]!, value)
  }
  const known = new Set([
    "replicas",
    "depth",
    "max-seconds",
    "losses",
    "rho",
    "timing",
    "request-timeout",
    "staleness",
    "faults",
    "initial",
    "check",
    "no-symmetry",
    "loss-anytime",
    "fault-budget"
  ])
  for (const k of given.keys()) if (!known.has(k)) throw new BadOption(`unknown flag --${k}`)
  const int = (flag: string, fallback: number, min: number, max: number) => {
    const text = given.get(flag)
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new BadOption(`--${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`)
    }
    return n
  }
  const rhoText = given.get("rho")
  const rho = rhoText === undefined ? 0.01 : Number(rhoText)
  if (!Number.isFinite(rho) || rho < 0 || rho >= 0.5) {
    throw new BadOption(
      `--rho must be a clock-rate bound from 0 to below 0.5 (0.01 = 1%), not ${JSON.stringify(rhoText)}`
    )
  }
  let timing = defaultTiming
  const timingText = given.get("timing")
  if (timingText !== undefined) {
    const parts = timingText.split(",").map(Number)
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 1 || p > 60)) {
      throw new BadOption(
        `--timing must be four whole numbers of steps, retry,renew-deadline,stop-grace,lease-duration, e.g. 2,3,1,6; not ${
          JSON.stringify(timingText)
        }`
      )
    }
    const [retry, renewDeadline, stopGrace, leaseDuration] = parts as [number, number, number, number]
    if (retry >= renewDeadline) {
      throw new BadOption("--timing: the retry period must be shorter than the renew deadline")
    }
    timing = { ...defaultTiming, retry, renewDeadline, stopGrace, leaseDuration }
  }
  let faults: Faults = allFaults
  const faultsText = given.get("faults")
  if (faultsText !== undefined) {
    const items = faultsText.split(",").filter((s) => s !== "")
    const on = new Set<string>(
      items[0] === "all" || items[0]?.startsWith("-") ? faultNames : []
    )
    for (const item of items) {
      if (item === "all" || item === "none") continue
      const name = item.replace(/^-/, "")
      if (!(faultNames as ReadonlyArray<string>).includes(name)) {
        throw new BadOption(`--faults: unknown fault ${JSON.stringify(name)} (known: ${faultNames.join(", ")})`)
      }
      if (item.startsWith("-")) on.delete(name)
      else on.add(name)
    }
    faults = Object.fromEntries(faultNames.map((f) => [f, on.has(f)])) as unknown as Faults
  }
  let initialLeases: ReadonlyArray<InitialLease> | undefined
  const initialText = given.get("initial")
  if (initialText !== undefined) {
    const items = initialText.split(",")
    for (const item of items) {
      if (item !== "absent" && item !== "held" && item !== "free") {
        throw new BadOption(`--initial: ${JSON.stringify(item)} is not one of absent, held, free`)
      }
    }
    initialLeases = items as ReadonlyArray<InitialLease>
  }
  let check: ReadonlyArray<Invariant> | undefined
  const checkText = given.get("check")
  if (checkText !== undefined) {
    const items = checkText.split(",").map((s) => s.replaceAll("-", " "))
    for (const item of items) {
      if (!(invariants as ReadonlyArray<string>).includes(item)) {
        throw new BadOption(`--check: unknown invariant ${JSON.stringify(item)}`)
      }
    }
    check = items as ReadonlyArray<Invariant>
  }
  const depth = int("depth", defaultDepth, 0, 100_000)
  const settings = makeSettings({
    faultBudget: int("fault-budget", 1, 0, 20),
    replicas: int("replicas", 2, 1, 3),
    timing,
    requestTimeout: int("request-timeout", Math.max(1, Math.floor(timing.renewDeadline / 2)), 1, 60),
    staleness: int("staleness", 1, 0, 60),
    losses: int("losses", 1, 0, 9),
    rho,
    faults,
    ...(initialLeases === undefined ? {} : { initialLeases }),
    ...(check === undefined ? {} : { check }),
    symmetry: !given.has("no-symmetry"),
    lossAnytime: given.has("loss-anytime")
  })
  return { settings, depth, maxSeconds: int("max-seconds", 600, 1, 10_000_000) }
}
