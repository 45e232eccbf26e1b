/**
 * The election's timings: the rules between them that the safety argument
 * needs (docs/safety.md), checked once by one schema that the settings and the
 * machine share; and the timings a user did not give, chosen to fit the ones
 * given, so that a default never makes a valid setting invalid. Their shape is
 * client-go's 15 s / 10 s / 2 s, with a stop grace of at most 4 s inside the
 * rule that keeps two children from running at once:
 * renew-deadline + stop-grace < lease-duration.
 */
import { Schema } from "effect"
import { ruleAt } from "./Setting.ts"
import { formatDuration, Millis } from "./Values.ts"

/** D, R and P: the lease and its renewing. */
export const LeaseTimings = Schema.Struct({
  leaseDurationMs: Millis,
  renewDeadlineMs: Millis,
  retryPeriodMs: Millis
})
type LeaseTimings = typeof LeaseTimings.Type

/** The rules on D, R and P, each reported against the setting it names [rule 8]. */
export const leaseRules = [
  ruleAt(
    "lease-duration",
    (t: LeaseTimings) => t.leaseDurationMs % 1000 === 0,
    (t) =>
      `--lease-duration must be a whole number of seconds (the Lease stores seconds), got ${
        formatDuration(t.leaseDurationMs)
      }`
  ),
  ruleAt(
    "renew-deadline",
    (t: LeaseTimings) => t.renewDeadlineMs < t.leaseDurationMs,
    (t) =>
      `--renew-deadline (${formatDuration(t.renewDeadlineMs)}) must be less than --lease-duration (${
        formatDuration(t.leaseDurationMs)
      })`
  ),
  ruleAt(
    "retry-period",
    (t: LeaseTimings) => t.retryPeriodMs < t.renewDeadlineMs,
    (t) =>
      `--retry-period (${formatDuration(t.retryPeriodMs)}) must be less than --renew-deadline (${
        formatDuration(t.renewDeadlineMs)
      })`
  )
] as const

type StopTimings = LeaseTimings & { readonly stopGraceMs: number }

/** R + G < D: a leader that loses the API server has its child dead before another may take the lease [rule 8]. */
export const stopFits = (t: StopTimings) => t.renewDeadlineMs + t.stopGraceMs < t.leaseDurationMs

export const stopMessage = (t: StopTimings) =>
  `--renew-deadline (${formatDuration(t.renewDeadlineMs)}) + --stop-grace (${
    formatDuration(t.stopGraceMs)
  }) must be less than --lease-duration (${
    formatDuration(t.leaseDurationMs)
  }), so a leader that loses the API server stops its child before another replica may take the lease`

/**
 * What the machine (Election.ts) runs on: who it is, and timings that keep every rule. Branded, so that
 * `step` never sees timings that were not checked.
 */
export const Timing = Schema.Struct({
  identity: Schema.String,
  /** Names this process among incarnations that share the identity [rule: never release or adopt another's lease]. */
  incarnation: Schema.String,
  ...LeaseTimings.fields,
  /** SIGTERM to SIGKILL, at most: a stop never lasts longer, and never past the stop deadline (Machine.ts, stopDeadline). */
  stopGraceMs: Millis,
  /** Step down after leading this long, so that the others get a turn (the original --reelect-after). */
  reelectAfterMs: Schema.optional(Schema.UndefinedOr(Millis))
}).check(...leaseRules, ruleAt("stop-grace", stopFits, stopMessage)).pipe(Schema.brand("Timing"))
export type Timing = typeof Timing.Type

/** Checked timings from settings that were checked already: a failure here is a defect. */
export const timing = Schema.decodeUnknownSync(Timing)

/** The timings that may be chosen for the user. */
export const chosenTimings = ["renew-deadline", "retry-period", "stop-grace"] as const
export type ChosenTiming = typeof chosenTimings[number]

/** The documented defaults, which every lease of 15 s or more gets. */
export const usualTimingsMs: Readonly<Record<ChosenTiming, number>> = {
  "renew-deadline": 10_000,
  "retry-period": 2_000,
  "stop-grace": 4_000
}

/** 10 s, or two thirds of a shorter lease (client-go's 10 of 15). */
export const renewDeadlineFor = (leaseMs: number) =>
  Math.min(usualTimingsMs["renew-deadline"], Math.floor((leaseMs * 2) / 3))

/** 2 s, or half of a shorter renew deadline: at least two renews before it passes. */
export const retryPeriodFor = (renewMs: number) => Math.min(usualTimingsMs["retry-period"], Math.floor(renewMs / 2))

/**
 * 4 s, or less to leave a margin before the lease can expire: 1 s, or half of what is left between the
 * renew deadline and the lease when that is 2 s or less. 0 when nothing fits (the renew deadline is 1 ms
 * short of the lease).
 */
export const stopGraceFor = (leaseMs: number, renewMs: number) => {
  const left = leaseMs - renewMs
  return Math.max(0, Math.min(usualTimingsMs["stop-grace"], Math.floor(Math.max(left - 1_000, left / 2))))
}
