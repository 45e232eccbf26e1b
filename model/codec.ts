/**
 * States as compact canonical keys, and back. Two worlds that differ only in
 * what cannot matter get the same key:
 * - every time is taken relative to its replica's own clock, in steps, and
 *   clamped where older values can no longer change a decision (adapter.ts);
 * - resourceVersions and uids are renumbered in order of first appearance
 *   (step only ever compares them for equality);
 * - incarnations are "the replica's current one" or "an old one" (only the
 *   current one ever runs, and step compares them for equality);
 * - with symmetry on, replicas are put in a canonical order (they differ in
 *   nothing but their names).
 * Keys hold one-byte characters only. Decoding gives a world whose clocks all
 * read the same base time, which is as good as any other: only differences
 * of one replica's own times reach step.
 */
import type { LeaseView, Machine } from "./adapter.ts"
import { durationFields, isLeaseView, leaseView, plainFields, timeFields, viewFields } from "./adapter.ts"
import type { Model } from "./model.ts"
import type { Child, ReleaseJob, Replica, Req, ReqKind, Store, World } from "./world.ts"
import { baseSteps, incarnationName, ModelError, names, outsider, quiet } from "./world.ts"

const escape = "\u00ff"

/** One character for small integers, else an escape, digits and ';'. */
const num = (n: number): string =>
  n >= -128 && n < 127 && Number.isInteger(n)
    ? String.fromCharCode(n + 128)
    : `${escape}${n === Infinity ? "I" : n === -Infinity ? "J" : String(n)};`

interface Shape {
  readonly id: number
  readonly keys: ReadonlyArray<string>
}

interface Trie {
  readonly next: Map<string, Trie>
  shape: Shape | undefined
}

export class Codec {
  private readonly shapes = new Map<string, Shape>()
  private readonly trie: Trie = { next: new Map(), shape: undefined }
  private readonly shapeList: Array<Shape> = []
  private readonly strings = new Map<string, number>()
  private readonly stringList: Array<string> = []
  private readonly unit: number
  private readonly clamps: ReadonlyMap<string, number>
  private readonly reqClamp: number
  private readonly releaseClamp: number

  readonly model: Model

  constructor(model: Model) {
    this.model = model
    const t = model.settings.timing
    this.unit = t.unitMs
    this.clamps = new Map(Object.entries(timeFields).map(([k, f]) => [k, f(t)]))
    this.reqClamp = -Math.max(model.settings.requestTimeout + 1, t.renewDeadline + t.stopGrace)
    this.releaseClamp = -t.renewDeadline
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding

  encode(w: World): { readonly key: string; readonly perm: ReadonlyArray<number> } {
    const n = w.replicas.length
    if (!this.model.settings.symmetry || n === 1) return this.encodeAs(w, [...Array(n).keys()])
    if (n === 2) {
      // Both orders, the smaller key: exact.
      const a = this.encodeAs(w, [0, 1])
      const b = this.encodeAs(w, [1, 0])
      return a.key <= b.key ? a : b
    }
    // More replicas: sorted by a signature of each (ties keep their order, which is sound but may miss a match).
    const sigs = w.replicas.map((_, i) => new Writer(this, w, undefined, i).replica(i))
    const perm = [...Array(n).keys()].sort((a, b) => (sigs[a]! < sigs[b]! ? -1 : sigs[a]! > sigs[b]! ? 1 : a - b))
    return this.encodeAs(w, perm)
  }

  private encodeAs(
    w: World,
    perm: ReadonlyArray<number>
  ): { readonly key: string; readonly perm: ReadonlyArray<number> } {
    const pos = Array<number>(perm.length)
    perm.forEach((c, p) => (pos[c] = p))
    const out = new Writer(this, w, pos, -1)
    out.header()
    for (const c of perm) out.parts.push(out.replica(c))
    return { key: out.parts.join(""), perm }
  }

  string(s: string): number {
    let id = this.strings.get(s)
    if (id === undefined) {
      id = this.stringList.length
      this.strings.set(s, id)
      this.stringList.push(s)
    }
    return id
  }

  /** The object's shape (its keys, sorted), found through a trie on its keys in their own order. */
  shape(o: object): Shape {
    let node = this.trie
    for (const k in o) {
      let next = node.next.get(k)
      if (next === undefined) {
        next = { next: new Map(), shape: undefined }
        node.next.set(k, next)
      }
      node = next
    }
    if (node.shape === undefined) {
      const sorted = Object.keys(o).sort()
      const name = sorted.join(",")
      let shape = this.shapes.get(name)
      if (shape === undefined) {
        shape = { id: this.shapeList.length, keys: sorted }
        this.shapeList.push(shape)
        this.shapes.set(name, shape)
      }
      node.shape = shape
    }
    return node.shape
  }

  /** Steps from `clock` to `t`, clamped below at `min`. */
  rel(t: number, clock: number, min: number): string {
    if (!Number.isFinite(t)) return num(t)
    const steps = (t - clock) / this.unit
    if (!Number.isInteger(steps)) {
      throw new ModelError(`a time ${t - clock} ms from now is off the ${this.unit} ms grid`)
    }
    return num(Math.max(steps, min))
  }

  steps(ms: number): string {
    const steps = ms / this.unit
    if (!Number.isInteger(steps)) throw new ModelError(`a duration of ${ms} ms is off the ${this.unit} ms grid`)
    return num(steps)
  }

  clampOf(key: string): number | undefined {
    return this.clamps.get(key)
  }

  get requestClamp() {
    return this.reqClamp
  }
  get releaseJobClamp() {
    return this.releaseClamp
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding

  decode(key: string): World {
    return new Reader(this, key).world()
  }

  shapeById(id: number): Shape {
    return this.shapeList[id]!
  }
  stringById(id: number): string {
    return this.stringList[id]!
  }
}

/**
 * One encoding pass. With `pos` undefined it writes a replica's signature for sorting:
 * versions by what they are to that replica rather than by number.
 */
class Writer {
  readonly parts: Array<string> = []
  private readonly versions = new Map<string, number>()
  private readonly uids = new Map<string, number>()
  private clock = 0
  private readonly codec: Codec
  private readonly w: World
  private readonly pos: ReadonlyArray<number> | undefined
  private readonly self: number

  constructor(codec: Codec, w: World, pos: ReadonlyArray<number> | undefined, self: number) {
    this.codec = codec
    this.w = w
    this.pos = pos
    this.self = self
  }

  private replicaIndex(identity: string): number {
    return names.indexOf(identity)
  }

  view(v: LeaseView | undefined | null): string {
    if (v === null) return "N"
    if (v === undefined) return "U"
    if (v.resourceVersion === "") return "E"
    for (const k in v) {
      if (!viewFields.has(k) && (v as unknown as { readonly [k: string]: unknown })[k] !== undefined) {
        throw new ModelError(`the lease view has a field "${k}" that model/codec.ts does not encode`)
      }
    }
    const holderIndex = this.replicaIndex(v.holder)
    let inc = "u"
    if (v.incarnation !== undefined) {
      const [who, k] = v.incarnation.split("#") as [string, string]
      if (who === outsider) inc = "x"
      else {
        const r = this.w.replicas[this.replicaIndex(who)]
        inc = r !== undefined && r.up && Number(k) === r.inc ? "c" : "o"
      }
    }
    const dur = this.codec.steps(v.durationMs!)
    if (this.pos === undefined) {
      // A signature: the version as this replica sees it, and whether it is the store's.
      const holder = v.holder === "" ? "f" : v.holder === outsider ? "x" : holderIndex === this.self ? "s" : "o"
      const where = sameV(v, this.w.store.cur) ? "=" : sameV(v, this.w.store.prev) ? "-" : "?"
      return `W${holder}${inc}${dur}${where}`
    }
    const vkey = `${v.resourceVersion}|${v.uid}`
    const seen = this.versions.get(vkey)
    if (seen !== undefined) return `v${num(seen)}`
    const id = this.versions.size + 1
    this.versions.set(vkey, id)
    let uid = this.uids.get(v.uid!)
    if (uid === undefined) {
      uid = this.uids.size + 1
      this.uids.set(v.uid!, uid)
    }
    const holder = v.holder === "" ? "f" : v.holder === outsider ? "x" : num(this.pos[holderIndex]!)
    return `V${num(uid)}${holder}${inc}${dur}`
  }

  private value(x: unknown, key: string): string {
    switch (typeof x) {
      case "undefined":
        return "u"
      case "boolean":
        return x ? "t" : "f"
      case "string": {
        // A replica's identity, wherever step keeps one (observation.lastHolder): renamed with the replicas.
        const who = names.indexOf(x)
        if (who >= 0 && who < this.w.replicas.length) {
          if (this.pos === undefined) return who === this.self ? "rs" : "ro"
          return `r${num(this.pos[who]!)}`
        }
        return `s${num(this.codec.string(x))}`
      }
      case "number": {
        const clamp = this.codec.clampOf(key)
        if (clamp !== undefined) return `T${this.codec.rel(x, this.clock, clamp)}`
        if (durationFields.has(key)) return `D${this.codec.steps(x)}`
        if (plainFields.has(key)) return `i${num(x)}`
        throw new ModelError(
          `the machine has a number in field "${key}" that model/adapter.ts does not know: a time, a duration, or neither?`
        )
      }
      case "object": {
        if (x === null) return "n"
        if (Array.isArray(x)) return `a${num(x.length)}${x.map((y) => this.value(y, key)).join("")}`
        if (isLeaseView(x)) return this.view(x)
        const shape = this.codec.shape(x)
        let out = `o${num(shape.id)}`
        for (const k of shape.keys) out += this.value((x as { readonly [k: string]: unknown })[k], k)
        return out
      }
      default:
        throw new ModelError(`the machine holds a ${typeof x} in field "${key}"`)
    }
  }

  header(): void {
    const { store, progress, healthy } = this.w
    const s = this.codec.model.settings
    const held = store.cur !== undefined && store.cur.holder !== ""
    let bits = 0
    if (s.check.has("progress")) this.pos!.forEach((p, c) => (bits |= (healthy >> c) & 1 ? 1 << p : 0))
    this.parts.push(
      this.view(store.cur),
      this.view(store.prev),
      num(store.prev === null ? 0 : store.prevAge),
      num(held ? store.age : 0),
      num(store.cur === undefined ? 0 : store.holderAge),
      num(store.losses),
      num(s.check.has("progress") ? progress : -1),
      num(bits),
      num(this.w.faultsLeft),
      num(this.w.driftLeft),
      num(this.w.driftSince)
    )
  }

  replica(c: number): string {
    const r = this.w.replicas[c]!
    this.clock = r.clock
    if (!r.up) return `D${this.reqs(r)}`
    const flags = (r.frozen ? 1 : 0) | (r.childFrozen ? 2 : 0) | (r.partitioned ? 4 : 0) | (r.signalled ? 8 : 0)
      | (r.watchUp ? 16 : 0) | (r.watchOut ? 32 : 0) | (r.watchBroken ? 64 : 0) | (r.thawing ? 128 : 0)
    const s = this.codec.model.settings
    // In the order they are read back: versions are numbered as they are first written.
    let out = `R${num(flags)}`
    out += num(r.watchQueue.length)
    for (const v of r.watchQueue) out += this.view(v)
    out += this.value(r.machine, "")
    out += r.wakeAt === undefined ? "u" : `w${this.codec.rel(r.wakeAt, r.clock, 0)}`
    out += this.reqs(r)
    out += this.release(r.release)
    out += this.child(r.child)
    out += r.selfCode === undefined ? "u" : `x${num(r.selfCode)}`
    return out + num(s.check.has("releasing ends") ? r.releasing : 0)
  }

  private reqs(r: Replica): string {
    const parts = r.reqs.map((q) =>
      num(q.kind * 8 + q.phase * 2 + (q.orphan ? 1 : 0)) + this.codec.rel(q.at, r.clock, this.codec.requestClamp)
    )
    // A canonical order: by kind, phase and age; then the versions in that order.
    const order = [...parts.keys()].sort((a, b) => (parts[a]! < parts[b]! ? -1 : parts[a]! > parts[b]! ? 1 : a - b))
    let out = num(parts.length)
    for (const k of order) {
      const q = r.reqs[k]!
      out += parts[k]! + this.view(q.base) + (q.phase === 1 ? this.view(q.result) : "")
    }
    return out
  }

  private release(job: ReleaseJob | undefined): string {
    if (job === undefined) return "u"
    return `L${this.view(job.base)}${num(job.follows)}${this.codec.rel(job.at, this.clock, this.codec.releaseJobClamp)}`
  }

  private child(child: Child | undefined): string {
    if (child === undefined) return "u"
    return `C${num(child.kind * 2 + (child.byItself ? 1 : 0))}${
      child.kind === 2 ? this.codec.rel(child.deadline, this.clock, 0) : ""
    }`
  }
}

const sameV = (a: LeaseView, b: LeaseView | undefined | null) =>
  b !== undefined && b !== null && a.resourceVersion === b.resourceVersion && a.uid === b.uid

class Reader {
  private at = 0
  private readonly versions: Array<LeaseView> = [undefined as unknown as LeaseView]
  private uids = 0
  private readonly clock: number
  private readonly unit: number
  private readonly codec: Codec
  private readonly key: string

  constructor(codec: Codec, key: string) {
    this.codec = codec
    this.key = key
    this.unit = codec.model.unit
    this.clock = baseSteps * this.unit
  }

  private char(): string {
    return this.key[this.at++]!
  }

  private num(): number {
    const c = this.key.charCodeAt(this.at++)
    if (c !== 0xff) return c - 128
    const end = this.key.indexOf(";", this.at)
    const text = this.key.slice(this.at, end)
    this.at = end + 1
    return text === "I" ? Infinity : text === "J" ? -Infinity : Number(text)
  }

  private time(): number {
    const steps = this.num()
    return Number.isFinite(steps) ? this.clock + steps * this.unit : steps
  }

  private view(): LeaseView | undefined | null {
    const c = this.char()
    switch (c) {
      case "N":
        return null
      case "U":
        return undefined
      case "E":
        return leaseView({ resourceVersion: "", uid: "", holder: "", durationMs: 0, incarnation: undefined })
      case "v":
        return this.versions[this.num()]!
      case "V": {
        const uid = this.num()
        this.uids = Math.max(this.uids, uid)
        const h = this.char()
        const holderPos = h === "f" || h === "x" ? -1 : h.charCodeAt(0) - 128
        const holder = h === "f" ? "" : h === "x" ? outsider : names[holderPos]!
        const inc = this.char()
        const incarnation = inc === "u"
          ? undefined
          : inc === "x"
          ? `${outsider}#0`
          : incarnationName(holderPos, inc === "c" ? 1 : 0)
        const v = leaseView({
          resourceVersion: String(this.versions.length),
          uid: `u${uid}`,
          holder,
          durationMs: this.num() * this.unit,
          incarnation
        })
        this.versions.push(v)
        return v
      }
      default:
        throw new ModelError(`bad key: a version expected at ${this.at - 1}, found ${JSON.stringify(c)}`)
    }
  }

  private value(): unknown {
    const c = this.char()
    switch (c) {
      case "u":
        return undefined
      case "n":
        return null
      case "t":
        return true
      case "f":
        return false
      case "s":
        return this.codec.stringById(this.num())
      case "r":
        return names[this.num()]
      case "T":
        return this.time()
      case "D":
        return this.num() * this.unit
      case "i":
        return this.num()
      case "a": {
        const n = this.num()
        const out: Array<unknown> = []
        for (let k = 0; k < n; k++) out.push(this.value())
        return out
      }
      case "o": {
        const shape = this.codec.shapeById(this.num())
        const o: { [k: string]: unknown } = {}
        for (const k of shape.keys) o[k] = this.value()
        return o
      }
      default:
        this.at--
        return this.view()
    }
  }

  world(): World {
    const cur = this.view() as LeaseView | undefined
    const prev = this.view()
    const prevAge = this.num()
    const age = this.num()
    const holderAge = this.num()
    const losses = this.num()
    const progress = this.num()
    const healthy = this.num()
    const faultsLeft = this.num()
    const driftLeft = this.num()
    const driftSince = this.num()
    const store: Store = { cur, prev, prevAge, age, holderAge, losses }
    const replicas: Array<Replica> = []
    const n = this.codec.model.settings.replicas
    for (let p = 0; p < n; p++) replicas.push(this.replica())
    return {
      store,
      replicas,
      progress,
      healthy,
      nextRv: this.versions.length,
      nextUid: this.uids + 1,
      faultsLeft,
      driftLeft,
      driftSince
    }
  }

  private reqs(): Array<Req> {
    const n = this.num()
    const out: Array<Req> = []
    for (let k = 0; k < n; k++) {
      const bits = this.num()
      const at = this.time()
      const base = this.view() as LeaseView | undefined
      const phase = ((bits >> 1) & 3) as 0 | 1 | 2
      const result = phase === 1 ? this.view() as LeaseView : undefined
      const orphan = (bits & 1) === 1
      out.push({ kind: (bits >> 3) as ReqKind, base, at, phase, result, orphan, inc: orphan ? 0 : 1 })
    }
    return out
  }

  private replica(): Replica {
    const tag = this.char()
    const common = { clock: this.clock }
    if (tag === "D") {
      return { ...common, ...quiet, up: false, inc: 0, machine: this.codec.model.election.initial, reqs: this.reqs() }
    }
    const flags = this.num()
    const queued = this.num()
    const watchQueue: Array<LeaseView> = []
    for (let k = 0; k < queued; k++) watchQueue.push(this.view() as LeaseView)
    const machine = this.value() as Machine
    const wakeAt = this.char() === "u" ? undefined : this.time()
    const reqs = this.reqs()
    let release: ReleaseJob | undefined
    if (this.char() === "L") {
      const base = this.view() as LeaseView
      const follows = this.num()
      release = { base, follows, at: this.time() }
    }
    let child: Child | undefined
    if (this.char() === "C") {
      const bits = this.num()
      const kind = (bits >> 1) as 1 | 2
      child = { kind, byItself: (bits & 1) === 1, deadline: kind === 2 ? this.time() : 0 }
    }
    const selfCode = this.char() === "u" ? undefined : this.num()
    const releasing = this.num()
    return {
      ...common,
      up: true,
      inc: 1,
      machine,
      wakeAt,
      frozen: (flags & 1) !== 0,
      childFrozen: (flags & 2) !== 0,
      partitioned: (flags & 4) !== 0,
      signalled: (flags & 8) !== 0,
      watchUp: (flags & 16) !== 0,
      watchOut: (flags & 32) !== 0,
      watchQueue,
      watchBroken: (flags & 64) !== 0,
      thawing: (flags & 128) !== 0,
      reqs,
      release,
      child,
      selfCode,
      releasing
    }
  }
}
