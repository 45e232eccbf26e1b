/**
 * Saying a problem once: a warning the first time it is seen, debug lines
 * while it lasts, so that a missing Role or a dead API server is one line in
 * the log, not one per retry. When things work again the problems are
 * forgotten (the next one is a warning again), and the caller learns whether
 * there were any, to say it recovered where that is worth a line.
 */
import { Effect, Ref } from "effect"

export interface SayOnce {
  /** A warning the first time `key` is seen since the last `ok`, else a debug line; `fields` annotate either. */
  problem(key: string, message: string, fields?: Record<string, unknown>): Effect.Effect<void>
  /** Things work: forget the problems; true when there were any. */
  readonly ok: Effect.Effect<boolean>
}

export const sayOnce: Effect.Effect<SayOnce> = Effect.map(Ref.make<ReadonlySet<string>>(new Set()), (said) => ({
  problem: (key, message, fields = {}) =>
    Ref.modify(
      said,
      (keys): [boolean, ReadonlySet<string>] => keys.has(key) ? [false, keys] : [true, new Set(keys).add(key)]
    )
      .pipe(
        Effect.flatMap((first) => (first ? Effect.logWarning(message) : Effect.logDebug(message))),
        Effect.annotateLogs(fields)
      ),
  ok: Ref.getAndSet(said, new Set()).pipe(Effect.map((keys) => keys.size > 0))
}))
