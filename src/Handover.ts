/**
 * just-one-init handover --lease-name NAME [--namespace NS] [--to IDENTITY] [--timeout T]: ask the holder
 * of a Lease to hand over, and wait until someone new holds it. The request is a conditional update of the
 * Lease (the holder steps down as on SIGTERM and stays a follower: see Election.ts); `--to` names the one
 * the others leave it to for a lease duration. Prints who holds it and how long it took; exit 1 when
 * nobody new holds it within the timeout (the lease's duration plus 5 s by default), 2 on bad input.
 */
import { Data, Effect, Layer, Option, Schedule, Stream } from "effect"
import type { HandoverRequest } from "./domain/HandoverArgs.ts"
import type { LeaseView } from "./domain/Lease.ts"
import { handoverRequest } from "./domain/Lease.ts"
import type { Env } from "./domain/Options.ts"
import { monotonicMs } from "./domain/Time.ts"
import { formatDuration } from "./domain/Values.ts"
import { inClusterNamespace, KubeClient } from "./kube/KubeClient.ts"
import { loadKubeConfig } from "./kube/KubeConfigSource.ts"
import { logging } from "./layers/Logging.ts"
import { HelperProcesses } from "./services/HelperProcesses.ts"
import { LeaseStore } from "./services/LeaseStore.ts"

/** Each request's deadline; the watch that waits for the new holder paces itself from a second. */
const requestTimeoutMs = 5_000
const watchRetryMs = 1_000

/** How the command ends: its exit code and its one line. */
class Done extends Data.TaggedError("Done")<{ readonly code: number; readonly line: string }> {}

const quote = (s: string) => JSON.stringify(s)

const program = (r: HandoverRequest, namespace: string) =>
  Effect.gen(function*() {
    const store = yield* LeaseStore
    const name = `lease ${namespace}/${r.leaseName}`
    const to = r.to ?? undefined
    const found = yield* store.get
    if (found === undefined) return new Done({ code: 1, line: `${name} does not exist` })
    const from = found.holder
    if (to !== undefined && from === to) {
      return new Done({ code: 0, line: `${quote(to)} already holds ${name}: nothing to do` })
    }
    if (from === "" && to === undefined) {
      return new Done({ code: 0, line: `${name} is free: nothing to hand over` })
    }
    const timeoutMs = r.timeoutMs ?? (found.durationMs ?? 15_000) + 5_000

    // A conditional update: on a conflict (a renew came first) read again and ask again.
    const began = yield* monotonicMs
    yield* store.get.pipe(
      Effect.flatMap((current) =>
        current === undefined
          ? Effect.fail(new Done({ code: 1, line: `${name} was deleted` }))
          : Effect.succeed(current)
      ),
      Effect.flatMap((current) => store.replace(handoverRequest(current, to))),
      Effect.retry({
        while: (e) => e._tag === "KubeError" && e.reason._tag === "Conflict",
        schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 20 }))
      })
    )

    // Wait for a holder that is someone new, following the lease as the replicas do.
    let last: LeaseView | undefined = found
    const newHolder = store.changes.pipe(
      Stream.map((c): LeaseView | undefined | null =>
        c._tag === "Listed" ? c.objects[0] : c._tag === "Put" ? c.object : c._tag === "Deleted" ? undefined : null
      ),
      Stream.filter((l): l is LeaseView | undefined => l !== null),
      Stream.tap((l) => Effect.sync(() => void (last = l))),
      Stream.filter((l) => l !== undefined && l.holder !== "" && l.holder !== from),
      Stream.runHead
    )
    const outcome = yield* newHolder.pipe(Effect.timeoutOption(timeoutMs))
    const tookMs = (yield* monotonicMs) - began
    const asked = to === undefined ? "anyone" : quote(to)
    if (Option.isNone(outcome) || Option.isNone(outcome.value)) {
      const seen = last === undefined
        ? "the lease no longer exists"
        : last.holder === ""
        ? "it is free, and nobody has taken it"
        : `it is still held by ${quote(last.holder)}`
      return new Done({
        code: 1,
        line: `no new holder of ${name} within ${formatDuration(timeoutMs)}: ${seen} (asked for ${asked})`
      })
    }
    const holder = outcome.value.value!.holder
    const note = to !== undefined && holder !== to ? ` (not ${quote(to)}, which did not take it within a lease)` : ""
    return new Done({
      code: 0,
      line: `${name}: handed over from ${quote(from)} to ${quote(holder)} in ${tookMs} ms${note}`
    })
  })

/** The namespace: the flag or POD_NAMESPACE, else the kubeconfig context's, else the pod's, else default. */
const namespaceOf = (r: HandoverRequest) =>
  r.namespace !== null ? Effect.succeed(r.namespace) : loadKubeConfig.pipe(
    Effect.map(({ kc }) =>
      kc.getContextObject(kc.getCurrentContext())?.namespace ?? inClusterNamespace()?.trim() ?? "default"
    )
  )

/** Run the handover; resolves with the exit code. */
export const handover = async (r: HandoverRequest, env: Env): Promise<number> => {
  // An operator's command: Ctrl-C ends it (the request, once written, stays; the lease's holder acts on it).
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.once(signal, () => process.exit(code))
  }
  const run = Effect.gen(function*() {
    const namespace = yield* namespaceOf(r)
    return yield* program(r, namespace).pipe(
      Effect.provide(
        LeaseStore.layer({ namespace, name: r.leaseName, requestTimeoutMs, retryPeriodMs: watchRetryMs }).pipe(
          Layer.provide(KubeClient.layer),
          Layer.provide(HelperProcesses.layer)
        )
      )
    )
  }).pipe(
    Effect.catch((e) =>
      Effect.succeed(e instanceof Done ? e : new Done({ code: e._tag === "KubeConfigError" ? 2 : 1, line: e.message }))
    ),
    Effect.provide(
      logging({ format: env["LOG_FORMAT"] === "json" ? "json" : "auto", level: "warn" }, process.stderr.isTTY === true)
    )
  )
  const done = await Effect.runPromise(run)
  if (done.code === 0) process.stdout.write(`${done.line}\n`)
  else process.stderr.write(`just-one-init: handover: ${done.line}\n`)
  return done.code
}
