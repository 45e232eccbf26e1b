/**
 * What the gate parsers (GateText.ts for flags and WAIT_FOR, GateJson.ts for
 * kubernetes-entrypoint's JSON variables) produce, before Gates.ts checks it
 * against the Gate schema: a kind and its fields, and the context a gate may
 * need besides its own text. Its own module, so the parsers and Gates.ts do
 * not import each other.
 */

/** Every kind of gate: the tags of the Gate schema (Gates.ts checks that they agree). */
export const gateKinds = [
  "Service",
  "Job",
  "JobSelector",
  "DaemonSet",
  "Container",
  "Pod",
  "File",
  "Socket",
  "Tcp",
  "Dns",
  "Http",
  "CustomResource",
  "Config"
] as const
export type GateKind = typeof gateKinds[number]

/** What gates may need besides their own text. */
export interface GateContext {
  /** For gates that name no namespace. */
  readonly namespace: string
  readonly podName: string | null
  readonly nodeName: string | null
  readonly interfaceName: string | null
}

/** A gate before it is checked: its fields without `label` and `source`. */
export type Draft = { readonly _tag: GateKind; readonly [field: string]: unknown }
