/**
 * What the API server sends about the objects that gates wait for, as
 * schemas. Any writer may leave odd values, so fields decode leniently: one
 * that does not fit reads as absent, and absence never makes a gate pass
 * (except an EndpointSlice's `ready`, which the API defines as ready when
 * unset).
 */
import { Schema } from "effect"
import { lenient } from "./Wire.ts"

const Strings = Schema.Array(Schema.String)
const Condition = Schema.Struct({ type: Schema.String, status: lenient(Schema.String) })
const Conditions = lenient(Schema.Array(Condition))

export const ObjectMeta = Schema.Struct({
  name: Schema.String,
  labels: lenient(Schema.Record(Schema.String, Schema.String)),
  ownerReferences: lenient(Schema.Array(Schema.Struct({ kind: Schema.String, name: Schema.String })))
})

/** Any object: what a list or watch needs to keep track of it. */
export const Named = Schema.Struct({ metadata: ObjectMeta })

export const EndpointSliceWire = Schema.Struct({
  metadata: ObjectMeta,
  endpoints: lenient(Schema.Array(Schema.Struct({
    addresses: lenient(Strings),
    conditions: lenient(Schema.Struct({ ready: lenient(Schema.Boolean) }))
  })))
})

export const EndpointsWire = Schema.Struct({
  metadata: ObjectMeta,
  subsets: lenient(Schema.Array(Schema.Struct({
    addresses: lenient(Schema.Array(Schema.Unknown)),
    notReadyAddresses: lenient(Schema.Array(Schema.Unknown))
  })))
})

const Count = lenient(Schema.Int)
export const JobWire = Schema.Struct({
  metadata: ObjectMeta,
  status: lenient(Schema.Struct({ succeeded: Count, active: Count, failed: Count, conditions: Conditions }))
})

export const PodWire = Schema.Struct({
  metadata: ObjectMeta,
  spec: lenient(Schema.Struct({ nodeName: lenient(Schema.String) })),
  status: lenient(Schema.Struct({
    phase: lenient(Schema.String),
    conditions: Conditions,
    containerStatuses: lenient(Schema.Array(Schema.Struct({ name: Schema.String, ready: lenient(Schema.Boolean) })))
  }))
})
export type PodWire = typeof PodWire.Type

export const LabelSelectorWire = Schema.Struct({
  matchLabels: lenient(Schema.Record(Schema.String, Schema.String)),
  matchExpressions: lenient(Schema.Array(Schema.Struct({
    key: Schema.String,
    operator: Schema.String,
    values: lenient(Strings)
  })))
})
export type LabelSelectorWire = typeof LabelSelectorWire.Type

export const DaemonSetWire = Schema.Struct({
  metadata: ObjectMeta,
  spec: lenient(Schema.Struct({ selector: lenient(LabelSelectorWire) }))
})

/** Any object's status conditions (custom resources follow the convention, when they do). */
export const WithConditions = Schema.Struct({ status: lenient(Schema.Struct({ conditions: Conditions })) })

/** Discovery of one group/version: its resources, to find a kind's plural and scope. */
export const ResourceListWire = Schema.Struct({
  resources: lenient(Schema.Array(Schema.Struct({
    name: Schema.String,
    kind: Schema.String,
    namespaced: lenient(Schema.Boolean)
  })))
})
