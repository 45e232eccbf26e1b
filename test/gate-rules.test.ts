/**
 * The pass rules of the Kubernetes gates, as pure functions of the objects a
 * list shows (built as a cluster's controllers leave them: emulator/objects.ts),
 * label selectors as query text, discovery, and config templating.
 */
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { objects } from "../emulator/index.ts"
import * as Rules from "../src/domain/GateRules.ts"
import type { Gate } from "../src/domain/Gates.ts"
import { renderTemplate, templateValues } from "../src/domain/Template.ts"

const pending = (v: Rules.Verdict<unknown>) => (Result.isFailure(v) ? v.failure : "passed")
/** A stored object: the builders that need an owner's uid get one as the emulator would give it. */
const stored = <A extends { metadata: object }>(o: A): A => ({ ...o, metadata: { ...o.metadata, uid: "u-1" } })

describe("service", () => {
  it("passes on an EndpointSlice endpoint that is ready, or whose ready is unset", () => {
    expect(pending(Rules.endpointSlicesReady([]))).toBe("0 ready endpoints (no EndpointSlice)")
    const notReady = objects.endpointSlice({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: false }] })
    expect(pending(Rules.endpointSlicesReady([notReady]))).toBe("0 ready endpoints (1 not ready)")
    const ready = objects.endpointSlice({ service: "db", name: "db-2", endpoints: [{ ip: "10.0.0.2", ready: true }] })
    expect(pending(Rules.endpointSlicesReady([notReady, ready]))).toBe("passed")
    const unset = { ...notReady, endpoints: [{ addresses: ["10.0.0.3"], conditions: {} }] }
    expect(pending(Rules.endpointSlicesReady([unset]))).toBe("passed")
    const noAddress = { ...notReady, endpoints: [{ addresses: [], conditions: { ready: true } }] }
    expect(pending(Rules.endpointSlicesReady([noAddress]))).toBe("0 ready endpoints")
  })

  it("passes on Endpoints with a ready address", () => {
    expect(pending(Rules.endpointsReady([]))).toBe("0 ready endpoints (no Endpoints object)")
    const none = objects.endpoints({ service: "db", endpoints: [] })
    expect(pending(Rules.endpointsReady([none]))).toBe("0 ready endpoints")
    const notReady = objects.endpoints({ service: "db", endpoints: [{ ip: "10.0.0.1", ready: false }] })
    expect(pending(Rules.endpointsReady([notReady]))).toBe("0 ready endpoints (1 not ready)")
    const ready = objects.endpoints({
      service: "db",
      endpoints: [{ ip: "10.0.0.1" }, { ip: "10.0.0.2", ready: false }]
    })
    expect(pending(Rules.endpointsReady([ready]))).toBe("passed")
  })
})

describe("jobs", () => {
  it("one Job passes once it has succeeded", () => {
    expect(pending(Rules.jobSucceeded([]))).toBe("not found")
    expect(pending(Rules.jobSucceeded([objects.job({ name: "init", active: 1 })]))).toBe("not succeeded yet (1 active)")
    expect(pending(Rules.jobSucceeded([objects.job({ name: "init", failed: 2 })]))).toBe("not succeeded yet (2 failed)")
    expect(pending(Rules.jobSucceeded([objects.job({ name: "init", succeeded: 1 })]))).toBe("passed")
  })

  it("jobs by labels pass when there is one and every one has succeeded", () => {
    expect(pending(Rules.jobsSucceeded([]))).toBe("no job has these labels")
    const a = objects.job({ name: "a", succeeded: 1 })
    const b = objects.job({ name: "b", active: 1 })
    expect(pending(Rules.jobsSucceeded([a, b]))).toBe("1 of 2 not succeeded yet: b")
    expect(pending(Rules.jobsSucceeded([a, objects.job({ name: "b", succeeded: 1 })]))).toBe("passed")
  })
})

describe("daemonset", () => {
  const ds = stored(objects.daemonSet({ name: "agent", labels: { app: "agent" } }))

  it("reads the selector, expressions included", () => {
    expect(Rules.daemonSetSelector([ds])).toEqual(Result.succeed("app=agent"))
    const withExpressions = {
      ...ds,
      spec: {
        selector: {
          matchLabels: { app: "agent" },
          matchExpressions: [
            { key: "tier", operator: "In", values: ["a", "b"] },
            { key: "zone", operator: "NotIn", values: ["x"] },
            { key: "gpu", operator: "Exists" },
            { key: "old", operator: "DoesNotExist" }
          ]
        }
      }
    }
    expect(Rules.daemonSetSelector([withExpressions])).toEqual(
      Result.succeed("app=agent,tier in (a,b),zone notin (x),gpu,!old")
    )
    expect(pending(Rules.daemonSetSelector([]))).toBe("not found")
  })

  it("fails to pass when no pod of it is on this node, and passes on its pod there being Ready", () => {
    expect(pending(Rules.daemonSetPodReady([], "agent", "node-1"))).toBe("no pod of it on node node-1")
    // A pod with the labels that another controller owns does not count.
    const stray = objects.pod({ name: "stray", labels: { app: "agent" }, nodeName: "node-1", ready: true })
    expect(pending(Rules.daemonSetPodReady([stray], "agent", "node-1"))).toBe("no pod of it on node node-1")
    const starting = objects.daemonSetPod(ds, "node-1", { ready: false })
    expect(pending(Rules.daemonSetPodReady([starting], "agent", "node-1"))).toBe(
      "its pod agent-node1 on node node-1 is not Ready"
    )
    expect(pending(Rules.daemonSetPodReady([objects.daemonSetPod(ds, "node-1", { ready: true })], "agent", "node-1")))
      .toBe("passed")
  })
})

describe("pods and containers", () => {
  it("this pod's node", () => {
    expect(pending(Rules.podNode([], "web-0"))).toBe("this pod (web-0) not found, so its node is unknown")
    expect(pending(Rules.podNode([objects.pod({ name: "web-0" })], "web-0"))).toBe("this pod (web-0) has no node yet")
    expect(Rules.podNode([objects.pod({ name: "web-0", nodeName: "n1" })], "web-0")).toEqual(Result.succeed("n1"))
  })

  it("a container of this pod passes when its status is ready", () => {
    const containers = ["app", "sidecar"]
    expect(pending(Rules.containerReady([], "web-0", "sidecar"))).toBe("pod web-0 not found")
    expect(pending(Rules.containerReady([objects.pod({ name: "web-0", containers })], "web-0", "sidecar"))).toBe(
      "no container has started yet"
    )
    const notReady = objects.pod({ name: "web-0", containers, nodeName: "n1", ready: true, notReady: ["sidecar"] })
    expect(pending(Rules.containerReady([notReady], "web-0", "sidecar"))).toBe("not ready")
    expect(pending(Rules.containerReady([notReady], "web-0", "other"))).toBe("pod web-0 has no container other")
    expect(pending(Rules.containerReady([notReady], "web-0", "app"))).toBe("passed")
  })

  it("pods with labels pass when one of them is Ready", () => {
    expect(pending(Rules.podsReady([], null))).toBe("no pod has these labels")
    expect(pending(Rules.podsReady([], "n1"))).toBe("no pod has these labels on node n1")
    const a = objects.pod({ name: "a", nodeName: "n1", ready: false })
    const b = objects.pod({ name: "b", nodeName: "n1", phase: "Running", ready: true })
    expect(pending(Rules.podsReady([a], null))).toBe("1 pod, none Ready")
    expect(pending(Rules.podsReady([a, b], null))).toBe("passed")
  })
})

describe("custom resources", () => {
  const gate = (
    fields: Array<{ key: string; value: string }>,
    conditions: Array<{ type: string; status: string }>
  ): Extract<Gate, { _tag: "CustomResource" }> => ({
    _tag: "CustomResource",
    apiVersion: "example.com/v1",
    kind: "Widget",
    namespace: "default",
    name: "w",
    fields,
    conditions,
    label: "widget default/w (example.com/v1)",
    source: "DEPENDENCY_CUSTOM_RESOURCE"
  })
  const widget = {
    apiVersion: "example.com/v1",
    kind: "Widget",
    metadata: { name: "w" },
    spec: { replicas: 3, enabled: true },
    status: { phase: "Ready", conditions: [{ type: "Ready", status: "True" }, { type: "Degraded", status: "False" }] }
  }

  it("passes when every field has its value and every condition its status", () => {
    expect(pending(Rules.customResourceMatches([], gate([], [])))).toBe("not found")
    expect(pending(Rules.customResourceMatches([widget], gate([{ key: "status.phase", value: "Ready" }], []))))
      .toBe("passed")
    expect(pending(Rules.customResourceMatches([widget], gate([{ key: "status.phase", value: "Done" }], []))))
      .toBe(`field status.phase is "Ready", not "Done"`)
    expect(pending(Rules.customResourceMatches([widget], gate([{ key: "status.missing", value: "x" }], []))))
      .toBe("field status.missing is absent")
    // Numbers and booleans compare by their JSON text.
    const typed = [{ key: "spec.replicas", value: "3" }, { key: "spec.enabled", value: "true" }]
    expect(pending(Rules.customResourceMatches([widget], gate(typed, [])))).toBe("passed")
    expect(pending(Rules.customResourceMatches([widget], gate([], [{ type: "Ready", status: "True" }])))).toBe(
      "passed"
    )
    expect(pending(Rules.customResourceMatches([widget], gate([], [{ type: "Degraded", status: "True" }])))).toBe(
      "condition Degraded is False, not True"
    )
    expect(pending(Rules.customResourceMatches([widget], gate([], [{ type: "Synced", status: "True" }])))).toBe(
      "no condition Synced"
    )
  })

  it("finds the kind's resource in discovery", () => {
    const discovery = {
      kind: "APIResourceList",
      resources: [
        { name: "widgets/status", kind: "Widget", namespaced: true },
        { name: "widgets", kind: "Widget", namespaced: true }
      ]
    }
    expect(Rules.resourceOf(discovery, "example.com/v1", "Widget")).toEqual(
      Result.succeed({ plural: "widgets", namespaced: true })
    )
    expect(pending(Rules.resourceOf(discovery, "example.com/v1", "Gadget"))).toBe(
      "the API server serves no kind Gadget in example.com/v1"
    )
    expect(Rules.apiPath("v1")).toBe("/api/v1")
    expect(Rules.apiPath("example.com/v1")).toBe("/apis/example.com/v1")
  })
})

describe("config templates", () => {
  const values = templateValues("10.1.2.3", "web-0")

  it("fills {{ .IP }}, {{ .IP_ERLANG }} and {{ .HOSTNAME }} as Go's text/template does", () => {
    expect(renderTemplate("ip={{ .IP }} erl={{.IP_ERLANG}} host={{ .HOSTNAME }}\n", values)).toEqual(
      Result.succeed("ip=10.1.2.3 erl=10,1,2,3 host=web-0\n")
    )
    expect(renderTemplate("a  \n{{- .IP -}}\n  b", values)).toEqual(Result.succeed("a10.1.2.3b"))
    expect(renderTemplate("x {{/* a comment */}}y", values)).toEqual(Result.succeed("x y"))
    expect(renderTemplate("no actions {x} }}", values)).toEqual(Result.succeed("no actions {x} }}"))
  })

  it("names a field or an action it cannot do, and an unclosed action", () => {
    expect(pending(renderTemplate("{{ .PORT }}", values))).toBe(
      "no field PORT: a config template can use {{ .IP }}, {{ .IP_ERLANG }} and {{ .HOSTNAME }}"
    )
    expect(pending(renderTemplate("{{ if .IP }}x{{ end }}", values))).toMatch(/^unsupported action "\{\{ if \.IP \}\}"/)
    expect(pending(renderTemplate("a {{ .IP ", values))).toBe("an action opened with {{ is never closed")
  })
})
