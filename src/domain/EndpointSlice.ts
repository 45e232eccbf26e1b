/**
 * Service mode's one EndpointSlice: what a leader writes so that a
 * selector-less Service points at it alone. The name is fixed per Service,
 * so every leader writes the same object and a new one replaces whatever an
 * old one left behind (a crashed one included) without reading it first.
 */
import type { LeaderService } from "./SettingsSchema.ts"

export const managedBy = "just-one-init"

/** One name per Service: the Role needs no get/list to find it, and two leaders' slices can never coexist. */
export const sliceName = (service: string) => `${service}-just-one-init`

export interface SliceOwner {
  readonly service: typeof LeaderService.Type
  /** This pod's name (downward API metadata.name), for targetRef; null when not known. */
  readonly podName: string | null
  /** This pod's namespace, for targetRef. */
  readonly podNamespace: string
}

/** The whole object, as an unconditional PUT (or a POST) sends it: identical each time, so a re-PUT writes nothing. */
export const leaderSlice = ({ podName, podNamespace, service }: SliceOwner) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: sliceName(service.name),
    namespace: service.namespace,
    labels: { "kubernetes.io/service-name": service.name, "endpointslice.kubernetes.io/managed-by": managedBy }
  },
  // The pod IP is canonical (Values.IpAddress): only IPv6 addresses hold a colon.
  addressType: service.podIp.includes(":") ? "IPv6" : "IPv4",
  endpoints: [{
    addresses: [service.podIp],
    conditions: { ready: true },
    ...(service.nodeName === null ? {} : { nodeName: service.nodeName }),
    ...(podName === null ? {} : { targetRef: { kind: "Pod", namespace: podNamespace, name: podName } })
  }],
  // The API server's defaults written out, so that what it stores equals what we send.
  ports: service.ports.map((p) => ({
    name: p.name ?? "",
    protocol: p.protocol ?? "TCP",
    port: p.port,
    ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol })
  }))
})
