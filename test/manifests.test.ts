/**
 * The deployment files keep the README's promises: a minimal namespaced Role on the one
 * Lease, probes that work when followers answer 404, identity from the downward API, a
 * grace period longer than the child's stop grace, a rollout strategy that does not stall
 * when only the leader is Ready, and a non-root image with an exec-form entrypoint. The
 * service-mode example grants writes to its one EndpointSlice and nothing more, has every
 * replica Ready, and rolls out with a warm follower of the new version. The gates component's
 * Role grants what its gates read, and nothing more.
 * The k8s/ checks read what `kubectl kustomize` renders, so they skip without kubectl.
 */
import * as yaml from "js-yaml"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { root } from "../harness/replica.ts"
import type { Gate } from "../src/domain/Gates.ts"
import { args, runtime, stages } from "./support/dockerfile.ts"
import { electionOf, settingsOf } from "./support/settings.ts"

const kubectl = "/usr/bin/kubectl"
const hasKubectl = existsSync(kubectl)
const skipNote = hasKubectl
  ? ""
  : ` [skipped: ${kubectl} not found, so \`kubectl kustomize k8s\` cannot render the manifests]`
if (!hasKubectl) console.warn(`manifests.test.ts:${skipNote}`)

type Doc = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  [k: string]: any
}
type Rule = {
  apiGroups?: Array<string>
  resources?: Array<string>
  resourceNames?: Array<string>
  verbs: Array<string>
  nonResourceURLs?: Array<string>
}
type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }

/** The example to render: k8s (the leader alone is Ready) or k8s/service-mode. */
type Example = "k8s" | "k8s/service-mode"
const rendered = new Map<Example, Array<Doc>>()
const docs = (dir: Example = "k8s"): Array<Doc> => {
  const found = rendered.get(dir)
  if (found !== undefined) return found
  const all = (yaml.loadAll(execFileSync(kubectl, ["kustomize", join(root, dir)], { encoding: "utf8" })) as Array<
    Doc | null
  >).filter((d): d is Doc => d !== null)
  rendered.set(dir, all)
  return all
}
const one = (kind: string, dir: Example = "k8s"): Doc => {
  const found = docs(dir).filter((d) => d.kind === kind)
  expect(found.map((d) => d.kind), `exactly one ${kind}`).toEqual([kind])
  return found[0]!
}
const podSpec = (dir: Example = "k8s") => one("Deployment", dir)["spec"].template.spec
const container = (dir: Example = "k8s") => {
  const cs = podSpec(dir).containers
  expect(cs).toHaveLength(1)
  return cs[0]
}
const env = (name: string, dir: Example = "k8s"): EnvVar | undefined =>
  (container(dir).env as Array<EnvVar>).find((e) => e.name === name)
/** A probe's or Service's port, by number or by the container's port name. */
const portNumber = (port: number | string, dir: Example = "k8s"): number =>
  typeof port === "number"
    ? port
    : (container(dir).ports as Array<{ name?: string; containerPort: number }>).find((p) => p.name === port)!
      .containerPort

/** Go-style durations as just-one-init takes them: "4s", "500ms", "1m30s". */
const seconds = (d: string): number => {
  const parts = [...d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  expect(parts.map((p) => p[0]).join(""), `duration ${d}`).toBe(d)
  const unitSeconds: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * unitSeconds[unit!]!, 0)
}
const timing = (name: string, fallback: string, dir: Example = "k8s") => seconds(env(name, dir)?.value ?? fallback)

type Strategy = { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } }

/**
 * The Deployment controller's RollingUpdate arithmetic (pkg/controller/deployment/rolling.go:
 * reconcileNewReplicaSet, cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate)
 * against pods of which only the Lease holder is Ready, or (service mode) all. Returns whether
 * the rollout ends, and whether a Ready pod of the new version was there when the last old pod went.
 */
const rollout = (
  replicas: number,
  strategy: Strategy,
  ready: "leader" | "all" = "leader"
): { completes: boolean; warmNewFollower: boolean } => {
  if (strategy.type === "Recreate") return { completes: true, warmNewFollower: false } // all old pods go, then the new ones start
  const resolve = (v: number | string | undefined, fallback: string, roundUp: boolean) => {
    const x = v ?? fallback
    if (typeof x === "number") return x
    const exact = (Number(x.replace(/%$/, "")) * replicas) / 100
    return roundUp ? Math.ceil(exact) : Math.floor(exact)
  }
  const surge = resolve(strategy.rollingUpdate?.maxSurge, "25%", true)
  let unavailable = resolve(strategy.rollingUpdate?.maxUnavailable, "25%", false)
  if (surge === 0 && unavailable === 0) unavailable = 1
  const minAvailable = replicas - unavailable
  // Pods of each ReplicaSet; `leader` says which set's pod holds the Lease (the only Ready pod).
  const world = { old: replicas, new: 0, leader: "old" as "old" | "new" | undefined }
  const available = (rs: "old" | "new") => (ready === "all" ? world[rs] : world.leader === rs ? 1 : 0)
  let warmNewFollower = false
  for (let step = 0; step < 100; step++) {
    const before = JSON.stringify(world)
    const newReady = available("new")
    if (world.new < replicas) {
      world.new += Math.max(0, Math.min(replicas + surge - world.old - world.new, replicas - world.new))
    }
    if (world.old > 0) {
      const maxScaledDown = world.old + world.new - minAvailable - (world.new - available("new"))
      if (maxScaledDown > 0) {
        world.old -= Math.min(maxScaledDown, world.old - available("old")) // unhealthy first; ReplicaSets delete unready pods first
        world.old -= Math.min(world.old, Math.max(0, available("old") + available("new") - minAvailable))
      }
    }
    if (world.leader === "old" && world.old === 0) {
      world.leader = undefined // SIGTERM: the child stops and the Lease is released
      warmNewFollower = newReady > 0
    }
    if (world.leader === undefined && world.old + world.new > 0) world.leader = world.old > 0 ? "old" : "new"
    if (world.old === 0 && world.new === replicas && world.leader === "new") return { completes: true, warmNewFollower }
    if (JSON.stringify(world) === before) return { completes: false, warmNewFollower }
  }
  return { completes: false, warmNewFollower }
}
const rolloutCompletes = (replicas: number, strategy: Strategy) => rollout(replicas, strategy).completes

describe("rollout model", () => {
  it("stalls with the strategies that wait for new pods to be Ready, and ends with the ones that do not", () => {
    expect(rolloutCompletes(3, {})).toBe(false) // the default, 25% / 25%
    expect(rolloutCompletes(3, { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } })).toBe(false)
    expect(rolloutCompletes(3, { rollingUpdate: { maxSurge: 1, maxUnavailable: 2 } })).toBe(false)
    expect(rolloutCompletes(1, { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } })).toBe(true)
    expect(rolloutCompletes(3, { rollingUpdate: { maxSurge: 0, maxUnavailable: "100%" } })).toBe(true)
    expect(rolloutCompletes(3, { type: "Recreate" })).toBe(true)
  })

  it("with every replica Ready (service mode), the default keeps a warm follower of the new version", () => {
    expect(rollout(3, {}, "all")).toEqual({ completes: true, warmNewFollower: true })
    expect(rollout(3, { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, "all")).toEqual({
      completes: true,
      warmNewFollower: true
    })
    // The leader-only example's strategy ends, but stops every old pod before a new one is Ready.
    expect(rollout(3, { rollingUpdate: { maxSurge: 0, maxUnavailable: "100%" } }, "all")).toEqual({
      completes: true,
      warmNewFollower: false
    })
  })
})

describe("k8s manifests (kubectl kustomize k8s)", () => {
  it.skipIf(!hasKubectl)(
    `grants get/create/update/list/watch on the one Lease and nothing else, in one namespace${skipNote}`,
    () => {
      const all = docs()
      expect(all.filter((d) => ["ClusterRole", "ClusterRoleBinding"].includes(d.kind)).map((d) => d.kind)).toEqual([])
      const ns = one("Namespace").metadata.name
      for (const d of all.filter((d) => d.kind !== "Namespace")) {
        expect(d.metadata.namespace, `${d.kind} namespace`)
          .toBe(ns)
      }

      const rules = one("Role")["rules"] as Array<Rule>
      for (const r of rules) {
        expect(r.apiGroups).toEqual(["coordination.k8s.io"])
        expect(r.resources).toEqual(["leases"])
        expect(r.nonResourceURLs).toBeUndefined()
      }
      expect(rules.flatMap((r) => r.verbs).sort()).toEqual(["create", "get", "list", "update", "watch"])
      // Only `create` goes without resourceNames (it cannot be restricted by name); the rest name the lease.
      expect(rules.filter((r) => r.resourceNames === undefined).flatMap((r) => r.verbs)).toEqual(["create"])
      const leaseName = env("LEASE_NAME")?.value
      expect(leaseName).toBe("just-one-init-demo")
      for (const r of rules.filter((r) => r.resourceNames !== undefined)) expect(r.resourceNames).toEqual([leaseName])

      const binding = one("RoleBinding")
      expect(binding["roleRef"]).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: one("Role").metadata.name
      })
      expect(binding["subjects"]).toEqual([{
        kind: "ServiceAccount",
        name: one("ServiceAccount").metadata.name,
        namespace: ns
      }])
      expect(podSpec().serviceAccountName).toBe(one("ServiceAccount").metadata.name)
      expect(podSpec().automountServiceAccountToken).not.toBe(false)
    }
  )

  it.skipIf(!hasKubectl)(
    `probes: readiness on /healthcheck (leader only), liveness and startup on /healthz, all on 5047${skipNote}`,
    () => {
      const c = container()
      const listen = env("LISTEN_ADDR")?.value
      if (listen !== undefined) expect(listen).toMatch(/:5047$/)
      for (
        const [probe, path] of [["readinessProbe", "/healthcheck"], ["livenessProbe", "/healthz"], [
          "startupProbe",
          "/healthz"
        ]] as const
      ) {
        expect(c[probe]?.exec, `${probe} is not an exec probe`).toBeUndefined()
        expect(c[probe]?.httpGet?.path, probe).toBe(path)
        expect(portNumber(c[probe].httpGet.port), `${probe} port`).toBe(5047)
      }
    }
  )

  it.skipIf(!hasKubectl)(
    `takes identity and namespace from the downward API, and its timings are consistent${skipNote}`,
    () => {
      expect(env("POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name")
      expect(env("POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace")
      const [lease, renew, retry, stopGrace] = [
        timing("LEASE_DURATION", "15s"),
        timing("RENEW_DEADLINE", "10s"),
        timing("RETRY_PERIOD", "2s"),
        timing("STOP_GRACE", "4s")
      ]
      expect(renew + stopGrace).toBeLessThan(lease)
      expect(retry).toBeLessThan(renew)
      // The kubelet SIGKILLs after the grace period: leave the child's stop grace plus time to release the lease.
      expect(podSpec().terminationGracePeriodSeconds ?? 30).toBeGreaterThanOrEqual(stopGrace + 5)
    }
  )

  it.skipIf(!hasKubectl)(`uses a rollout strategy that completes although only the leader is Ready${skipNote}`, () => {
    const spec = one("Deployment")["spec"]
    expect(spec.replicas).toBe(3)
    expect(rolloutCompletes(spec.replicas, spec.strategy ?? {})).toBe(true)
  })

  it.skipIf(!hasKubectl)(`routes the Service to Ready pods only, so to the leader${skipNote}`, () => {
    const svc = one("Service")["spec"]
    expect(svc.publishNotReadyAddresses).not.toBe(true)
    expect(svc.selector).toEqual(one("Deployment")["spec"].selector.matchLabels)
    const podLabels = one("Deployment")["spec"].template.metadata.labels
    expect(Object.entries(svc.selector).every(([k, v]) => podLabels[k] === v)).toBe(true)
    for (const p of svc.ports) expect(portNumber(p.targetPort ?? p.port)).toBeGreaterThan(0)
  })

  it.skipIf(!hasKubectl)(`runs the image's entrypoint as non-root, with a child the image has${skipNote}`, () => {
    const pod = podSpec()
    const c = container()
    expect(pod.securityContext?.runAsNonRoot ?? c.securityContext?.runAsNonRoot).toBe(true)
    const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser
    if (uid !== undefined) expect(uid).toBe(dockerfileUid())
    expect(c.securityContext?.allowPrivilegeEscalation).toBe(false)
    expect(c.securityContext?.capabilities?.drop).toContain("ALL")
    expect(c.image).toBe(`ghcr.io/example/just-one-init:${packageVersion}`)
    expect(c.command, "keeps the image's just-one-init entrypoint").toBeUndefined()
    expect(c.args, "the image's demo child, which test/binary.test.ts runs").toEqual(
      JSON.parse(args(runtime(), "CMD").at(-1)!)
    )
  })
})

describe("the Lease ships with each example", () => {
  it.skipIf(!hasKubectl)(
    `so that a first deploy elects at once (no wait for a lease never seen), with no spec for apply to overwrite${skipNote}`,
    () => {
      for (const dir of ["k8s", "k8s/service-mode"] as const) {
        const lease = one("Lease", dir)
        expect(lease.metadata.name, dir).toBe(env("LEASE_NAME", dir)?.value)
        expect(lease.metadata.namespace, dir).toBe(one("Namespace", dir).metadata.name)
        expect(lease["spec"], dir).toBeUndefined()
      }
    }
  )
})

describe("service mode example (kubectl kustomize k8s/service-mode)", () => {
  const dir = "k8s/service-mode" as const
  const envValue = (name: string) => env(name, dir)?.value
  const sliceName = () => `${envValue("LEADER_SERVICE")}-just-one-init`

  it.skipIf(!hasKubectl)(
    `grants the Lease as k8s/ does and create, update, delete on the one EndpointSlice, nothing more${skipNote}`,
    () => {
      const all = docs(dir)
      expect(all.filter((d) => ["ClusterRole", "ClusterRoleBinding"].includes(d.kind)).map((d) => d.kind)).toEqual([])
      const ns = one("Namespace", dir).metadata.name
      for (const d of all.filter((d) => d.kind !== "Namespace")) expect(d.metadata.namespace, d.kind).toBe(ns)
      const rules = one("Role", dir)["rules"] as Array<Rule>
      for (const r of rules) expect(r.nonResourceURLs).toBeUndefined()
      const leases = rules.filter((r) => r.resources?.includes("leases"))
      const slices = rules.filter((r) => r.resources?.includes("endpointslices"))
      expect(leases.length + slices.length).toBe(rules.length)
      for (const r of leases) expect([r.apiGroups, r.resources]).toEqual([["coordination.k8s.io"], ["leases"]])
      for (const r of slices) expect([r.apiGroups, r.resources]).toEqual([["discovery.k8s.io"], ["endpointslices"]])
      expect(leases.flatMap((r) => r.verbs).sort()).toEqual(["create", "get", "list", "update", "watch"])
      expect(leases.filter((r) => r.resourceNames === undefined).flatMap((r) => r.verbs)).toEqual(["create"])
      for (const r of leases.filter((r) => r.resourceNames !== undefined)) {
        expect(r.resourceNames).toEqual([envValue("LEASE_NAME")])
      }
      // No get, list, watch or patch: the slice is never read, only written whole and deleted on preconditions.
      expect(slices.flatMap((r) => r.verbs).sort()).toEqual(["create", "delete", "update"])
      expect(slices.filter((r) => r.resourceNames === undefined).flatMap((r) => r.verbs)).toEqual(["create"])
      for (const r of slices.filter((r) => r.resourceNames !== undefined)) {
        expect(r.resourceNames).toEqual([sliceName()])
      }
      expect(one("RoleBinding", dir)["roleRef"]).toMatchObject({ kind: "Role", name: one("Role", dir).metadata.name })
      expect(one("RoleBinding", dir)["subjects"]).toEqual([{
        kind: "ServiceAccount",
        name: one("ServiceAccount", dir).metadata.name,
        namespace: ns
      }])
      expect(podSpec(dir).serviceAccountName).toBe(one("ServiceAccount", dir).metadata.name)
    }
  )

  it.skipIf(!hasKubectl)(
    `a selector-less Service whose ports the leader's slice names, with the pod's IP and node from the downward API${skipNote}`,
    () => {
      const svc = one("Service", dir)
      expect(svc.metadata.name).toBe(envValue("LEADER_SERVICE"))
      expect(svc["spec"].selector).toBeUndefined()
      const slicePorts = JSON.parse(envValue("LEADER_SERVICE_PORTS")!) as Array<{ name?: string; port: number }>
      // kube-proxy pairs a Service port with the slice's port of the same name.
      for (const p of svc["spec"].ports as Array<{ name?: string }>) {
        expect(slicePorts.map((q) => q.name ?? "")).toContain(p.name ?? "")
      }
      const containerPorts = (container(dir).ports as Array<{ containerPort: number }>).map((p) => p.containerPort)
      for (const p of slicePorts) expect(containerPorts).toContain(p.port)
      expect(env("POD_IP", dir)?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP")
      expect(env("NODE_NAME", dir)?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName")
      expect(env("POD_NAME", dir)?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name")
      expect(env("POD_NAMESPACE", dir)?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace")
      // What just-one-init makes of this environment, with the downward API filled in.
      const values: Record<string, string> = {
        "metadata.name": "demo-0",
        "metadata.namespace": one("Namespace", dir).metadata.name,
        "status.podIP": "10.244.1.7",
        "spec.nodeName": "node-1"
      }
      const given = Object.fromEntries(
        (container(dir).env as Array<EnvVar>).map((e) => [e.name, e.value ?? values[e.valueFrom!.fieldRef!.fieldPath]!])
      )
      const election = electionOf(["--", ...container(dir).args], given)
      expect(election.service).toEqual({
        name: svc.metadata.name,
        namespace: one("Namespace", dir).metadata.name,
        ports: slicePorts,
        podIp: "10.244.1.7",
        nodeName: "node-1"
      })
    }
  )

  it.skipIf(!hasKubectl)(
    `every replica is Ready (/healthz), and an ordinary RollingUpdate ends with a warm follower of the new version${skipNote}`,
    () => {
      const c = container(dir)
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"] as const) {
        expect(c[probe]?.httpGet?.path, probe).toBe("/healthz")
        expect(portNumber(c[probe].httpGet.port, dir), `${probe} port`).toBe(5047)
      }
      const spec = one("Deployment", dir)["spec"]
      expect(spec.replicas).toBe(3)
      expect(spec.strategy?.type ?? "RollingUpdate").toBe("RollingUpdate")
      expect(rollout(spec.replicas, spec.strategy ?? {}, "all")).toEqual({ completes: true, warmNewFollower: true })
      // With every replica Ready a budget counts them all, so a drain always leaves a follower.
      const pdb = one("PodDisruptionBudget", dir)["spec"]
      expect(pdb.selector.matchLabels).toEqual(spec.selector.matchLabels)
      expect(pdb.maxUnavailable).toBe(1)
      const [lease, renew, stopGrace] = [
        timing("LEASE_DURATION", "15s", dir),
        timing("RENEW_DEADLINE", "10s", dir),
        timing("STOP_GRACE", "4s", dir)
      ]
      expect(renew + stopGrace).toBeLessThan(lease)
      expect(podSpec(dir).terminationGracePeriodSeconds ?? 30).toBeGreaterThanOrEqual(stopGrace + 5)
      expect(c.image).toBe(container().image)
      expect(c.args).toEqual(container().args)
      expect(podSpec(dir).securityContext).toEqual(podSpec().securityContext)
      expect(c.securityContext).toEqual(container().securityContext)
    }
  )
})

// --- k8s/gates ----------------------------------------------------------------------------

/** k8s with the gates component, as an overlay of one's own renders it (a component cannot be built alone). */
let renderedGates: Array<Doc> | undefined
const gateDocs = (): Array<Doc> => {
  if (renderedGates !== undefined) return renderedGates
  const dir = mkdtempSync(join(tmpdir(), "joi-overlay-"))
  try {
    const base = relative(dir, join(root, "k8s"))
    writeFileSync(join(dir, "kustomization.yaml"), `resources: [${base}]\ncomponents: [${base}/gates]\n`)
    const text = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8" })
    return renderedGates = (yaml.loadAll(text) as Array<Doc | null>).filter((d): d is Doc => d !== null)
  } finally {
    rmSync(dir, { recursive: true })
  }
}
const named = (kind: string, name: string) => {
  const found = gateDocs().filter((d) => d.kind === kind && d.metadata.name === name)
  expect(found, `${kind} ${name}`).toHaveLength(1)
  return found[0]!
}
/** A container's environment as the pod would see it, downward API fields filled with examples. */
const envOf = (c: { env?: Array<EnvVar> }, ns: string): Record<string, string> =>
  Object.fromEntries((c.env ?? []).map((e) => {
    const field = e.valueFrom?.fieldRef?.fieldPath
    return [e.name, e.value ?? (field === "metadata.namespace" ? ns : field === "metadata.name" ? "web-0" : "")]
  }))

/** What README and k8s/gates/role.yaml say each kind of gate needs: list and watch, on a name where it asks for one. */
const access = (g: Gate): Array<{ group: string; resource: string; name?: string }> => {
  switch (g._tag) {
    case "Service":
      return [{ group: "discovery.k8s.io", resource: "endpointslices" }]
    case "Job":
      return [{ group: "batch", resource: "jobs", name: g.name }]
    case "JobSelector":
      return [{ group: "batch", resource: "jobs" }]
    case "DaemonSet":
      return [{ group: "apps", resource: "daemonsets", name: g.name }, { group: "", resource: "pods" }]
    case "Container":
      return [{ group: "", resource: "pods", name: g.pod }]
    case "Pod":
      return [{ group: "", resource: "pods" }]
    case "CustomResource":
      throw new Error("not in the example")
    default:
      return []
  }
}

describe("k8s/gates (the component, from an overlay)", () => {
  it.skipIf(!hasKubectl)(`its Role grants what the Deployment's gates need and nothing more${skipNote}`, () => {
    const deployment = named("Deployment", "just-one-init-demo")
    const ns = deployment.metadata.namespace!
    const app = deployment["spec"].template.spec.containers[0]
    const settings = settingsOf(["--", ...app.args], envOf(app, ns))
    expect(settings.gates.map((g) => g.label)).toEqual([
      "job just-one-init-demo/just-one-init-demo-migrate",
      "dns kubernetes.default.svc"
    ])
    expect(settings.waitTimeoutMs).toBe(600_000)

    const role = named("Role", "just-one-init-demo-gates")
    const granted = (role["rules"] as Array<Rule>).flatMap((r) =>
      r.apiGroups!.flatMap((group) =>
        r.resources!.flatMap((resource) =>
          (r.resourceNames ?? [undefined]).map((name) => ({ group, resource, name, verbs: [...r.verbs].sort() }))
        )
      )
    )
    const needed = settings.gates.flatMap(access).map((a) => ({ ...a, name: a.name, verbs: ["list", "watch"] }))
    expect(granted).toEqual(needed)
    expect(gateDocs().filter((d) => ["ClusterRole", "ClusterRoleBinding"].includes(d.kind))).toEqual([])
    // The lease's Role is untouched.
    expect((named("Role", "just-one-init-demo")["rules"] as Array<Rule>).flatMap((r) => r.resources)).toEqual([
      "leases",
      "leases"
    ])

    const binding = named("RoleBinding", "just-one-init-demo-gates")
    expect(binding["roleRef"]).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: role.metadata.name
    })
    expect(binding["subjects"]).toEqual([{
      kind: "ServiceAccount",
      name: deployment["spec"].template.spec.serviceAccountName,
      namespace: ns
    }])
    for (const d of gateDocs().filter((d) => d.kind !== "Namespace")) expect(d.metadata.namespace).toBe(ns)
  })

  it.skipIf(!hasKubectl)(
    `the Job it waits for runs the image with the election off, under the restricted policy${skipNote}`,
    () => {
      const job = named("Job", "just-one-init-demo-migrate")
      const pod = job["spec"].template.spec
      const [c] = pod.containers
      expect(c.image).toBe(`ghcr.io/example/just-one-init:${packageVersion}`)
      expect(c.command).toBeUndefined()
      const settings = settingsOf(["--", ...c.args], envOf(c, job.metadata.namespace!))
      expect(settings.election).toBeNull()
      expect(settings.command).toEqual(c.args)
      expect(pod.securityContext.runAsNonRoot).toBe(true)
      expect(pod.securityContext.runAsUser).toBe(dockerfileUid())
      expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" })
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] }
      })
      expect(c.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }])
      expect(pod.automountServiceAccountToken).toBe(false)
    }
  )
})

// --- Dockerfile -----------------------------------------------------------------------

const packageVersion: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version
const dockerfileUid = () => Number(args(runtime(), "USER").at(-1)!.split(":")[0])

describe("Dockerfile", () => {
  it("builds the single executable in one stage and ships only that file, on a minimal glibc base", () => {
    const all = stages()
    expect(all.length).toBeGreaterThanOrEqual(2)
    const [buildFrom, alias] = /^(\S+)\s+AS\s+(\S+)$/i.exec(all[0]![0]!.args)!.slice(1)
    expect(buildFrom).toMatch(/^node:24[.-]/)
    expect(args(all[0]!, "RUN").join("\n")).toMatch(/npm ci[\s\S]*npm run build:binary/)
    // No Node in the runtime: the executable carries its own.
    expect(runtime()[0]!.args).toMatch(/^(debian:(bookworm|12)-slim|gcr\.io\/distroless\/cc-debian12)(@\S+)?$/)
    const workdir = args(all[0]!, "WORKDIR").at(-1)!
    expect(args(runtime(), "COPY")).toEqual([
      `--from=${alias} ${workdir}/dist/just-one-init /usr/local/bin/just-one-init`
    ])
    expect(args(runtime(), "ADD")).toEqual([])
    // The original README's path; a symlink, as a hard link made in a later layer would copy the file.
    expect(args(runtime(), "RUN").join("\n")).toContain("ln -s /usr/local/bin/just-one-init /just-one-init")
    expect(args(runtime(), "EXPOSE")).toEqual(["5047"])
    expect(args(runtime(), "LABEL").join(" ")).toContain("org.opencontainers.image.title=")
    expect(args(runtime(), "ARG")).toContain(`VERSION=${packageVersion}`)
  })

  it("runs as a numeric non-root USER, with an exec-form entrypoint and no init shim", () => {
    const users = args(runtime(), "USER")
    expect(users.at(-1)).toMatch(/^\d+(:\d+)?$/) // numeric, so runAsNonRoot can be verified
    expect(dockerfileUid()).toBeGreaterThan(0)
    const entrypoint = args(runtime(), "ENTRYPOINT")
    expect(entrypoint).toHaveLength(1)
    expect(JSON.parse(entrypoint[0]!)).toEqual(["/usr/local/bin/just-one-init", "--"])
    // The demo child is one that every Debian has (perl-base is Essential); test/binary.test.ts runs it.
    const cmd = JSON.parse(args(runtime(), "CMD").at(-1)!) as Array<string>
    expect(cmd[0]).toBe("perl")
    expect(runtime().map((i) => i.args).join("\n")).not.toMatch(/\btini\b|dumb-init/)
  })

  it(".dockerignore keeps host build output out and lets in everything the build copies", () => {
    const patterns = readFileSync(join(root, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) =>
      l !== "" && !l.startsWith("#")
    )
    expect(patterns.filter((p) => p.startsWith("!"))).toEqual([]) // the matcher below does not handle re-inclusion
    const glob = (p: string) =>
      new RegExp(
        `^${
          p.replace(/\/+$/, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*/g, "\0").replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]").replace(/\0/g, ".*")
        }$`
      )
    const excluded = (path: string) =>
      path.split("/").some((_, i, parts) => patterns.some((p) => glob(p).test(parts.slice(0, i + 1).join("/"))))
    for (const dir of ["node_modules", "dist", "build", ".git"]) expect(excluded(dir), dir).toBe(true)
    const sources = stages().flatMap((s) => args(s, "COPY")).filter((a) => !a.startsWith("--from")).flatMap((a) =>
      a.split(/\s+/).slice(0, -1)
    )
    expect(sources).toContain("src")
    for (const src of sources) {
      expect(existsSync(join(root, src)), `${src} exists`).toBe(true)
      expect(excluded(src.replace(/^\.\//, "")), `${src} is in the build context`).toBe(false)
    }
  })
})
