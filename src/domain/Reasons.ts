/**
 * The machine's reasons (free text, e.g. "read failed: <message>") mapped to a
 * fixed, small set of codes, so that a metric label keyed on them stays bounded.
 * Pure. Every reason `step` gives has a code of its own; "other" is only a
 * fallback, and the property tests of the machine check that it never occurs.
 */
export const reasonCodes = [
  "lease_absent",
  "lease_free",
  "lease_expired",
  "lease_seen",
  "lease_changed",
  "lease_taken",
  "lease_deleted",
  "read_failed",
  "poll",
  "waiting",
  "watch",
  "acquired",
  "acquired_too_late",
  "acquire_failed",
  "lost_race",
  "renew",
  "renewed",
  "renew_failed",
  "renew_unchanged",
  "renew_retry_newer",
  "renewed_too_late",
  "renew_deadline",
  "reelect",
  "signal",
  "child_exited",
  "child_stopped",
  "released",
  "exiting",
  "late_answer",
  "ignored",
  "other"
] as const

export type ReasonCode = typeof reasonCodes[number]

/** Exact reasons, then prefixes of reasons that carry a detail (a message, a holder, a code, a signal). */
const exact: Record<string, ReasonCode> = {
  "lease absent": "lease_absent",
  "lease free": "lease_free",
  "lease expired": "lease_expired",
  expired: "lease_expired",
  "lease seen": "lease_seen",
  "lease changed elsewhere, checking": "lease_changed",
  "lease deleted": "lease_deleted",
  poll: "poll",
  waiting: "waiting",
  "watch up": "watch",
  "watch down": "watch",
  "watch down, polling": "watch",
  acquired: "acquired",
  "acquired too late": "acquired_too_late",
  "acquired while exiting": "exiting",
  "lost the race": "lost_race",
  renew: "renew",
  renewed: "renewed",
  "renew changed nothing": "renew_unchanged",
  "renew on newer version": "renew_retry_newer",
  "renewed too late": "renewed_too_late",
  "renew deadline passed": "renew_deadline",
  "re-election due": "reelect",
  "child stopped": "child_stopped",
  released: "released",
  exiting: "exiting",
  "late renew": "late_answer",
  "late renew failure": "late_answer"
}

const prefixes: ReadonlyArray<readonly [string, ReasonCode]> = [
  ["read failed: ", "read_failed"],
  ["acquire failed: ", "acquire_failed"],
  ["renew failed: ", "renew_failed"],
  ["lease taken by ", "lease_taken"],
  ["child exited with ", "child_exited"],
  ["signal ", "signal"],
  ["ignored ", "ignored"]
]

export const reasonCode = (reason: string): ReasonCode =>
  Object.hasOwn(exact, reason)
    ? exact[reason]!
    : prefixes.find(([prefix]) => reason.startsWith(prefix))?.[1] ?? "other"
