/**
 * The election's timings a user did not give, chosen to fit the ones given,
 * so that a default never makes a valid setting invalid. Their shape is
 * client-go's 15 s / 10 s / 2 s, with a stop grace of at most 4 s inside the
 * rule that keeps two children from running at once:
 * renew-deadline + stop-grace < lease-duration.
 */

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
