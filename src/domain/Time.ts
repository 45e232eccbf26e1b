/**
 * Time as the wrapper counts and paces it: the monotonic clock in
 * milliseconds (what the machine's deadlines are measured on; wall time may
 * jump), and the one capped exponential backoff every retry loop uses.
 */
import { Clock, Effect, Schedule } from "effect"

/** Milliseconds on the monotonic clock (the Clock service's, so TestClock drives it in tests). */
export const monotonicMs: Effect.Effect<number> = Effect.map(Clock.monotonicTimeNanos, (n) => Number(n / 1_000_000n))

/** Waits of `baseMs`, doubling each time, never longer than `capMs`; its output is the wait it chose. */
export const cappedBackoff = (baseMs: number, capMs: number) =>
  Schedule.min([Schedule.exponential(baseMs), Schedule.spaced(capMs)])
