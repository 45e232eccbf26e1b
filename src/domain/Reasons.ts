/**
 * Why the machine did what it did: a code from a fixed, small set (a metric
 * label keyed on it stays bounded) and, for some, a detail (the failure's
 * message, the new holder, the exit code, the signal). `step` gives a Reason;
 * its words are for the log line and the timeline. Pure.
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
  "woke_late",
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
  "handover",
  "signal",
  "child_exited",
  "child_stopped",
  "released",
  "exiting",
  "late_answer",
  "ignored"
] as const

export type ReasonCode = typeof reasonCodes[number]

export interface Reason {
  readonly code: ReasonCode
  /** What varies: a failure's message, a holder, an exit code, a signal, an event's tag. */
  readonly detail?: string | undefined
}

export const reason = (code: ReasonCode, detail?: string): Reason => detail === undefined ? { code } : { code, detail }

/** The words before the detail (a reason without one reads as the words alone). */
const words: Record<ReasonCode, string> = {
  lease_absent: "lease absent",
  lease_free: "lease free",
  lease_expired: "lease expired",
  lease_seen: "lease seen",
  lease_changed: "lease changed elsewhere, checking",
  lease_taken: "lease taken by",
  lease_deleted: "lease deleted",
  read_failed: "read failed:",
  poll: "poll",
  waiting: "waiting",
  woke_late: "woke late by",
  watch: "watch",
  acquired: "acquired",
  acquired_too_late: "acquired too late",
  acquire_failed: "acquire failed:",
  lost_race: "lost the race",
  renew: "renew",
  renewed: "renewed",
  renew_failed: "renew failed:",
  renew_unchanged: "renew changed nothing",
  renew_retry_newer: "renew on newer version",
  renewed_too_late: "renewed too late",
  renew_deadline: "renew deadline passed",
  reelect: "re-election due",
  handover: "handover asked for, to",
  signal: "signal",
  child_exited: "child exited with",
  child_stopped: "child stopped",
  released: "released",
  exiting: "exiting",
  late_answer: "late",
  ignored: "ignored"
}

/** The reason as the transition line says it, e.g. "read failed: HTTP 503 …", "lease taken by \"b\"". */
export const reasonText = (r: Reason): string => r.detail === undefined ? words[r.code] : `${words[r.code]} ${r.detail}`
