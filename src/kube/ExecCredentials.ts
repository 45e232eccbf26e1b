/**
 * Tokens from a kubeconfig exec credential plugin (`users[].user.exec`), the
 * way clusters are reached from outside (cloud CLIs, OIDC helpers).
 *
 * We run the plugin ourselves (ExecPlugin.ts): client-node 2.0.1's ExecAuth
 * spawns one per uncached lookup with no deadline, no sharing between
 * concurrent lookups and no handle on the process (its `execFn` hook only
 * replaces spawn, it cannot tie a process to the lookup that timed out), and
 * its errors quote the plugin's stdout (JSON.parse messages), where the token is.
 *
 * A run belongs to the layer, not to the request that needed it: it runs in a
 * fiber of its own under its own bound (kubectl's 30 s for a plugin that does
 * not answer), and every caller waits on that one run with its own deadline,
 * so a plugin slower than a request still yields a token, and two never run at
 * once. A token is reused until its expirationTimestamp (for good without one,
 * client-node's rule) or until the API server rejects it (401, where client-go
 * runs the plugin again). No run starts sooner than a floor after the last
 * one unless its token expired, so a server that always says 401, or a plugin
 * that always fails, cannot make it run in a loop.
 */
import { Clock, Deferred, Effect, Exit, Option, SynchronizedRef } from "effect"
import { HelperProcesses } from "../services/HelperProcesses.ts"
import type { Credential, ExecConfig, ExecCredentialError } from "./ExecPlugin.ts"
import { runPlugin } from "./ExecPlugin.ts"

interface State {
  readonly credential: Credential | undefined
  /** The last run's failure, while there is no credential. */
  readonly failure: ExecCredentialError | undefined
  readonly lastStartMs: number | undefined
  /** The run under way, which every caller waits on. */
  readonly running: Deferred.Deferred<Credential, ExecCredentialError> | undefined
}

/** A run's own bound: kubectl gives a plugin that long. */
export const pluginRunTimeoutMs = 30_000
/** No run starts sooner than this after the last one started, unless its token expired. */
export const rerunFloorMs = 5000

export interface ExecCredentials {
  /** The token held, or the one the run under way (started if needed) gives. */
  readonly token: Effect.Effect<string, ExecCredentialError>
  /** The API server answered 401 to `token`: the next run (once the floor allows) replaces it. */
  rejected(token: string): Effect.Effect<void>
}

type Decision =
  | { readonly _tag: "Token"; readonly token: string }
  | { readonly _tag: "Failed"; readonly error: ExecCredentialError }
  | { readonly _tag: "Wait"; readonly run: Deferred.Deferred<Credential, ExecCredentialError> }

/** A token source for one plugin, whose runs live in the calling scope (the KubeClient layer's). */
export const makeExecCredentials = Effect.fn("ExecCredentials.make")(function*(
  exec: ExecConfig,
  runTimeoutMs: number = pluginRunTimeoutMs
) {
  const helpers = yield* HelperProcesses
  const scope = yield* Effect.scope
  const state = yield* SynchronizedRef.make<State>({
    credential: undefined,
    failure: undefined,
    lastStartMs: undefined,
    running: undefined
  })

  /** Start a run in the layer's scope; its outcome is kept, then handed to everyone waiting. */
  const launch = (done: Deferred.Deferred<Credential, ExecCredentialError>) =>
    runPlugin(exec, helpers, runTimeoutMs).pipe(
      Effect.onExit((exit) =>
        SynchronizedRef.update(state, (s): State => ({
          ...s,
          running: undefined,
          ...(Exit.isSuccess(exit)
            ? { credential: exit.value, failure: undefined }
            : { credential: undefined, failure: Option.getOrUndefined(Exit.findErrorOption(exit)) })
        })).pipe(Effect.andThen(Deferred.done(done, exit)))
      ),
      Effect.forkIn(scope)
    )

  const decide = SynchronizedRef.modifyEffect(
    state,
    (s) =>
      Effect.gen(function*(): Effect.fn.Return<readonly [Decision, State]> {
        if (s.running !== undefined) return [{ _tag: "Wait", run: s.running }, s]
        const now = yield* Clock.currentTimeMillis
        const held = s.credential
        const current = held !== undefined && (held.expiresAt === undefined || held.expiresAt > now) ? held : undefined
        if (current !== undefined && !current.rejected) return [{ _tag: "Token", token: current.token }, s]
        if (s.lastStartMs !== undefined && now - s.lastStartMs < rerunFloorMs) {
          // Too soon for another run: the rejected token (the server decides again), or the last failure.
          if (current !== undefined) return [{ _tag: "Token", token: current.token }, s]
          if (s.failure !== undefined) return [{ _tag: "Failed", error: s.failure }, s]
        }
        const done = yield* Deferred.make<Credential, ExecCredentialError>()
        yield* launch(done)
        return [{ _tag: "Wait", run: done }, { ...s, running: done, lastStartMs: now }]
      })
  )

  const token: Effect.Effect<string, ExecCredentialError> = Effect.flatMap(decide, (d) => {
    switch (d._tag) {
      case "Token":
        return Effect.succeed(d.token)
      case "Failed":
        return Effect.fail(d.error)
      case "Wait":
        // Only this caller's wait ends at its deadline; the run goes on for the next one.
        return Effect.map(Deferred.await(d.run), (c) => c.token)
    }
  })

  const rejected = (token: string) =>
    SynchronizedRef.update(
      state,
      (s): State => s.credential?.token === token ? { ...s, credential: { ...s.credential, rejected: true } } : s
    )

  return { token, rejected } satisfies ExecCredentials
})
