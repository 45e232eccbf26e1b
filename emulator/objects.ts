/**
 * Builders of realistic objects for tests and scripts, shaped as a cluster's
 * controllers and kubelet leave them (conditions, containerStatuses,
 * ownerReferences, the EndpointSlice service-name label). Store them with
 * emu.putObject(); the emulator runs no controllers.
 */
import type { KubeObject, OwnerReference } from "./types.ts"

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

export const ownerReference = (owner: KubeObject, controller = true): OwnerReference => {
  if (owner.metadata.uid === undefined) {
    throw new Error(`ownerReference: ${owner.kind} ${owner.metadata.name} has no uid (put it first)`)
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    ...(controller ? { controller: true, blockOwnerDeletion: true } : {})
  }
}

export interface PodOptions {
  name: string
  namespace?: string
  labels?: Record<string, string>
  /** Default: one container "main". */
  containers?: ReadonlyArray<string>
  nodeName?: string
  /** Default "Running" when ready or notReady containers are given, else "Pending". */
  phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown"
  /** Every container ready (default false). */
  ready?: boolean
  /** Names of containers that are not ready although the pod is otherwise ready. */
  notReady?: ReadonlyArray<string>
  podIP?: string
  ownerReferences?: ReadonlyArray<OwnerReference>
}

/** A Pod as the kubelet reports it: status.conditions (Ready, ContainersReady ...) and containerStatuses[].ready. */
export const pod = (o: PodOptions): KubeObject => {
  const containers = o.containers ?? ["main"]
  const scheduled = o.nodeName !== undefined
  const phase = o.phase ?? (scheduled ? "Running" : "Pending")
  const running = phase === "Running"
  const readyOf = (c: string) => running && (o.ready ?? false) && !(o.notReady ?? []).includes(c)
  const allReady = containers.every(readyOf)
  const t = now()
  const condition = (type: string, status: boolean) => ({
    type,
    status: status ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: t
  })
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: o.name,
      namespace: o.namespace ?? "default",
      ...(o.labels === undefined ? {} : { labels: { ...o.labels } }),
      ...(o.ownerReferences === undefined ? {} : { ownerReferences: [...o.ownerReferences] })
    },
    spec: {
      containers: containers.map((name) => ({
        name,
        image: `registry.example/${name}:1.0`,
        imagePullPolicy: "IfNotPresent"
      })),
      restartPolicy: "Always",
      ...(scheduled ? { nodeName: o.nodeName } : {})
    },
    status: {
      phase,
      conditions: scheduled
        ? [
          condition("PodReadyToStartContainers", running),
          condition("Initialized", true),
          condition("Ready", allReady),
          condition("ContainersReady", allReady),
          condition("PodScheduled", true)
        ]
        : [condition("PodScheduled", false)],
      ...(scheduled
        ? { hostIP: "10.0.0.1", podIP: o.podIP ?? "10.244.0.10", podIPs: [{ ip: o.podIP ?? "10.244.0.10" }] }
        : {}),
      ...(running ? { startTime: t } : {}),
      ...(scheduled
        ? {
          containerStatuses: containers.map((name) => ({
            name,
            ready: readyOf(name),
            restartCount: 0,
            started: running,
            image: `registry.example/${name}:1.0`,
            imageID: `registry.example/${name}@sha256:${"0".repeat(64)}`,
            containerID: `containerd://${"1".repeat(64)}`,
            state: running ? { running: { startedAt: t } } : { waiting: { reason: "ContainerCreating" } }
          }))
        }
        : {}),
      qosClass: "BestEffort"
    }
  }
}

/** A DaemonSet selecting `labels`, with its controller's status counts. */
export const daemonSet = (o: {
  name: string
  namespace?: string
  labels: Record<string, string>
  desired?: number
  ready?: number
}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name: o.name, namespace: o.namespace ?? "default", labels: { ...o.labels } },
  spec: {
    selector: { matchLabels: { ...o.labels } },
    template: {
      metadata: { labels: { ...o.labels } },
      spec: { containers: [{ name: "main", image: "registry.example/main:1.0" }] }
    }
  },
  status: {
    currentNumberScheduled: o.desired ?? 0,
    numberMisscheduled: 0,
    desiredNumberScheduled: o.desired ?? 0,
    numberReady: o.ready ?? 0,
    numberAvailable: o.ready ?? 0,
    updatedNumberScheduled: o.desired ?? 0,
    observedGeneration: 1
  }
})

/** The DaemonSet's pod on a node: its labels, ownerReferences to it (the stored DaemonSet: it needs a uid), spec.nodeName. */
export const daemonSetPod = (ds: KubeObject, node: string, o: Partial<PodOptions> = {}): KubeObject =>
  pod({
    name: `${ds.metadata.name}-${node.replace(/[^a-z0-9]/g, "").slice(0, 5)}`,
    namespace: ds.metadata.namespace ?? "default",
    labels: { ...ds.metadata.labels, "controller-revision-hash": "6d4f8b9c7", "pod-template-generation": "1" },
    ownerReferences: [ownerReference(ds)],
    nodeName: node,
    ...o
  })

/** A Job and the status its controller writes: succeeded > 0 and a Complete condition when complete. */
export const job = (o: {
  name: string
  namespace?: string
  labels?: Record<string, string>
  active?: number
  succeeded?: number
  failed?: number
}): KubeObject => {
  const t = now()
  const done = (o.succeeded ?? 0) > 0
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: o.name,
      namespace: o.namespace ?? "default",
      ...(o.labels === undefined ? {} : { labels: { ...o.labels } })
    },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      template: {
        metadata: { labels: { "job-name": o.name, "batch.kubernetes.io/job-name": o.name } },
        spec: { restartPolicy: "Never", containers: [{ name: "main", image: "registry.example/main:1.0" }] }
      }
    },
    status: {
      startTime: t,
      ...(o.active === undefined ? {} : { active: o.active }),
      ...(o.succeeded === undefined ? {} : { succeeded: o.succeeded }),
      ...(o.failed === undefined ? {} : { failed: o.failed }),
      ...(done
        ? {
          completionTime: t,
          conditions: [
            { type: "SuccessCriteriaMet", status: "True", lastProbeTime: t, lastTransitionTime: t },
            { type: "Complete", status: "True", lastProbeTime: t, lastTransitionTime: t }
          ]
        }
        : {}),
      ready: 0,
      terminating: 0,
      uncountedTerminatedPods: {}
    }
  }
}

/** A ClusterIP Service selecting `selector`. */
export const service = (o: {
  name: string
  namespace?: string
  selector?: Record<string, string>
  ports?: ReadonlyArray<{ name?: string; port: number; targetPort?: number }>
}): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: o.name, namespace: o.namespace ?? "default" },
  spec: {
    type: "ClusterIP",
    ...(o.selector === undefined ? {} : { selector: { ...o.selector } }),
    ports: (o.ports ?? [{ port: 80 }]).map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      protocol: "TCP",
      port: p.port,
      targetPort: p.targetPort ?? p.port
    }))
  },
  status: { loadBalancer: {} }
})

export interface EndpointOptions {
  ip: string
  ready?: boolean
  nodeName?: string
  /** The pod behind it. */
  pod?: string
}

/** An EndpointSlice of a Service as the EndpointSlice controller writes it (label kubernetes.io/service-name). */
export const endpointSlice = (o: {
  service: string
  name?: string
  namespace?: string
  endpoints: ReadonlyArray<EndpointOptions>
  ports?: ReadonlyArray<{ name?: string; port: number }>
}): KubeObject => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: o.name ?? `${o.service}-abcde`,
    namespace: o.namespace ?? "default",
    labels: {
      "kubernetes.io/service-name": o.service,
      "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
    }
  },
  addressType: "IPv4",
  endpoints: o.endpoints.map((e) => ({
    addresses: [e.ip],
    conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
    ...(e.nodeName === undefined ? {} : { nodeName: e.nodeName }),
    ...(e.pod === undefined ? {} : { targetRef: { kind: "Pod", namespace: o.namespace ?? "default", name: e.pod } })
  })),
  ports: (o.ports ?? [{ port: 80 }]).map((p) => ({ name: p.name ?? "", protocol: "TCP", port: p.port }))
})

/** The Endpoints of a Service: ready addresses in addresses, the others in notReadyAddresses. */
export const endpoints = (o: {
  service: string
  namespace?: string
  endpoints: ReadonlyArray<EndpointOptions>
  ports?: ReadonlyArray<{ name?: string; port: number }>
}): KubeObject => {
  const address = (e: EndpointOptions) => ({
    ip: e.ip,
    ...(e.nodeName === undefined ? {} : { nodeName: e.nodeName }),
    ...(e.pod === undefined ? {} : { targetRef: { kind: "Pod", namespace: o.namespace ?? "default", name: e.pod } })
  })
  const ready = o.endpoints.filter((e) => e.ready ?? true).map(address)
  const notReady = o.endpoints.filter((e) => !(e.ready ?? true)).map(address)
  return {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: o.service, namespace: o.namespace ?? "default" },
    ...(o.endpoints.length === 0 ? {} : {
      subsets: [{
        ...(ready.length === 0 ? {} : { addresses: ready }),
        ...(notReady.length === 0 ? {} : { notReadyAddresses: notReady }),
        ports: (o.ports ?? [{ port: 80 }]).map((p) => ({
          ...(p.name === undefined ? {} : { name: p.name }),
          port: p.port,
          protocol: "TCP"
        }))
      }]
    })
  }
}
