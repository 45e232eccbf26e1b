/**
 * Where KubeClient's configuration comes from, loaded by @kubernetes/client-node:
 * KUBECONFIG when set; in a pod the service account; else ~/.kube/config; else
 * one line naming the three. (client-node's loadFromDefault would silently fall
 * back to http://localhost:8080.) A user's exec credential plugin is taken out
 * of what client-node applies, so that only ExecCredentials runs it.
 */
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import type { ExecConfig } from "./ExecPlugin.ts"
import { takeExecPlugin } from "./ExecPlugin.ts"

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/** KUBECONFIG or the service account could not be loaded, or there is no configuration at all. */
export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  message: Schema.String
}) {}

export const loadKubeConfig: Effect.Effect<{ kc: KubeConfig; exec: ExecConfig | undefined }, KubeConfigError> = Effect
  .gen(function*() {
    const kc = new KubeConfig()
    const home = join(process.env["HOME"] || homedir(), ".kube", "config")
    const token = `${serviceAccountDir}/token`
    const load = (process.env["KUBECONFIG"] ?? "") !== ""
      ? () => kc.loadFromDefault()
      : existsSync(token)
      ? () => kc.loadFromCluster()
      : existsSync(home)
      ? () => kc.loadFromFile(home)
      : undefined
    if (load === undefined) {
      return yield* new KubeConfigError({
        message: `no Kubernetes API configuration: KUBECONFIG is not set, ${home} does not exist, `
          + `and ${token} does not exist (not in a pod)`
      })
    }
    yield* Effect.try({
      try: load,
      catch: (cause) =>
        new KubeConfigError({
          message: `KUBECONFIG: cannot load the Kubernetes configuration: ${
            cause instanceof Error ? cause.message : String(cause)
          }`
        })
    })
    // client-node's createAgent refuses an http:// server unless skipTLSVerify is set, which means nothing
    // without TLS: set it for plain http (kubectl proxy), so that the scheme alone decides.
    kc.clusters = kc.clusters.map((c) => (c.server.startsWith("http:") ? { ...c, skipTLSVerify: true } : c))
    // client-node runs these providers' cmd-path with execSync: a command that hangs would freeze every
    // timer of the wrapper, the renew deadline's included. kubectl dropped them too (1.26).
    const provider = kc.getCurrentUser()?.authProvider?.name
    if (provider === "gcp" || provider === "azure") {
      return yield* new KubeConfigError({
        message: `KUBECONFIG: the user's auth-provider "${provider}" is not supported (its command would run `
          + `synchronously, without a deadline); use an exec credential plugin (users[].user.exec) instead`
      })
    }
    const exec = yield* takeExecPlugin(kc).pipe(
      Effect.mapError((e) => new KubeConfigError({ message: `KUBECONFIG: ${e.message}` }))
    )
    return { kc, exec }
  })

/** The namespace of the pod we run in, when there is one. */
export const inClusterNamespace = (): string | undefined => {
  try {
    return readFileSync(`${serviceAccountDir}/namespace`, "utf8")
  } catch {
    return undefined
  }
}
