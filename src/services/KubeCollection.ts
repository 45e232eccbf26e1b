/**
 * Following objects through the API until a judge is satisfied, as an
 * informer does: list, then watch from the list's resourceVersion, keeping the
 * current objects by name and judging them after every event, so a gate passes
 * tens of milliseconds after the change that lets it. A watch that cannot be
 * opened (a Role without `watch`, a proxy that refuses it) or that breaks falls
 * back to listing again with backoff, so the gate still works, only slower.
 * Errors are never fatal: they become the gate's pending reason, and a refusal
 * that only the Role can fix is said once as a warning.
 */
import { Clock, Effect, Option, Result, Schedule, Schema, Stream } from "effect"
import type { Verdict } from "../domain/GateRules.ts"
import type { Access } from "../domain/GateWire.ts"
import { ListWire, Named, refusal } from "../domain/GateWire.ts"
import { decodeWatchLine, parseJson } from "../domain/Wire.ts"
import type { KubeClient } from "./KubeClient.ts"
import { watchIdleTimeoutMs, watchTimeoutSeconds } from "./KubeClient.ts"
import { minSessionMs } from "./LeaseWatch.ts"

/** What a check tells the gate's owner as it goes. */
export interface Progress {
  /** Why the gate has not passed yet, as last seen. */
  pending(reason: string): Effect.Effect<void>
  /** One warning line per `key` for this gate (a 403, a missing template): said once, not every retry. */
  warn(key: string, message: string): Effect.Effect<void>
}

export interface Collection {
  /** The collection's path, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string
  readonly labelSelector?: string
  readonly fieldSelector?: string
  /** The resource, its namespace and what the Role needs, for refusals. */
  readonly access: Omit<Access, "verb">
}

/** The API calls of the gates: the client and its deadline per request. */
export interface Api {
  readonly kube: KubeClient["Service"]
  readonly requestTimeoutMs: number
}

/** A failed attempt; `reason` replaces the pending reason when there is one. */
class AttemptFailed extends Schema.TaggedError<AttemptFailed>()("AttemptFailed", {
  reason: Schema.optional(Schema.String)
}) {}

/** Retries of lists and lookups: quickly at first, then every few seconds at most. */
const backoff = Schedule.min([Schedule.exponential(250), Schedule.spaced(5000)])

const decodeList = Schema.decodeUnknownOption(Schema.fromJsonString(ListWire))
const decodeNamed = Schema.decodeUnknownOption(Named)
const nameOf = (o: unknown) => Option.getOrUndefined(decodeNamed(o))?.metadata.name

type Objects = ReadonlyMap<string, unknown>
type Change = { readonly _tag: "Put"; readonly object: unknown } | { readonly _tag: "Delete"; readonly name: string }

/** A watch line as a change of the set; bookmarks and lines that are not events change nothing. */
const changeOf = (line: string): Effect.Effect<Change | undefined, AttemptFailed> => {
  const event = Option.getOrUndefined(decodeWatchLine(line))
  if (event === undefined) return Effect.succeed(undefined)
  const name = nameOf(event.object)
  switch (event.type) {
    case "ADDED":
    case "MODIFIED":
      return Effect.succeed(name === undefined ? undefined : { _tag: "Put", object: event.object })
    case "DELETED":
      return Effect.succeed(name === undefined ? undefined : { _tag: "Delete", name })
    case "BOOKMARK":
      return Effect.succeed(undefined)
    case "ERROR":
      // 410 Expired or another error: this session is over; the next one lists again.
      return Effect.fail(new AttemptFailed({}))
  }
}

const apply = (objects: Objects, change: Change): Objects => {
  const next = new Map(objects)
  if (change._tag === "Put") next.set(nameOf(change.object)!, change.object)
  else next.delete(change.name)
  return next
}

/** Retry an attempt forever on the backoff, its failures reported as the pending reason. */
const retrying = <A>(attempt: Effect.Effect<A, AttemptFailed>, progress: Progress): Effect.Effect<A> =>
  attempt.pipe(
    Effect.tapError((e) => (e.reason === undefined ? Effect.void : progress.pending(e.reason))),
    Effect.retry(backoff),
    // The retry never gives up; this only tells the types so.
    Effect.orDie
  )

/** A refusal as the attempt's failure, warned about once when only the Role or credentials can fix it. */
const refused = (access: Access, status: number, text: string, progress: Progress, suffix = "") => {
  const r = refusal(access, status, text)
  return (r.denied ? progress.warn(`${access.verb} ${status}`, `${r.reason}${suffix}`) : Effect.void).pipe(
    Effect.andThen(Effect.fail(new AttemptFailed({ reason: r.reason })))
  )
}

/** List and watch `collection` until `judge` answers a value. */
export const follow = <A>(
  api: Api,
  collection: Collection,
  judge: (objects: ReadonlyArray<unknown>) => Verdict<A>,
  progress: Progress
): Effect.Effect<A> => {
  const { access, fieldSelector, labelSelector, path } = collection
  const query = (extra: Record<string, string>) =>
    new URLSearchParams({
      ...(labelSelector === undefined ? {} : { labelSelector }),
      ...(fieldSelector === undefined ? {} : { fieldSelector }),
      ...extra
    }).toString()

  const list = api.kube.request({
    method: "GET",
    path: `${path}?${query({})}`,
    verb: "list",
    timeoutMs: api.requestTimeoutMs
  }).pipe(
    Effect.mapError((e) => new AttemptFailed({ reason: e.message })),
    Effect.flatMap((res) => {
      if (res.status < 200 || res.status >= 300) {
        return refused({ ...access, verb: "list" }, res.status, res.text, progress)
      }
      const body = Option.getOrUndefined(decodeList(res.text))
      if (body === undefined) {
        return Effect.fail(new AttemptFailed({ reason: `list ${access.resource}: HTTP ${res.status}, not a list` }))
      }
      const objects = new Map((body.items ?? []).flatMap((o) => {
        const name = nameOf(o)
        return name === undefined ? [] : [[name, o] as const]
      }))
      return Effect.succeed({ resourceVersion: body.metadata?.resourceVersion ?? "", objects })
    })
  )

  const watch = (resourceVersion: string, reason: string) =>
    api.kube.lines(
      `${path}?${
        query({
          watch: "true",
          allowWatchBookmarks: "true",
          timeoutSeconds: String(watchTimeoutSeconds),
          ...(resourceVersion === "" ? {} : { resourceVersion })
        })
      }`,
      watchIdleTimeoutMs,
      api.requestTimeoutMs
    ).pipe(
      Effect.catchTag("KubeWatchRefused", (e) =>
        // Still pending for the reason the list gave; the next list comes after the backoff.
        refused({ ...access, verb: "watch" }, e.status, e.text, progress, "; listing every few seconds instead").pipe(
          Effect.mapError(() => new AttemptFailed({ reason: `${reason} (cannot watch: listing every few seconds)` }))
        )),
      Effect.mapError((e) => (e._tag === "AttemptFailed" ? e : new AttemptFailed({})))
    )

  /** One list and the watch after it: the value once judged so, none when a long watch ended cleanly. */
  const session = Effect.gen(function*() {
    const began = yield* Clock.currentTimeMillis
    const listed = yield* list
    const first = judge([...listed.objects.values()])
    if (Result.isSuccess(first)) return Option.some(first.success)
    yield* progress.pending(first.failure)
    const lines = yield* watch(listed.resourceVersion, first.failure)
    const found = yield* lines.pipe(
      Stream.mapError(() => new AttemptFailed({})),
      Stream.mapEffect(changeOf),
      Stream.filter((c): c is Change => c !== undefined),
      Stream.scan(() => listed.objects, apply),
      Stream.drop(1),
      Stream.map((objects) => judge([...objects.values()])),
      Stream.tap((v) => (Result.isFailure(v) ? progress.pending(v.failure) : Effect.void)),
      Stream.filterMap((v: Verdict<A>) => v),
      Stream.runHead
    )
    if (Option.isSome(found)) return found
    if ((yield* Clock.currentTimeMillis) - began < minSessionMs) return yield* new AttemptFailed({})
    return Option.none<A>()
  }).pipe(Effect.scoped)

  const loop: Effect.Effect<A> = Effect.suspend(() =>
    Effect.flatMap(retrying(session, progress), (found) => (Option.isSome(found) ? Effect.succeed(found.value) : loop))
  )
  return loop
}

/**
 * GET one document (discovery) until `answer` accepts it. `answer` decides what a status means for this
 * gate, or answers undefined to treat it as a refusal; unreachable servers and refusals are retried.
 */
export const lookup = <A>(
  api: Api,
  path: string,
  access: Access,
  answer: (status: number, json: unknown) => Verdict<A> | undefined,
  progress: Progress
): Effect.Effect<A> =>
  retrying(
    api.kube.request({ method: "GET", path, timeoutMs: api.requestTimeoutMs }).pipe(
      Effect.mapError((e) => new AttemptFailed({ reason: e.message })),
      Effect.flatMap((res) => {
        const verdict = answer(res.status, Option.getOrUndefined(parseJson(res.text)))
        if (verdict === undefined) return refused(access, res.status, res.text, progress)
        return Result.match(verdict, {
          onSuccess: Effect.succeed,
          onFailure: (reason) => Effect.fail(new AttemptFailed({ reason }))
        })
      })
    ),
    progress
  )
