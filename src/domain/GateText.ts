/**
 * Gates written as text: `KIND:TARGET` from `--wait-for` and `WAIT_FOR`, and
 * the items of kubernetes-entrypoint's comma-list DEPENDENCY_* variables, read
 * into drafts that Gates.ts checks.
 */
import { Result } from "effect"
import { Host } from "effect/net"
import type { Draft, GateContext } from "./GateDraft.ts"
import { labelsText } from "./GateJson.ts"
import { redactUrl } from "./Redact.ts"
import { quote } from "./Setting.ts"

/** `KEY=VALUE` pairs split by any of `separators`. */
const parseLabels = (text: string, separators: RegExp): Result.Result<Record<string, string>, string> => {
  const labels: Record<string, string> = {}
  for (const pair of text.split(separators).map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = pair.indexOf("=")
    if (eq === -1) return Result.fail(`label ${quote(pair, 60)} must be KEY=VALUE`)
    labels[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return Result.succeed(labels)
}

/** `[NS/]NAME`, or kubernetes-entrypoint's `[ns:]name`. */
const namespaced = (target: string, separator: string, ctx: GateContext) => {
  const at = target.indexOf(separator)
  return at === -1
    ? { namespace: ctx.namespace, name: target }
    : { namespace: target.slice(0, at), name: target.slice(at + separator.length) }
}

/**
 * `pod:[NS/]KEY=VALUE…`: a label key may carry a prefix with a slash too, so the
 * text before the first `/` is a namespace when the first key has two slashes,
 * or one slash and no dot before it (label prefixes are domains).
 */
const podTarget = (target: string, ctx: GateContext) => {
  const firstKey = target.slice(0, target.includes("=") ? target.indexOf("=") : target.length)
  const slashes = firstKey.split("/").length - 1
  const head = firstKey.slice(0, firstKey.indexOf("/"))
  const hasNamespace = slashes === 2 || (slashes === 1 && !head.includes("."))
  return hasNamespace
    ? { namespace: head, rest: target.slice(head.length + 1) }
    : { namespace: ctx.namespace, rest: target }
}

const kinds = "service, job, daemonset, container, pod, file, socket, tcp, dns, http://, https://"

/** One `KIND:TARGET` of `--wait-for` or `WAIT_FOR`; a pod's labels are separated by `separators`. */
export const parseWaitFor = (
  text: string,
  separators: RegExp,
  ctx: GateContext
): Result.Result<{ draft: Draft; label: string }, string> => {
  if (/^https?:\/\//i.test(text)) {
    // Labels end up in logs, /status and spans: no user name, password or query value in them.
    return Result.succeed({ draft: { _tag: "Http", url: text }, label: redactUrl(text) })
  }
  const colon = text.indexOf(":")
  if (colon === -1) return Result.fail(`must be KIND:TARGET with KIND one of ${kinds}`)
  const kind = text.slice(0, colon).toLowerCase()
  const target = text.slice(colon + 1)
  switch (kind) {
    case "service":
    case "daemonset": {
      const t = namespaced(target, "/", ctx)
      const tag = kind === "service" ? "Service" : "DaemonSet"
      return Result.succeed({ draft: { _tag: tag, ...t }, label: `${kind} ${t.namespace}/${t.name}` })
    }
    case "job": {
      const t = namespaced(target, "/", ctx)
      if (!t.name.includes("=")) {
        return Result.succeed({ draft: { _tag: "Job", ...t }, label: `job ${t.namespace}/${t.name}` })
      }
      return Result.map(parseLabels(t.name, separators), (labels) => ({
        draft: { _tag: "JobSelector", namespace: t.namespace, labels },
        label: `job ${t.namespace}/${labelsText(labels)}`
      }))
    }
    case "container":
      if (target.includes("/")) return Result.fail("a container is in this pod, so it takes no namespace")
      return Result.succeed({
        draft: { _tag: "Container", namespace: ctx.namespace, pod: ctx.podName, name: target },
        label: `container ${target}`
      })
    case "pod": {
      const t = podTarget(target, ctx)
      return Result.map(parseLabels(t.rest, separators), (labels) => ({
        draft: { _tag: "Pod", namespace: t.namespace, labels, requireSameNode: false },
        label: `pod ${t.namespace}/${labelsText(labels)}`
      }))
    }
    case "file":
    case "socket":
      return Result.succeed({
        draft: { _tag: kind === "file" ? "File" : "Socket", path: target },
        label: `${kind} ${target}`
      })
    case "tcp":
      return Result.match(Host.hostPortFromString(target), {
        onFailure: (e) => Result.fail(`must be tcp:HOST:PORT (an IPv6 host in brackets): ${e.message}`),
        onSuccess: (hp) =>
          Result.succeed({
            draft: { _tag: "Tcp", host: Host.formatHost(hp.host), port: hp.port },
            label: `tcp ${Host.formatHostPort(hp)}`
          })
      })
    case "dns":
      return Result.match(Host.domainNameFromString(target), {
        onFailure: (e) => Result.fail(`must be dns:NAME with a valid DNS name: ${e.message}`),
        onSuccess: (name) => Result.succeed({ draft: { _tag: "Dns", name }, label: `dns ${name}` })
      })
    default:
      return Result.fail(`has an unknown kind ${quote(kind, 40)}; kinds: ${kinds}`)
  }
}

/** kubernetes-entrypoint's comma-list variables, and the kinds of their items. */
export const dependencyLists = {
  DEPENDENCY_SERVICE: "service",
  DEPENDENCY_JOBS: "job",
  DEPENDENCY_DAEMONSET: "daemonset",
  DEPENDENCY_CONTAINER: "container",
  DEPENDENCY_SOCKET: "socket",
  DEPENDENCY_CONFIG: "config"
} as const
export const dependencyJson = ["DEPENDENCY_JOBS_JSON", "DEPENDENCY_POD_JSON", "DEPENDENCY_CUSTOM_RESOURCE"] as const
export type DependencyVariable = keyof typeof dependencyLists | typeof dependencyJson[number]

/** One item of a DEPENDENCY_* list: `name` or `ns:name` (paths for sockets and configs). */
export const parseDependency = (
  kind: typeof dependencyLists[keyof typeof dependencyLists],
  item: string,
  ctx: GateContext
) => {
  // kubernetes-entrypoint means to refuse ns: here, but tests the variable's name instead of its value.
  if ((kind === "container" || kind === "socket" || kind === "config") && item.includes(":")) {
    return Result.fail(`takes no namespace: ns:name applies to services, jobs and daemonsets`)
  }
  if (kind === "config") {
    const base = item.slice(item.lastIndexOf("/") + 1)
    return Result.succeed(
      {
        draft: {
          _tag: "Config",
          path: item,
          template: `/configmaps/${base}/${base}`,
          interfaceName: ctx.interfaceName
        },
        label: `config ${item}`
      } as const
    )
  }
  const { name, namespace } = namespaced(item, ":", ctx)
  return parseWaitFor(`${kind}:${kind === "container" || kind === "socket" ? item : `${namespace}/${name}`}`, /,/, ctx)
}
