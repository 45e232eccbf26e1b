/**
 * The two ways an API gate asks: follow a collection until the gate's rule
 * passes it, as the informer (kube/Informer.ts: list, then watch) shows it
 * after every change, so a gate passes tens of milliseconds after the change
 * that lets it; or look one document up (discovery) until it answers. A watch
 * that cannot be opened (a Role without `watch`, a proxy that refuses it)
 * falls back to listing again with backoff, so the gate still works, only
 * slower. Errors are never fatal: they become the gate's pending reason, and
 * a refusal that only the Role or credentials can fix is said once as a warning.
 */
import { Effect, Option, Result, Schema, Stream } from "effect"
import type { Progress, Verdict } from "../domain/GateRules.ts"
import { Named } from "../domain/GateWire.ts"
import { cappedBackoff } from "../domain/Time.ts"
import { parseJson } from "../domain/Wire.ts"
import type { Change, Pace } from "../kube/Informer.ts"
import { informer } from "../kube/Informer.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import type { Access, KubeError } from "../kube/KubeError.ts"
import { isDenied } from "../kube/KubeError.ts"

/** The API calls of the gates: the client and its deadline per request. */
export interface Api {
  readonly kube: KubeClient["Service"]
  readonly requestTimeoutMs: number
}

/** Lists, watches and lookups are retried quickly at first, then every few seconds at most. */
const firstRetryMs = 250
const maxRetryMs = 5000

export interface Collection {
  /** The collection's path, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string
  readonly labelSelector?: string
  readonly fieldSelector?: string
  readonly access: Access
}

const decodeNamed = Schema.decodeUnknownOption(Named)
interface Item {
  readonly name: string
  readonly object: unknown
}
const named = (object: unknown): Item | undefined =>
  Option.getOrUndefined(Option.map(decodeNamed(object), (o) => ({ name: o.metadata.name, object })))

/** What a gate knows of its collection: the objects by name, and the reason the rule last gave. */
interface Known {
  readonly objects: ReadonlyMap<string, unknown>
  readonly judged: string
}

/** A refusal only the Role or credentials can fix: one warning per gate (and per verb and status). */
const warnIfDenied = (e: KubeError, progress: Progress, suffix = "") =>
  isDenied(e) ? progress.warn(`${e.verb} ${e.status}`, `${e.message}${suffix}`) : Effect.void

/** Follow `collection` until `judge` answers a value. */
export const follow = <A>(
  api: Api,
  collection: Collection,
  judge: (objects: ReadonlyArray<unknown>) => Verdict<A>,
  progress: Progress
): Effect.Effect<A> => {
  const pace: Pace = { baseMs: firstRetryMs, maxBackoffMs: maxRetryMs, requestTimeoutMs: api.requestTimeoutMs }
  /** The rule on what is known now: the value, or the reason, which the gate shows. */
  const judged = (objects: ReadonlyMap<string, unknown>): Effect.Effect<readonly [Known, ReadonlyArray<A>]> =>
    Result.match(judge([...objects.values()]), {
      onSuccess: (value) => Effect.succeed([{ objects, judged: "" }, [value]] as const),
      onFailure: (reason) => Effect.as(progress.pending(reason), [{ objects, judged: reason }, []] as const)
    })
  const step = (known: Known, change: Change<Item>): Effect.Effect<readonly [Known, ReadonlyArray<A>]> => {
    const nothing = Effect.succeed([known, []] as const)
    switch (change._tag) {
      case "Listed":
        return judged(new Map(change.objects.map((o) => [o.name, o.object])))
      case "Put":
        return judged(new Map(known.objects).set(change.object.name, change.object.object))
      case "Deleted": {
        const objects = new Map(known.objects)
        objects.delete(change.object.name)
        return judged(objects)
      }
      case "Watching":
        return nothing
      case "Failed": {
        const { during, error } = change
        if (during === "list") {
          return progress.pending(error.message).pipe(
            Effect.andThen(warnIfDenied(error, progress)),
            Effect.andThen(nothing)
          )
        }
        // Refused (an HTTP answer): still pending for the reason the list gave; the next list comes after the backoff.
        if (error.status === undefined) return nothing
        return progress.pending(`${known.judged} (cannot watch: listing every few seconds)`).pipe(
          Effect.andThen(warnIfDenied(error, progress, "; listing every few seconds instead")),
          Effect.andThen(nothing)
        )
      }
    }
  }
  return informer(api.kube, { ...collection, decode: named }, pace).pipe(
    Stream.mapAccumEffect((): Known => ({ objects: new Map(), judged: "" }), step),
    Stream.runHead,
    // The informer never ends: its first value is there.
    Effect.map(Option.getOrThrow)
  )
}

/** Not there yet, for this reason. */
class Pending extends Schema.TaggedError<Pending>()("Pending", { reason: Schema.String }) {}

/**
 * GET one document (discovery) until it gives a value: `answer` judges it, `notFound` is what a 404 means for this
 * gate; any other failure is retried, as the pending reason.
 */
export const lookup = <A>(
  api: Api,
  path: string,
  access: Access,
  answer: (json: unknown) => Verdict<A>,
  notFound: Verdict<A>,
  progress: Progress
): Effect.Effect<A> =>
  api.kube.request({ method: "GET", path, verb: "get", timeoutMs: api.requestTimeoutMs, access }).pipe(
    Effect.map((res) => answer(Option.getOrUndefined(parseJson(res.text)))),
    Effect.catchReason("KubeError", "NotFound", () => Effect.succeed(notFound)),
    Effect.tapError((e) => warnIfDenied(e, progress)),
    Effect.mapError((e) => new Pending({ reason: e.message })),
    Effect.flatMap(Result.match({
      onSuccess: Effect.succeed,
      onFailure: (reason) => Effect.fail(new Pending({ reason }))
    })),
    Effect.tapError((e) => progress.pending(e.reason)),
    Effect.retry(cappedBackoff(firstRetryMs, maxRetryMs)),
    // The retry never gives up; this only tells the types so.
    Effect.orDie
  )
