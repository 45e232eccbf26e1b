/**
 * Breadth-first search over the model's states. A state is kept as its
 * canonical key only while it is in the frontier; the set of states seen holds
 * 64-bit fingerprints of the keys (as TLC does), with the parent and the move
 * that reached each, so that the shortest path to a violation can be replayed.
 */
import { Codec } from "./codec.ts"
import type { Model } from "./model.ts"
import type { Violation } from "./world.ts"

/** Open addressing over two 32-bit hashes of each key; ids are dense and stable. */
class Fingerprints {
  private hi: Int32Array
  private lo: Int32Array
  private slot: Int32Array
  private mask: number
  private count = 0
  parent: Int32Array
  move: Int32Array

  constructor(bits = 20) {
    const cap = 1 << bits
    this.hi = new Int32Array(cap)
    this.lo = new Int32Array(cap)
    this.slot = new Int32Array(cap)
    this.mask = cap - 1
    this.parent = new Int32Array(cap >> 1)
    this.move = new Int32Array(cap >> 1)
  }

  get size() {
    return this.count
  }

  /** The new state's id, or -1 when it was seen before. */
  add(h1: number, h2: number, parent: number, move: number): number {
    let k = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask
    while (this.slot[k] !== 0) {
      if (this.hi[k] === h1 && this.lo[k] === h2) return -1
      k = (k + 1) & this.mask
    }
    const id = this.count++
    this.hi[k] = h1
    this.lo[k] = h2
    this.slot[k] = id + 1
    if (id >= this.parent.length) {
      const p = new Int32Array(this.parent.length * 2)
      p.set(this.parent)
      this.parent = p
      const m = new Int32Array(this.move.length * 2)
      m.set(this.move)
      this.move = m
    }
    this.parent[id] = parent
    this.move[id] = move
    if (this.count * 2 > this.mask) this.grow()
    return id
  }

  private grow() {
    const { hi, lo, slot } = this
    const cap = slot.length * 2
    this.hi = new Int32Array(cap)
    this.lo = new Int32Array(cap)
    this.slot = new Int32Array(cap)
    this.mask = cap - 1
    for (let k = 0; k < slot.length; k++) {
      if (slot[k] === 0) continue
      let j = (hi[k]! ^ Math.imul(lo[k]!, 0x9e3779b1)) & this.mask
      while (this.slot[j] !== 0) j = (j + 1) & this.mask
      this.hi[j] = hi[k]!
      this.lo[j] = lo[k]!
      this.slot[j] = slot[k]!
    }
  }
}

/** FNV-1a and a murmur-style hash of the same characters: 64 bits between them. */
const hash = (key: string): [number, number] => {
  let h1 = 0x811c9dc5 | 0
  let h2 = 0x5bd1e995 | 0
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0xcc9e2d51)
    h2 = (h2 << 13) | (h2 >>> 19)
    h2 = Math.imul(h2, 5) + 0xe6546b64
  }
  h2 ^= key.length
  h2 ^= h2 >>> 16
  h2 = Math.imul(h2, 0x85ebca6b)
  h2 ^= h2 >>> 13
  h1 ^= h1 >>> 15
  return [h1 | 0, h2 | 0]
}

export interface Found {
  readonly violation: Violation
  /** Which initial state, then the index of each move among the enabled transitions. */
  readonly initial: number
  readonly moves: ReadonlyArray<number>
}

export interface Result {
  readonly states: number
  /** Transitions explored: states expanded times their moves. */
  readonly transitions: number
  /** Levels explored completely. */
  readonly depth: number
  readonly seconds: number
  readonly stoppedBy: "depth" | "time" | "exhausted" | "violation"
  readonly found: Found | undefined
  readonly initialKeys: ReadonlyArray<string>
  readonly codec: Codec
}

export interface SearchOptions {
  readonly depth: number
  readonly maxSeconds: number
  /** Called after each level: depth done, states so far, frontier size, seconds. */
  readonly onLevel?: (depth: number, states: number, frontier: number, seconds: number) => void
}

export const search = (model: Model, options: SearchOptions): Result => {
  const codec = new Codec(model)
  const seen = new Fingerprints()
  const started = performance.now()
  const seconds = () => (performance.now() - started) / 1000
  let transitions = 0
  const pathTo = (id: number): [number, Array<number>] => {
    const moves: Array<number> = []
    let at = id
    while (seen.parent[at]! >= 0) {
      moves.push(seen.move[at]!)
      at = seen.parent[at]!
    }
    return [seen.move[at]!, moves.reverse()]
  }
  const result = (
    depth: number,
    stoppedBy: Result["stoppedBy"],
    found: Found | undefined,
    initialKeys: ReadonlyArray<string>
  ): Result => ({ states: seen.size, transitions, depth, seconds: seconds(), stoppedBy, found, initialKeys, codec })

  const initialKeys: Array<string> = []
  let level: Array<string> = []
  let ids: Array<number> = []
  for (const [k, world] of model.initialWorlds().entries()) {
    const { key } = codec.encode(world)
    initialKeys.push(key)
    const violation = model.judge(world)
    if (violation !== undefined) return result(0, "violation", { violation, initial: k, moves: [] }, initialKeys)
    const [h1, h2] = hash(key)
    const id = seen.add(h1, h2, -1, k)
    if (id >= 0) {
      level.push(key)
      ids.push(id)
    }
  }

  for (let depth = 0; depth < options.depth; depth++) {
    const next: Array<string> = []
    const nextIds: Array<number> = []
    for (let n = 0; n < level.length; n++) {
      if ((n & 255) === 0 && seconds() > options.maxSeconds) return result(depth, "time", undefined, initialKeys)
      const world = codec.decode(level[n]!)
      const moves = model.enabled(world)
      transitions += moves.length
      for (let m = 0; m < moves.length; m++) {
        const out = model.apply(world, moves[m]!)
        if (out.violation !== undefined) {
          const [initial, path] = pathTo(ids[n]!)
          return result(depth, "violation", { violation: out.violation, initial, moves: [...path, m] }, initialKeys)
        }
        const { key } = codec.encode(out.world)
        const [h1, h2] = hash(key)
        const id = seen.add(h1, h2, ids[n]!, m)
        if (id >= 0) {
          next.push(key)
          nextIds.push(id)
        }
      }
    }
    options.onLevel?.(depth + 1, seen.size, next.length, seconds())
    if (next.length === 0) return result(depth + 1, "exhausted", undefined, initialKeys)
    level = next
    ids = nextIds
  }
  return result(options.depth, "depth", undefined, initialKeys)
}
