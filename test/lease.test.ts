/**
 * Leases that other writers leave behind, read by the elector's lenient
 * decoder, and the expiry arithmetic that keeps the promise with them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import {
  acquireSpec,
  fromJson,
  incarnationAnnotation,
  isOurs,
  microTime,
  observe,
  parseMicros,
  preferredHolderAnnotation,
  releaseSpec,
  renewSpec,
  takeableAt,
  unreadableHolder,
  withSpec
} from "../src/domain/Lease.ts"

const meta = { name: "l", namespace: "default", resourceVersion: "7", uid: "u" }
const own = 15_000

describe("lease decoding", () => {
  it("reads a client-go lease", () => {
    const l = fromJson({
      metadata: meta,
      spec: {
        holderIdentity: "a",
        leaseDurationSeconds: 15,
        acquireTime: "2026-01-01T00:00:00.123456Z",
        renewTime: "2026-01-01T00:00:05.654321Z",
        leaseTransitions: 3
      }
    })!
    expect([l.holder, l.durationMs, l.transitions, l.resourceVersion, l.uid]).toEqual(["a", 15_000, 3, "7", "u"])
  })

  it.each(
    [
      ["missing spec", {}, { holder: "", durationMs: undefined, transitions: 0 }],
      ["null spec", null, { holder: "", durationMs: undefined, transitions: 0 }],
      ["null fields", {
        holderIdentity: null,
        leaseDurationSeconds: null,
        renewTime: null,
        acquireTime: null,
        leaseTransitions: null
      }, { holder: "", durationMs: undefined, transitions: 0 }],
      ["zero duration", { holderIdentity: "x", leaseDurationSeconds: 0 }, {
        holder: "x",
        durationMs: undefined,
        transitions: 0
      }],
      ["negative duration", { holderIdentity: "x", leaseDurationSeconds: -5 }, {
        holder: "x",
        durationMs: undefined,
        transitions: 0
      }],
      ["fractional duration", { holderIdentity: "x", leaseDurationSeconds: 1.5 }, {
        holder: "x",
        durationMs: undefined,
        transitions: 0
      }],
      ["string duration", { holderIdentity: "x", leaseDurationSeconds: "15" }, {
        holder: "x",
        durationMs: undefined,
        transitions: 0
      }],
      ["enormous transitions", { holderIdentity: "x", leaseDurationSeconds: 15, leaseTransitions: 1e300 }, {
        holder: "x",
        durationMs: 15_000,
        transitions: 0
      }],
      ["times with 3 or 9 digits and offsets", {
        holderIdentity: "x",
        leaseDurationSeconds: 15,
        renewTime: "2026-01-01T00:00:00.123+02:00",
        acquireTime: "2026-01-01T00:00:00.123456789Z"
      }, { holder: "x", durationMs: 15_000, transitions: 0 }],
      ["a 10 kB holder", { holderIdentity: "h".repeat(10_240), leaseDurationSeconds: 15 }, {
        holder: "h".repeat(10_240),
        durationMs: 15_000,
        transitions: 0
      }],
      ["a holder that is not a string", { holderIdentity: 42 }, { holder: "", durationMs: undefined, transitions: 0 }],
      ["a spec that is not an object", "garbage", { holder: unreadableHolder, durationMs: undefined, transitions: 0 }]
    ] as const
  )("tolerates %s", (_name, spec, expected) => {
    const l = fromJson({ metadata: meta, spec })!
    expect({ holder: l.holder, durationMs: l.durationMs, transitions: l.transitions }).toEqual(expected)
  })

  it.each([["not an object", "<html>502</html>"], ["no metadata", { spec: {} }], ["no resourceVersion", {
    metadata: { name: "x" }
  }], ["null", null]])("refuses %s", (_n, json) => {
    expect(fromJson(json)).toBeUndefined()
  })

  it.prop("never throws and never invents a holder, whatever the JSON", [Schema.Unknown], ([json]) => {
    const l = fromJson({ metadata: meta, spec: json })
    return l !== undefined && typeof l.holder === "string" && (l.durationMs === undefined || l.durationMs >= 1000)
      && l.transitions >= 0
  })

  it("writes MicroTime with exactly six fractional digits in UTC", () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe("2026-01-02T03:04:05.678000Z")
  })

  it("writes over the spec and keeps every other field of the object, dropping managedFields", () => {
    const l = fromJson({
      metadata: { ...meta, labels: { a: "b" }, managedFields: [{}] },
      spec: { holderIdentity: "x", strategy: "OldestEmulationVersion" }
    })!
    const next = withSpec(l, {
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: "t",
      renewTime: "t",
      leaseTransitions: 1
    }) as { metadata: Record<string, unknown>; spec: Record<string, unknown> }
    expect(next.metadata).toEqual({ ...meta, labels: { a: "b" } })
    expect(next.spec).toMatchObject({ holderIdentity: "me", strategy: "OldestEmulationVersion" })
  })
})

describe("expiry by local observation", () => {
  const lease = (holder: string, rv: string, seconds?: number, uid = "u") =>
    fromJson({
      metadata: { ...meta, resourceVersion: rv, uid },
      spec: { holderIdentity: holder, ...(seconds === undefined ? {} : { leaseDurationSeconds: seconds }) }
    })!

  it("restarts the clock only when the record changes", () => {
    const o1 = observe(undefined, lease("a", "1", 15), 1_000)
    const o2 = observe(o1, lease("a", "1", 15), 9_000)
    expect(takeableAt(o2, own)).toBe(16_000)
    const o3 = observe(o2, lease("a", "2", 15), 10_000)
    expect(takeableAt(o3, own)).toBe(25_000)
  })

  it("a free lease may be taken at once", () => {
    expect(takeableAt(observe(undefined, lease("", "1", 1), 5_000), own)).toBe(Number.NEGATIVE_INFINITY)
  })

  it("an unreadable duration counts as our own, never as zero", () => {
    expect(takeableAt(observe(undefined, lease("a", "1", 0), 1_000), own)).toBe(16_000)
    expect(takeableAt(observe(undefined, lease("a", "1"), 1_000), own)).toBe(16_000)
  })

  it("a deleted lease still waits out its last holder; a re-created one (new uid) is a change", () => {
    const held = observe(undefined, lease("a", "1", 15), 1_000)
    const gone = observe(held, undefined, 3_000)
    expect(takeableAt(gone, own)).toBe(18_000)
    const recreated = observe(gone, lease("b", "1", 15, "u2"), 4_000)
    expect(takeableAt(recreated, own)).toBe(19_000)
  })

  it("a lease found absent with no holder known is waited out for our own duration, even after a release's 1 s", () => {
    expect(takeableAt(observe(undefined, undefined, 1_000), own)).toBe(16_000)
    const free = observe(undefined, lease("", "1", 1), 1_000)
    expect(takeableAt(observe(free, undefined, 2_000), own)).toBe(17_000)
  })
})

describe("the spec each write sends", () => {
  const me = { identity: "me", incarnation: "i1", durationSeconds: 15 }
  const held = (holder: string, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}) =>
    fromJson({
      metadata: { ...meta, annotations },
      spec: { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 4, ...spec }
    })!
  const t0 = Date.UTC(2026, 0, 1)

  it("every acquire counts a transition, one by our own identity too: the count is the child's fencing token", () => {
    expect(acquireSpec(undefined, me, t0).leaseTransitions).toBe(0)
    expect(acquireSpec(held("other"), me, t0).leaseTransitions).toBe(5)
    expect(acquireSpec(held(""), me, t0).leaseTransitions).toBe(5)
    expect(acquireSpec(held("me"), me, t0).leaseTransitions).toBe(5)
    expect(acquireSpec(held("other"), me, t0)).toMatchObject({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: "2026-01-01T00:00:00.000000Z",
      renewTime: "2026-01-01T00:00:00.000000Z"
    })
  })

  it("a renew keeps acquireTime and the transitions", () => {
    const base = held("me", { acquireTime: "2025-12-31T23:00:00.123456Z", renewTime: "2025-12-31T23:59:58.000000Z" })
    expect(renewSpec(base, me, t0)).toEqual({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: "2025-12-31T23:00:00.123456Z",
      renewTime: "2026-01-01T00:00:00.000000Z",
      leaseTransitions: 4
    })
  })

  it("a renew's renewTime is strictly later than the stored one, even when the wall clock repeats or goes back", () => {
    const stored = "2026-01-01T00:00:00.000000Z"
    const base = held("me", { renewTime: stored })
    expect(renewSpec(base, me, t0).renewTime).toBe("2026-01-01T00:00:00.000001Z")
    expect(renewSpec(base, me, t0 - 3_600_000).renewTime).toBe("2026-01-01T00:00:00.000001Z")
    let lease = base
    for (let i = 0; i < 5; i++) {
      const next = renewSpec(lease, me, t0)
      expect(parseMicros(next.renewTime)!).toBeGreaterThan(parseMicros(lease.renewTime)!)
      lease = fromJson(withSpec(lease, next, me.incarnation))!
    }
  })

  it("a release hands the lease back as client-go does: no holder, one second, transitions kept", () => {
    expect(releaseSpec(held("me"), t0)).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: "2026-01-01T00:00:00.000000Z",
      renewTime: "2026-01-01T00:00:00.000000Z",
      leaseTransitions: 4
    })
  })

  it("a write claims the lease for this incarnation; ours means our identity and our incarnation", () => {
    const base = held("other", {}, { keep: "x" })
    const object = withSpec(base, acquireSpec(base, me, t0), me.incarnation) as { metadata: { annotations: unknown } }
    expect(object.metadata.annotations).toEqual({ keep: "x", [incarnationAnnotation]: "i1" })
    const ours = fromJson(object)!
    expect(isOurs(ours, me)).toBe(true)
    expect(isOurs(held("me", {}, { [incarnationAnnotation]: "i0" }), me)).toBe(false)
    expect(isOurs(held("me"), me)).toBe(false)
  })

  it("a handover asked for is read from spec.preferredHolder or the annotation, kept by a release, cleared by a claim", () => {
    expect(held("a", { preferredHolder: "b", strategy: "just-one-init/handover" }).preferredHolder).toBe("b")
    expect(held("a", {}, { [preferredHolderAnnotation]: "c" }).preferredHolder).toBe("c")
    expect(held("a", { preferredHolder: "" }).preferredHolder).toBeUndefined()
    expect(held("a").preferredHolder).toBeUndefined()
    const asked = held("me", { preferredHolder: "b", strategy: "s/t" }, { [preferredHolderAnnotation]: "b", keep: "x" })
    const released = withSpec(asked, releaseSpec(asked, t0)) as { metadata: { annotations: unknown }; spec: unknown }
    expect(fromJson(released)!.preferredHolder).toBe("b")
    for (const claim of [acquireSpec(asked, me, t0), renewSpec(asked, me, t0)]) {
      const object = withSpec(asked, claim, me.incarnation) as { metadata: { annotations: unknown }; spec: unknown }
      expect(fromJson(object)!.preferredHolder).toBeUndefined()
      expect(object.metadata.annotations).toEqual({ keep: "x", [incarnationAnnotation]: "i1" })
      expect(object.spec).toMatchObject({ strategy: "s/t" })
    }
  })

  it("reads MicroTime with 0 to 9 digits and offsets", () => {
    expect(parseMicros("2026-01-01T00:00:00Z")).toBe(t0 * 1000)
    expect(parseMicros("2026-01-01T02:00:00.5+02:00")).toBe(t0 * 1000 + 500_000)
    expect(parseMicros("2026-01-01T00:00:00.123456789Z")).toBe(t0 * 1000 + 123_456)
    expect(parseMicros("yesterday")).toBeUndefined()
  })
})
