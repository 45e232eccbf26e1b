/**
 * The deployment files say what the README promises: a minimal Role, probes that
 * work with followers answering 404, identity from the downward API, a grace period
 * longer than the child's stop grace, and a non-root image with an exec-form entrypoint.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as yaml from "js-yaml"
import { describe, expect, it } from "vitest"
import { root } from "./support/cluster.ts"

const kubectl = "/usr/bin/kubectl"
const hasKubectl = existsSync(kubectl)

type Doc = { kind: string; metadata: { name: string }; [k: string]: any }

const docs = (): Array<Doc> =>
  hasKubectl
    ? (yaml.loadAll(execFileSync(kubectl, ["kustomize", join(root, "k8s")], { encoding: "utf8" })) as Array<Doc>)
    : (["namespace", "serviceaccount", "role", "rolebinding", "deployment", "service"].map((f) => yaml.load(readFileSync(join(root, "k8s", `${f}.yaml`), "utf8"))) as Array<Doc>)

describe("k8s manifests", () => {
  if (!hasKubectl) console.warn("kubectl not found: reading the manifests without kustomize")
  const all = docs()
  const of = (kind: string) => all.find((d) => d.kind === kind)!
  const container = () => of("Deployment")["spec"].template.spec.containers[0]

  it("grants only what the elector needs, on the one lease, in one namespace", () => {
    expect(all.some((d) => d.kind === "ClusterRole" || d.kind === "ClusterRoleBinding")).toBe(false)
    const rules = of("Role")["rules"] as Array<{ apiGroups: Array<string>; resources: Array<string>; verbs: Array<string>; resourceNames?: Array<string> }>
    expect(rules.every((r) => r.apiGroups.join() === "coordination.k8s.io" && r.resources.join() === "leases")).toBe(true)
    expect(rules.flatMap((r) => r.verbs).sort()).toEqual(["create", "get", "list", "update", "watch"])
    const named = rules.filter((r) => r.resourceNames !== undefined)
    const leaseName = container().env.find((e: { name: string }) => e.name === "LEASE_NAME").value
    expect(named.flatMap((r) => r.resourceNames)).toEqual([leaseName])
    expect(rules.find((r) => r.resourceNames === undefined)!.verbs).toEqual(["create"])
  })

  it("probes: readiness on the leader route, liveness and startup on /healthz, port 5047", () => {
    const c = container()
    expect(c.ports.find((p: { name: string }) => p.name === c.readinessProbe.httpGet.port).containerPort).toBe(5047)
    expect(c.readinessProbe.httpGet.path).toBe("/healthcheck")
    expect(c.livenessProbe.httpGet.path).toBe("/healthz")
    expect(c.startupProbe.httpGet.path).toBe("/healthz")
  })

  it("takes identity and namespace from the downward API and leaves time to stop the child", () => {
    const env = container().env as Array<{ name: string; valueFrom?: { fieldRef: { fieldPath: string } } }>
    expect(env.find((e) => e.name === "POD_NAME")!.valueFrom!.fieldRef.fieldPath).toBe("metadata.name")
    expect(env.find((e) => e.name === "POD_NAMESPACE")!.valueFrom!.fieldRef.fieldPath).toBe("metadata.namespace")
    expect(of("Deployment")["spec"].template.spec.terminationGracePeriodSeconds).toBeGreaterThan(4 + 2)
    expect(of("Deployment")["spec"].strategy.rollingUpdate.maxSurge).toBe(0)
  })

  it("runs as non-root, with an exec-form entrypoint in the image", () => {
    expect(of("Deployment")["spec"].template.spec.securityContext.runAsNonRoot).toBe(true)
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8")
    const lastStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "))
    expect(lastStage).toMatch(/^USER (?!root)\S+$/m)
    expect(lastStage).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/just-one-init", "--"\]$/m)
    expect(lastStage).not.toMatch(/^RUN .*tini/m)
  })
})
