/**
 * Following a collection through the API as client-go's informers do: list,
 * then watch from the list's resourceVersion (with bookmarks, and a server-side
 * timeout), resuming from the last version seen when a watch ends well, and
 * listing again after any failure, a 410 (the server forgot that version)
 * included. Sessions are paced so that no answer of the server makes it hammer
 * the API: after one that ends well, a pause of `baseMs`; after one that fails
 * (an error, a refusal, a watch ERROR event, or a clean end within
 * `minSessionMs`), the capped backoff from `baseMs` to `maxBackoffMs`. The
 * first wait of an outage longer than a second is said once, with why.
 *
 * What it sees comes out as a Stream of changes that never fails and never
 * ends; a failure is one change among others, and what it means is the
 * caller's to say (the lease watch only notes it; a gate shows it as pending).
 */
import { Duration, Effect, Option, Queue, Ref, Schedule, Stream } from "effect"
import { cappedBackoff, monotonicMs } from "../domain/Time.ts"
import { formatDuration } from "../domain/Values.ts"
import { decodeBookmark, decodeListText, decodeStatus, decodeWatchLine } from "../domain/Wire.ts"
import type { KubeClient } from "./KubeClient.ts"
import { watchIdleTimeoutMs, watchTimeoutSeconds } from "./KubeClient.ts"
import type { Access, KubeError } from "./KubeError.ts"
import { unavailable } from "./KubeError.ts"
import { sayOnce } from "./SayOnce.ts"

/** A session shorter than this that ends "cleanly" counts as a failure (real servers keep watches for minutes). */
export const minSessionMs = 10_000

export interface Watched<A> {
  /** The collection, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  readonly access: Access
  /** An object as the caller keeps it; undefined when it is not one (a list with one fails, an event is dropped). */
  readonly decode: (object: unknown) => A | undefined
}

export interface Pace {
  /** The pause after a session that ended well, and the first wait after one that failed. */
  readonly baseMs: number
  readonly maxBackoffMs: number
  /** The deadline of the list, and of the watch's connect. */
  readonly requestTimeoutMs: number
}

export type Change<A> =
  /** A list read the whole set: it replaces what was known. */
  | { readonly _tag: "Listed"; readonly objects: ReadonlyArray<A> }
  | { readonly _tag: "Put"; readonly object: A }
  | { readonly _tag: "Deleted"; readonly object: A }
  /** The watch is up (what follows comes as it happens), or down. */
  | { readonly _tag: "Watching"; readonly watching: boolean }
  /** A session failed; `error.status` is set when the watch was refused with an HTTP answer. */
  | { readonly _tag: "Failed"; readonly error: KubeError; readonly during: "list" | "watch" }

type Failure = Extract<Change<unknown>, { _tag: "Failed" }>

/** List and watch `watched` for as long as the stream is pulled. */
export const informer = <A>(kube: KubeClient["Service"], watched: Watched<A>, pace: Pace): Stream.Stream<Change<A>> =>
  Stream.callback<Change<A>>((queue) =>
    Effect.gen(function*() {
      const { access, decode, fieldSelector, labelSelector, path } = watched
      const emit = (c: Change<A>) => Queue.offer(queue, c)
      const failed = (during: Failure["during"]) => (error: KubeError): Failure => ({ _tag: "Failed", error, during })
      /** Where the next watch resumes; "" = list first. */
      const version = yield* Ref.make("")
      /** Whether this outage was said already. */
      const announced = yield* Ref.make(false)
      const garbled = yield* sayOnce
      const query = (extra: Record<string, string>) =>
        new URLSearchParams({
          ...(labelSelector === undefined ? {} : { labelSelector }),
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
          ...extra
        }).toString()

      const list = kube.request({
        method: "GET",
        path: `${path}?${query({})}`,
        verb: "list",
        timeoutMs: pace.requestTimeoutMs,
        access
      }).pipe(Effect.flatMap((answer) => {
        const body = Option.getOrUndefined(decodeListText(answer.text))
        const objects = (body?.items ?? []).map(decode)
        return body === undefined || objects.some((o) => o === undefined)
          ? Effect.fail(
            unavailable("list", access, `HTTP ${answer.status} with a body that is not a list of what was asked for`)
          )
          : Effect.succeed({ objects: objects as Array<A>, resourceVersion: body.metadata?.resourceVersion ?? "" })
      }))

      /** A line that is not a watch event is dropped: a warning the first time, debug lines after. */
      const drop = (line: string) =>
        garbled.problem(
          "garbled",
          `watch of ${access.what}: dropped a line that is not a watch event: ${JSON.stringify(line.slice(0, 120))}`
        )

      const onLine = (line: string): Effect.Effect<void, KubeError> => {
        const event = Option.getOrUndefined(decodeWatchLine(line))
        if (event === undefined) return line.trim() === "" ? Effect.void : drop(line)
        const seen = Option.getOrUndefined(decodeBookmark(event.object))?.metadata.resourceVersion
        const moved = seen === undefined ? Effect.void : Ref.set(version, seen)
        switch (event.type) {
          case "ADDED":
          case "MODIFIED":
          case "DELETED": {
            const object = decode(event.object)
            if (object === undefined) return drop(line)
            return Effect.andThen(moved, emit({ _tag: event.type === "DELETED" ? "Deleted" : "Put", object }))
          }
          case "BOOKMARK":
            return moved
          case "ERROR": {
            const status = Option.getOrUndefined(decodeStatus(event.object))
            return Effect.fail(
              unavailable("watch", access, `ERROR ${status?.code ?? "?"} ${status?.message ?? ""}`.trim())
            )
          }
        }
      }

      /** One session: a list if there is no version to resume from, then the watch until it ends. */
      const session = (began: number) =>
        Effect.gen(function*() {
          if ((yield* Ref.get(version)) === "") {
            const listed = yield* list.pipe(Effect.mapError(failed("list")))
            yield* Ref.set(version, listed.resourceVersion)
            yield* emit({ _tag: "Listed", objects: listed.objects })
          }
          const from = yield* Ref.get(version)
          const lines = yield* kube.watch({
            path: `${path}?${
              query({
                watch: "true",
                allowWatchBookmarks: "true",
                timeoutSeconds: String(watchTimeoutSeconds),
                ...(from === "" ? {} : { resourceVersion: from })
              })
            }`,
            timeoutMs: pace.requestTimeoutMs,
            idleTimeoutMs: watchIdleTimeoutMs,
            access
          }).pipe(Effect.mapError(failed("watch")))
          yield* emit({ _tag: "Watching", watching: true })
          // Not a finalizer: once the stream is no longer pulled, an offer could wait for ever.
          const ended = yield* Effect.exit(Stream.runForEach(lines, onLine))
          yield* emit({ _tag: "Watching", watching: false })
          yield* Effect.mapError(ended, failed("watch"))
          if ((yield* monotonicMs) - began < minSessionMs) {
            return yield* Effect.fail(failed("watch")(unavailable("watch", access, "the watch ended at once")))
          }
        }).pipe(
          Effect.scoped,
          // After a failure, what was known may be stale: the next session lists again.
          Effect.tapError((f) => Effect.andThen(Ref.set(version, ""), emit(f))),
          Effect.ensuring(Effect.flatMap(monotonicMs, (now) =>
            // A watch that stayed up a while ends an outage: the next one is said again.
            now - began >= minSessionMs ? Ref.set(announced, false) : Effect.void)),
          Effect.withSpan("Informer.session", { attributes: { what: access.what } })
        )

      /** The first wait over a second of an outage: one line, with how long and why. */
      const announce = ({ duration, input }: Schedule.Metadata<Duration.Duration, Failure>) =>
        Duration.toMillis(duration) <= 1000 ? Effect.void : Ref.getAndSet(announced, true).pipe(
          Effect.flatMap((said) =>
            said ? Effect.void : Effect.logInfo(
              `watch of ${access.what} is down (${input.error.reason._tag}); next try in ${
                formatDuration(Math.round(Duration.toMillis(duration)))
              }`
            ).pipe(Effect.annotateLogs({ why: input.error.message }))
          )
        )

      yield* Effect.flatMap(monotonicMs, session).pipe(
        Effect.retry(
          cappedBackoff(pace.baseMs, pace.maxBackoffMs).pipe(Schedule.setInputType<Failure>(), Schedule.tap(announce))
        ),
        // The retry never gives up; this only tells the types so.
        Effect.ignore,
        Effect.andThen(Effect.sleep(pace.baseMs)),
        Effect.forever
      )
    }), { bufferSize: 16, strategy: "suspend" })
