/**
 * What the API server sends, as schemas: Lease objects, watch lines,
 * `Status` bodies, and the identity of an object just written. Other writers may leave anything in a Lease (missing
 * fields, nulls, odd times, huge numbers), so every spec field decodes
 * leniently: a field that does not fit is read as absent, and what absence
 * means is decided in Lease.ts, always on the conservative side.
 */
import { Effect, Option, Schema } from "effect"

/** A field that decodes as absent when it does not fit, instead of failing the whole object. */
export const lenient = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(schema.pipe(Schema.catchDecoding(() => Effect.succeedNone)))

const Int32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2_147_483_646 }))

/** The holder we report for a spec that is not an object: held by someone we cannot name, so never "free". */
/** Any JSON document, or none. */
export const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

export const unreadableHolder = "<unreadable spec>"

export const LeaseSpecWire = Schema.Struct({
  holderIdentity: lenient(Schema.String),
  leaseDurationSeconds: lenient(Int32.check(Schema.isGreaterThan(0))),
  leaseTransitions: lenient(Int32),
  acquireTime: lenient(Schema.String),
  renewTime: lenient(Schema.String),
  /** Kubernetes 1.31+ (the CoordinatedLeaderElection gate): whom the holder should hand over to. */
  preferredHolder: lenient(Schema.String)
})

export const LeaseWire = Schema.Struct({
  metadata: Schema.Struct({
    resourceVersion: Schema.String,
    uid: Schema.optionalKey(Schema.String),
    annotations: lenient(Schema.Record(Schema.String, Schema.String))
  }),
  spec: lenient(
    Schema.NullOr(LeaseSpecWire).pipe(
      Schema.catchDecoding(() => Effect.succeed(Option.some({ holderIdentity: unreadableHolder })))
    )
  )
})
export type LeaseWire = typeof LeaseWire.Type

/** What a write of any object answers that a later precondition needs: its uid and resourceVersion. */
export const WrittenWire = Schema.Struct({
  metadata: Schema.Struct({ uid: Schema.String, resourceVersion: Schema.String })
})

/** A list of any kind: its items as they came, and the resourceVersion a watch resumes from. */
export const ListWire = Schema.Struct({
  metadata: lenient(Schema.Struct({ resourceVersion: lenient(Schema.String) })),
  items: lenient(Schema.Array(Schema.Unknown))
})

/** One line of a watch stream. */
export const WatchLine = Schema.fromJsonString(Schema.Struct({
  type: Schema.Literals(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]),
  object: Schema.Unknown
}))
export type WatchLine = typeof WatchLine.Type

/** The object of a BOOKMARK (or of any event, where only its resourceVersion matters). */
export const BookmarkObject = Schema.Struct({ metadata: Schema.Struct({ resourceVersion: Schema.String }) })

/** A `Status` body, as the API server sends with every error (and in watch ERROR events). */
export const StatusWire = Schema.Struct({
  code: lenient(Schema.Int),
  reason: lenient(Schema.String),
  message: lenient(Schema.String),
  details: lenient(Schema.Struct({
    kind: lenient(Schema.String),
    name: lenient(Schema.String),
    retryAfterSeconds: lenient(Schema.Int)
  }))
})
export type StatusWire = typeof StatusWire.Type

export const decodeLease = Schema.decodeUnknownOption(LeaseWire)
export const decodeWrittenText = Schema.decodeUnknownOption(Schema.fromJsonString(WrittenWire))
export const decodeWatchLine = Schema.decodeUnknownOption(WatchLine)
export const decodeListText = Schema.decodeUnknownOption(Schema.fromJsonString(ListWire))
export const decodeBookmark = Schema.decodeUnknownOption(BookmarkObject)
export const decodeStatus = Schema.decodeUnknownOption(StatusWire)
export const decodeStatusText = Schema.decodeUnknownOption(Schema.fromJsonString(StatusWire))

/** The server's own words about a refusal: its Status message, else the start of the body on one line. */
export const serverMessage = (text: string): string => {
  const message = Option.getOrUndefined(decodeStatusText(text))?.message
  return message !== undefined ? message.slice(0, 300) : text.slice(0, 120).replace(/\s+/g, " ").trim()
}
