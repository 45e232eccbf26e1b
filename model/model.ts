/**
 * The model's transitions: which are enabled in a state, and what each does.
 * Each replica is the real `step` (through adapter.ts) fed the events the
 * runtime would feed it, its commands carried out as src/services/Elector.ts,
 * LeaseCommands.ts, Leadership.ts and LeaseWatch.ts carry them out. Time is
 * counted in steps; every replica has its own local clock in ms.
 */
import type { ElectionModule, LeaseView } from "./adapter.ts"
import {
  actionOf,
  callStep,
  events,
  eventText,
  isContending,
  isExiting,
  isReleasing,
  leaseView,
  stateTag,
  timingOf
} from "./adapter.ts"
import type { Child, Faults, Outcome, Record, Replica, Req, Settings, Transition, Violation, World } from "./world.ts"
import {
  baseSteps,
  incarnationName,
  ModelError,
  names,
  noFaults,
  outsider,
  quiet,
  ReqKind,
  sameVersion,
  selfExitCode
} from "./world.ts"

const bit = (i: number) => 1 << i

/** The checker's view of the world: its settings and the election module under test. */
/** The outcome of a move that broke invariant 4. */
const exitCodes = (world: World, detail: string) => ({ world, violation: { invariant: "exit codes" as const, detail } })

export class Model {
  readonly unit: number
  /** Renew deadline plus stop grace: the longest a Releasing replica may take. */
  readonly releasingBound: number
  /** One retry period plus one lease duration: the progress bound. */
  readonly progressBound: number
  /**
   * Steps after which no decision taken before a change of holder can still land on the store:
   * a poll period, a request, the drift, and the step the poll may have shared with the change.
   */
  readonly settledAfter: number
  private readonly timings = new Map<string, ReturnType<typeof timingOf>>()

  readonly settings: Settings
  readonly election: ElectionModule

  constructor(settings: Settings, election: ElectionModule) {
    this.settings = settings
    this.election = election
    const t = settings.timing
    this.unit = t.unitMs
    // A slow clock stretches a local bound by a step per drift tick.
    this.releasingBound = t.renewDeadline + t.stopGrace + settings.drift
    this.progressBound = t.retry + t.leaseDuration + settings.drift
    this.settledAfter = settings.lossAnytime ? 0 : t.retry + settings.requestTimeout + settings.drift + 1
  }

  private timing(i: number, inc: number) {
    const key = `${i}#${inc}`
    let t = this.timings.get(key)
    if (t === undefined) {
      t = timingOf(this.settings.timing, names[i]!, incarnationName(i, inc))
      this.timings.set(key, t)
    }
    return t
  }

  initialWorlds(): Array<World> {
    const s = this.settings
    const u = this.unit
    return s.initialLeases.map((kind) => {
      const cur = kind === "absent" ? undefined : leaseView({
        resourceVersion: "1",
        uid: "u1",
        holder: kind === "held" ? outsider : "",
        durationMs: (kind === "held" ? s.timing.leaseDuration : s.timing.releaseDuration) * u,
        incarnation: kind === "held" ? `${outsider}#0` : undefined
      })
      let world: World = {
        store: { cur, prev: null, prevAge: 0, age: 0, holderAge: this.settledAfter, losses: 0 },
        replicas: [],
        progress: -1,
        healthy: 0,
        nextRv: 2,
        nextUid: 2,
        faultsLeft: s.faultBudget,
        driftLeft: s.drift,
        driftSince: -1
      }
      const replicas: Array<Replica> = []
      for (let i = 0; i < s.replicas; i++) replicas.push(this.fresh(1, baseSteps * u, []))
      world = { ...world, replicas }
      for (let i = 0; i < s.replicas; i++) world = this.boot(world, i).world
      return this.afterward(world, undefined).world
    })
  }

  private fresh(inc: number, clock: number, orphans: ReadonlyArray<Req>): Replica {
    return { ...quiet, up: true, inc, clock, machine: this.election.initial, reqs: orphans }
  }

  /** The runtime's start: the start commands, with the watch still to connect. */
  private boot(world: World, i: number): Outcome {
    let out: Outcome = { world, violation: undefined }
    for (const c of this.election.start) {
      out = this.execute(out.world, i, [c], undefined)
      if (out.violation !== undefined) return out
    }
    return out
  }

  // ---------------------------------------------------------------------------------------------
  // Which transitions are enabled

  private due(r: Replica): boolean {
    return r.wakeAt !== undefined && r.wakeAt <= r.clock
  }

  /** Something of this replica must happen before its clock may move on. */
  urgent(r: Replica): boolean {
    if (!r.up || r.frozen) return false
    const u = this.unit
    if (this.due(r)) return true
    if (r.childFrozen) return true
    if (r.child?.kind === 2 && r.child.deadline <= r.clock) return true
    if (r.release !== undefined && r.clock - r.release.at >= this.settings.timing.renewDeadline * u) return true
    for (const q of r.reqs) if (!q.orphan && r.clock - q.at >= this.settings.requestTimeout * u) return true
    // The watch connects at once (unless a fault keeps it down) and tells of each change before time moves on.
    if (!r.partitioned && !r.watchUp && !r.watchOut) return true
    if (!r.partitioned && r.watchQueue.length > 0) return true
    if (r.watchBroken) return true
    return false
  }

  enabled(world: World): Array<Transition> {
    const s = this.settings
    // Faults only while the budget lasts; what follows a fault (thaw, heal, restart) is free.
    const f: Faults = world.faultsLeft > 0 ? s.faults : noFaults
    const out: Array<Transition> = []
    const { store } = world
    const stale = f.stale && store.prev !== null && store.prevAge <= s.staleness && !sameVersion(store.prev, store.cur)
    world.replicas.forEach((r, i) => {
      r.reqs.forEach((q, j) => {
        if (q.orphan && q.phase === 0 && q.kind !== ReqKind.Read) out.push({ _tag: "orphanApply", i, j })
      })
      if (!r.up) {
        out.push({ _tag: "restart", i })
        return
      }
      if (f.crash) out.push({ _tag: "crash", i })
      if (r.frozen) {
        // The server applies what reached it; the answers wait for the thaw.
        r.reqs.forEach((q, j) => {
          if (!q.orphan && q.phase === 0 && q.kind !== ReqKind.Read && !r.partitioned) out.push({ _tag: "apply", i, j })
        })
        out.push({ _tag: "thaw", i })
        return
      }
      if (f.freeze) out.push({ _tag: "freeze", i })
      if (f.partition) out.push(r.partitioned ? { _tag: "heal", i } : { _tag: "partition", i })
      if (f.signal && !r.signalled) out.push({ _tag: "signal", i })
      const due = this.due(r)
      if (due && !(r.thawing && r.watchQueue.length > 0 && !r.partitioned)) out.push({ _tag: "wake", i })
      if (r.child !== undefined) {
        if (r.childFrozen) {
          // The thawed wrapper's overdue timers (a due wake, a past kill time) act before the child runs again.
          if (r.child.kind === 2 && r.child.deadline <= r.clock) out.push({ _tag: "childGone", i })
          else if (!due) out.push({ _tag: "childResume", i })
        } else {
          if (r.child.kind === 1 && f.childExit) out.push({ _tag: "childExit", i })
          if (r.child.kind === 2) out.push({ _tag: "childGone", i })
        }
      }
      r.reqs.forEach((q, j) => {
        if (q.orphan) return
        if (!r.partitioned) {
          if (q.kind === ReqKind.Read) {
            out.push({ _tag: "read", i, j, stale: false })
            if (stale) out.push({ _tag: "read", i, j, stale: true })
          } else if (q.phase === 0) {
            out.push({ _tag: "roundTrip", i, j, stale: false })
            if (stale) out.push({ _tag: "roundTrip", i, j, stale: true })
            if (f.lose) out.push({ _tag: "applyLost", i, j })
          } else {
            out.push({ _tag: "answer", i, j, stale: false })
            if (stale && q.phase === 2) out.push({ _tag: "answer", i, j, stale: true })
          }
        } else if (q.phase === 1) {
          // Applied during a freeze: the answer is already here.
          out.push({ _tag: "answer", i, j, stale: false })
        }
        if (f.lose || r.partitioned) out.push({ _tag: "lose", i, j })
      })
      if (r.release !== undefined) {
        if (!r.partitioned) out.push({ _tag: "releaseWrite", i })
        if (r.clock - r.release.at >= s.timing.renewDeadline * this.unit) out.push({ _tag: "releaseTimeout", i })
      }
      if (!r.watchUp && !r.partitioned) out.push({ _tag: "watchUp", i })
      if (r.watchUp && (f.watch || r.partitioned || r.watchBroken)) out.push({ _tag: "watchDown", i })
      if (r.watchQueue.length > 0 && !r.partitioned) out.push({ _tag: "watchEvent", i })
    })
    // A lease lost right after it changed hands races the very writes that took it: no protocol
    // without fencing survives that, so the store loses only a holder every follower has seen.
    if (store.losses < s.losses && store.cur !== undefined && store.holderAge >= this.settledAfter) {
      out.push({ _tag: "storeLoss" })
    }
    if (!world.replicas.some((r) => this.urgent(r))) {
      out.push({ _tag: "tick", gain: -1 })
      if (world.driftLeft > 0) {
        world.replicas.forEach((r, i) => {
          if (!r.up) return
          out.push({ _tag: "tick", gain: i })
          if (world.replicas.length > 2) out.push({ _tag: "tick", gain: -2 - i })
        })
      }
    }
    return out
  }

  /** A new version in the store: every live watch session will tell of it, in order. */
  private commit(world: World, v: LeaseView): World {
    const { store } = world
    return {
      ...world,
      nextRv: world.nextRv + 1,
      store: {
        ...store,
        cur: v,
        prev: store.cur,
        prevAge: 0,
        age: 0,
        holderAge: store.cur !== undefined && store.cur.holder === v.holder && store.cur.incarnation === v.incarnation
          ? store.holderAge
          : 0
      },
      replicas: world.replicas.map((r) =>
        r.up && r.watchUp && !r.watchBroken ? { ...r, watchQueue: [...r.watchQueue, v] } : r
      )
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions

  apply(world: World, t: Transition, log?: (r: Record) => void): Outcome {
    const out = this.applyRaw(world, t, log)
    return this.afterward(out.world, out.violation, t)
  }

  private replace(world: World, i: number, r: Replica): World {
    const replicas = world.replicas.slice()
    replicas[i] = r
    return { ...world, replicas }
  }

  private unhealthy(world: World, i: number): World {
    return (world.healthy & bit(i)) === 0 ? world : { ...world, healthy: world.healthy & ~bit(i) }
  }

  private applyRaw(world: World, t: Transition, log?: (r: Record) => void): Outcome {
    if (this.isFault(world, t)) world = { ...world, faultsLeft: world.faultsLeft - 1 }
    const s = this.settings
    const u = this.unit
    const ok = (w: World): Outcome => ({ world: w, violation: undefined })
    switch (t._tag) {
      case "tick":
        return ok(this.tick(world, t.gain, log))
      case "storeLoss": {
        log?.({ _tag: "env", i: undefined, text: "the API server loses its state: the lease is gone" })
        const { store } = world
        return ok({
          ...world,
          store: { cur: undefined, prev: store.cur, prevAge: 0, age: 0, holderAge: 0, losses: store.losses + 1 },
          // Watch sessions do not survive it: they end (no deletion is ever told).
          replicas: world.replicas.map((r) => (r.up && r.watchUp ? { ...r, watchBroken: true } : r)),
          progress: -1,
          healthy: 0
        })
      }
      default:
        break
    }
    const i = t.i
    const r = world.replicas[i]!
    const name = names[i]!
    switch (t._tag) {
      case "restart": {
        log?.({ _tag: "env", i, text: "starts again (a new incarnation)" })
        const next = this.replace(world, i, this.fresh(r.inc + 1, r.clock, r.reqs))
        return this.boot(next, i)
      }
      case "orphanApply": {
        const q = r.reqs[t.j]!
        const [w, result] = this.write(world, i, q)
        log?.({
          _tag: "env",
          i,
          text: `the server ${result === undefined ? "refuses" : "applies"} its old incarnation's ${
            q.kind === ReqKind.Acquire ? "acquire" : "renew"
          }${result === undefined ? " (conflict)" : `: v${result.resourceVersion}`}`
        })
        const reqs = r.reqs.filter((_, k) => k !== t.j)
        return ok(this.replace(w, i, { ...w.replicas[i]!, reqs }))
      }
      case "crash": {
        log?.({ _tag: "env", i, text: "crashes, its container with it" })
        if (r.child !== undefined) log?.({ _tag: "childEnded", i, exitCode: 137, signal: "SIGKILL" })
        return ok(this.unhealthy(this.replace(world, i, this.down(r)), i))
      }
      case "freeze":
        log?.({ _tag: "env", i, text: r.child === undefined ? "is frozen" : "is frozen, its child too" })
        return ok(this.unhealthy(this.replace(world, i, { ...r, frozen: true, childFrozen: r.child !== undefined }), i))
      case "thaw":
        log?.({ _tag: "env", i, text: "thaws" })
        return ok(this.replace(world, i, { ...r, frozen: false, thawing: true }))
      case "childResume":
        log?.({ _tag: "env", i, text: "its child runs again" })
        return ok(this.replace(world, i, { ...r, childFrozen: false }))
      case "partition":
        log?.({ _tag: "env", i, text: "is cut off from the API server" })
        return ok(this.unhealthy(this.replace(world, i, { ...r, partitioned: true }), i))
      case "heal":
        log?.({ _tag: "env", i, text: "reaches the API server again" })
        return ok(this.replace(world, i, { ...r, partitioned: false }))
      case "signal":
        return this.event(this.unhealthy(this.replace(world, i, { ...r, signalled: true }), i), i, events.signal, log)
      case "wake":
        return this.event(world, i, events.wake, log)
      case "childExit": {
        const child = r.child!
        log?.({ _tag: "env", i, text: `its child exits by itself with ${selfExitCode}` })
        // Leadership closes the term's scope: what the child left behind is stopped within the grace.
        const next: Child = { ...child, kind: 2, byItself: true, deadline: r.clock + s.timing.stopGrace * u }
        return ok(this.replace(world, i, { ...r, child: next, selfCode: selfExitCode }))
      }
      case "childGone": {
        const child = r.child!
        const killed = child.deadline <= r.clock
        const exitCode = child.byItself ? selfExitCode : killed ? 137 : 143
        log?.({
          _tag: "childEnded",
          i,
          exitCode,
          signal: child.byItself ? undefined : killed ? "SIGKILL" : "SIGTERM"
        })
        const next = this.replace(world, i, { ...r, child: undefined, childFrozen: false })
        return this.event(next, i, events.childEnded(exitCode, child.byItself), log)
      }
      case "read": {
        const view = t.stale ? world.store.prev! : world.store.cur
        const next = this.replace(world, i, { ...r, reqs: r.reqs.filter((_, k) => k !== t.j) })
        if (t.stale) log?.({ _tag: "env", i, text: "its read is answered from before the last write" })
        return this.event(t.stale ? this.unhealthy(next, i) : next, i, events.leaseSeen(view), log)
      }
      case "apply": {
        const q = r.reqs[t.j]!
        const [w, result] = this.write(world, i, q)
        log?.({ _tag: "env", i, text: `${writeText(q, result)}; the answer waits for the thaw` })
        const reqs = r.reqs.slice()
        reqs[t.j] = { ...q, phase: result === undefined ? 2 : 1, result }
        return ok(this.replace(w, i, { ...w.replicas[i]!, reqs }))
      }
      case "roundTrip":
      case "applyLost": {
        const q = r.reqs[t.j]!
        const [w, result] = this.write(world, i, q)
        const lost = t._tag === "applyLost"
        log?.({ _tag: "env", i, text: `${writeText(q, result)}${lost ? "; the answer is lost" : ""}` })
        const next = this.replace(w, i, { ...w.replicas[i]!, reqs: r.reqs.filter((_, k) => k !== t.j) })
        return this.answer(lost ? this.unhealthy(next, i) : next, i, q, result, lost ? "lost" : t.stale, log)
      }
      case "answer": {
        const q = r.reqs[t.j]!
        const next = this.replace(world, i, { ...r, reqs: r.reqs.filter((_, k) => k !== t.j) })
        return this.answer(next, i, q, q.result, t.stale, log)
      }
      case "lose": {
        const q = r.reqs[t.j]!
        log?.({
          _tag: "env",
          i,
          text: `its ${["read", "acquire", "renew"][q.kind]} gets no answer${
            q.phase === 1 ? " (it was applied)" : q.phase === 2 ? " (it was refused)" : ""
          }`
        })
        const next = this.unhealthy(this.replace(world, i, { ...r, reqs: r.reqs.filter((_, k) => k !== t.j) }), i)
        return this.answer(next, i, q, undefined, "lost", log)
      }
      case "releaseWrite": {
        const job = r.release!
        const cur = world.store.cur
        if (cur !== undefined && sameVersion(cur, job.base)) {
          const v = leaseView({
            resourceVersion: String(world.nextRv),
            uid: cur.uid!,
            holder: "",
            durationMs: s.timing.releaseDuration * u,
            incarnation: undefined
          })
          log?.({ _tag: "env", i, text: `the server applies its release: v${v.resourceVersion} free` })
          const w = this.commit(world, v)
          return this.event(this.replace(w, i, { ...w.replicas[i]!, release: undefined }), i, events.released, log)
        }
        // A conflict: follow a newer version only while it is still this very process's (LeaseCommands.release).
        const ours = cur !== undefined && cur.holder === name && cur.incarnation === incarnationName(i, r.inc)
        if (ours && job.follows < 2) {
          log?.({ _tag: "env", i, text: "its release conflicts; the lease is still its own: again on the new version" })
          return ok(this.replace(world, i, { ...r, release: { ...job, base: cur, follows: job.follows + 1 } }))
        }
        log?.({ _tag: "env", i, text: "its release conflicts: the lease is no longer its own" })
        return this.event(this.replace(world, i, { ...r, release: undefined }), i, events.released, log)
      }
      case "releaseTimeout":
        log?.({ _tag: "env", i, text: "its release gives up after a renew deadline" })
        return this.event(this.replace(world, i, { ...r, release: undefined }), i, events.released, log)
      case "watchUp": {
        // A new session (or one resumed): it starts with the lease as it is now, if there is one.
        const cur = world.store.cur
        return this.event(
          this.replace(world, i, { ...r, watchUp: true, watchOut: false, watchQueue: cur === undefined ? [] : [cur] }),
          i,
          events.watchChanged(true),
          log
        )
      }
      case "watchDown": {
        const fault = !r.partitioned && !r.watchBroken
        if (fault) log?.({ _tag: "env", i, text: "its watch breaks" })
        return this.event(
          this.replace(world, i, { ...r, watchUp: false, watchOut: fault, watchQueue: [], watchBroken: false }),
          i,
          events.watchChanged(false),
          log
        )
      }
      case "watchEvent":
        return this.event(
          this.replace(world, i, { ...r, watchQueue: r.watchQueue.slice(1) }),
          i,
          events.leaseSeen(r.watchQueue[0]),
          log
        )
    }
  }

  /**
   * What a write's sender hears: the write's outcome, a conflict with the lease as read right
   * after (stale when `how` is true), or no answer at all.
   */
  private answer(
    world: World,
    i: number,
    q: Req,
    result: LeaseView | undefined,
    how: boolean | "lost",
    log?: (r: Record) => void
  ): Outcome {
    const acquire = q.kind === ReqKind.Acquire
    if (how === "lost") {
      const e = q.kind === ReqKind.Read ? events.readFailed : acquire ? events.acquireFailed : events.renewFailed
      return this.event(world, i, e, log)
    }
    if (result !== undefined) {
      return this.event(world, i, acquire ? events.acquired(result, q.at) : events.renewed(result, q.at, q.base!), log)
    }
    if (how) log?.({ _tag: "env", i, text: "the read after its conflict is answered from before the last write" })
    const current = how ? world.store.prev! : world.store.cur
    const w = how ? this.unhealthy(world, i) : world
    return this.event(w, i, acquire ? events.acquireConflict(current) : events.renewConflict(current), log)
  }

  /** Transitions that spend the fault budget (a partition's lost answers and broken watch are part of it). */
  private isFault(world: World, t: Transition): boolean {
    switch (t._tag) {
      case "freeze":
      case "crash":
      case "partition":
      case "signal":
      case "childExit":
      case "applyLost":
        return true
      case "lose":
      case "watchDown":
        return !world.replicas[t.i]!.partitioned
      case "read":
      case "roundTrip":
      case "answer":
        return t.stale
      default:
        return false
    }
  }

  /** A crashed or exited wrapper: what it sent may still be applied; nothing else of it remains. */
  private down(r: Replica): Replica {
    return {
      ...r,
      ...quiet,
      up: false,
      reqs: r.reqs.filter((q) => q.phase === 0 && q.kind !== ReqKind.Read).map((q) => ({ ...q, orphan: true }))
    }
  }

  /**
   * A write on the store, linearizable: POST creates an absent lease; PUT carries the base's
   * resourceVersion and uid and succeeds only on that very version. A base without a
   * resourceVersion is a PUT without one, which this store (unlike a real one) accepts as it is.
   */
  private write(world: World, i: number, q: Req): [World, LeaseView | undefined] {
    const s = this.settings
    const cur = world.store.cur
    const base = q.base
    const unconditional = base !== undefined && base.resourceVersion === ""
    const fits = base === undefined ? cur === undefined : unconditional || (cur !== undefined && sameVersion(cur, base))
    if (!fits) return [world, undefined]
    const uid = cur !== undefined ? cur.uid! : `u${world.nextUid}`
    const v = leaseView({
      resourceVersion: String(world.nextRv),
      uid,
      holder: names[i]!,
      durationMs: s.timing.leaseDuration * this.unit,
      incarnation: incarnationName(i, q.inc)
    })
    return [this.commit({ ...world, nextUid: world.nextUid + (cur === undefined ? 1 : 0) }, v), v]
  }

  /** One event through step, then its commands. */
  private event(world: World, i: number, e: Parameters<typeof callStep>[2], log?: (r: Record) => void): Outcome {
    const r = world.replicas[i]!
    const stepped = callStep(this.election, r.machine, e, r.clock, this.timing(i, r.inc))
    const from = stateTag(r.machine)
    const to = stateTag(stepped.machine)
    log?.({
      _tag: "step",
      i,
      event: eventText(e),
      from,
      to,
      reason: stepped.reason,
      commands: stepped.commands.map((c) => c._tag).join(", ")
    })
    if (
      e._tag === "Wake" && stepped.machine === r.machine && stepped.wakeAt !== undefined && stepped.wakeAt <= r.clock
    ) {
      return {
        world,
        violation: {
          invariant: "no hot loop",
          detail: `${JSON.stringify(names[i])} asks to be woken again at once (${stepped.reason})`
        }
      }
    }
    const releasing = isReleasing(stepped.machine) && isReleasing(r.machine) ? r.releasing : 0
    const next = this.replace(world, i, { ...r, machine: stepped.machine, wakeAt: stepped.wakeAt, releasing })
    return this.execute(next, i, stepped.commands, log)
  }

  /** The runtime carries out step's commands, in order, at once. */
  private execute(
    world: World,
    i: number,
    commands: ReadonlyArray<Parameters<typeof actionOf>[0]>,
    log?: (r: Record) => void
  ): Outcome {
    const u = this.unit
    let w = world
    for (const c of commands) {
      const r = w.replicas[i]!
      const a = actionOf(c)
      const send = (kind: ReqKind, base: LeaseView | undefined): Replica => ({
        ...r,
        reqs: [...r.reqs, { kind, base, at: r.clock, phase: 0, result: undefined, orphan: false, inc: r.inc }]
      })
      switch (a._tag) {
        case "read":
          w = this.replace(w, i, send(ReqKind.Read, undefined))
          break
        case "acquire":
          if (r.selfCode !== undefined) {
            return exitCodes(
              w,
              `${JSON.stringify(names[i])}'s child ended by itself (${r.selfCode}), yet it contends for the lease again`
            )
          }
          w = this.replace(w, i, send(ReqKind.Acquire, a.base))
          break
        case "renew":
          w = this.replace(w, i, send(ReqKind.Renew, a.base))
          break
        case "release":
          if (r.release !== undefined) throw new ModelError(`${names[i]} releases twice at once`)
          w = this.replace(w, i, { ...r, release: { base: a.base, follows: 0, at: r.clock } })
          break
        case "start": {
          if (r.child !== undefined) throw new ModelError(`${names[i]} starts a child while one is alive`)
          if (r.selfCode !== undefined) {
            return {
              world: w,
              violation: {
                invariant: "exit codes",
                detail: `${JSON.stringify(names[i])}'s child ended by itself (${r.selfCode}), yet it starts another`
              }
            }
          }
          log?.({ _tag: "childStarted", i })
          w = this.replace(w, i, { ...r, child: { kind: 1, byItself: false, deadline: 0 } })
          break
        }
        case "stop":
          // A term already ending (the child exited by itself) keeps its own stop.
          if (r.child?.kind === 1) {
            log?.({
              _tag: "env",
              i,
              text: `SIGTERM to its child; all it started is dead ${
                Number.isFinite(a.killAt)
                  ? a.killAt <= r.clock ? "at once" : `within ${(a.killAt - r.clock) / u} steps`
                  : "whenever it likes (no kill)"
              }`
            })
            w = this.replace(w, i, { ...r, child: { ...r.child, kind: 2, deadline: a.killAt } })
          }
          break
        case "exit": {
          log?.({ _tag: "env", i, text: `exits with ${a.code}` })
          if (r.child !== undefined) throw new ModelError(`${names[i]} exits with its child alive`)
          const bad = r.selfCode !== undefined && a.code !== r.selfCode
          w = this.replace(w, i, this.down(r))
          if (bad) {
            return exitCodes(
              w,
              `${
                JSON.stringify(names[i])
              }'s child ended by itself with ${r.selfCode}, but the wrapper exits with ${a.code}`
            )
          }
          return { world: w, violation: undefined }
        }
      }
    }
    return { world: w, violation: undefined }
  }

  /** True time passes one step (see the tick transition for `gain`). */
  private tick(world: World, gain: number, log?: (r: Record) => void): World {
    const s = this.settings
    const u = this.unit
    const timeout = s.requestTimeout * u
    const { store } = world
    if (gain >= 0) log?.({ _tag: "env", i: gain, text: "its clock gains a step on the others (it runs fast)" })
    if (gain <= -2) log?.({ _tag: "env", i: -2 - gain, text: "its clock loses a step on the others (it runs slow)" })
    const replicas = world.replicas.map((r, i) => {
      const clock = r.clock + (i === gain ? 2 : i === -2 - gain ? 0 : 1) * u
      const reqs = r.reqs.some((q) => q.orphan && clock - q.at > timeout)
        ? r.reqs.filter((q) => !(q.orphan && clock - q.at > timeout))
        : r.reqs
      const releasing = r.up && !r.frozen && isReleasing(r.machine)
        ? Math.min(r.releasing + 1, this.releasingBound + 1)
        : r.releasing
      return { ...r, clock, reqs, releasing, thawing: false }
    })
    const prevAge = store.prev === null ? 0 : store.prevAge + 1
    // Drift ticks are rationed per window of a lease duration and a step.
    const drifted = gain !== -1
    const since = world.driftSince >= 0 ? world.driftSince + 1 : drifted ? 0 : -1
    const closes = since > s.timing.leaseDuration
    const next: World = {
      ...world,
      driftLeft: closes ? s.drift : world.driftLeft - (drifted ? 1 : 0),
      driftSince: closes ? -1 : since,
      replicas,
      store: {
        ...store,
        prev: prevAge > s.staleness ? null : store.prev,
        prevAge: prevAge > s.staleness ? 0 : prevAge,
        age: Math.min(store.age + 1, s.timing.leaseDuration),
        holderAge: Math.min(store.holderAge + 1, this.settledAfter)
      }
    }
    return next.progress >= 0 ? { ...next, progress: Math.min(next.progress + 1, this.progressBound + 1) } : next
  }

  /**
   * Progress timing, then the invariants judged on every state. Timing starts only as true time
   * passes (or at the start): between two ticks, replicas' own events then commute.
   */
  private afterward(world: World, violation: Violation | undefined, t?: Transition): Outcome {
    const s = this.settings
    const { store } = world
    const takeable = store.cur === undefined || store.cur.holder === "" || store.age >= s.timing.leaseDuration
    let w = world
    if (!takeable) {
      if (w.progress !== -1 || w.healthy !== 0) w = { ...w, progress: -1, healthy: 0 }
    } else if (w.progress >= 0 || ((t === undefined || t._tag === "tick") && store.losses === 0)) {
      // A store that lost its state is not a healthy one: progress is timed only in runs without a loss.
      const open = w.progress === -1
      let healthy = open ? 0 : w.healthy
      w.replicas.forEach((r, i) => {
        const now = r.up && !r.frozen && !r.partitioned && !r.signalled && !isExiting(r.machine)
          && isContending(r.machine)
        if (!now) healthy &= ~bit(i)
        else if (open) healthy |= bit(i)
      })
      if (open) {
        if (healthy !== 0) w = { ...w, progress: 0, healthy }
      } else if (healthy !== w.healthy) w = { ...w, healthy }
    }
    if (violation !== undefined) return { world: w, violation }
    return { world: w, violation: this.judge(w) }
  }

  judge(w: World): Violation | undefined {
    const check = this.settings.check
    if (check.has("never two children")) {
      const running = w.replicas.flatMap((r, i) => (r.up && r.child !== undefined && !r.childFrozen ? [names[i]] : []))
      if (running.length >= 2) {
        return {
          invariant: "never two children",
          detail: `the children of ${running.map((n) => JSON.stringify(n)).join(" and ")} run at once`
        }
      }
    }
    if (check.has("releasing ends")) {
      const i = w.replicas.findIndex((r) => r.up && r.releasing > this.releasingBound)
      if (i >= 0) {
        return {
          invariant: "releasing ends",
          detail: `${
            JSON.stringify(names[i])
          } has been Releasing for more than ${this.releasingBound} steps (renew deadline + stop grace${
            this.settings.drift > 0 ? " + drift" : ""
          }) without being frozen`
        }
      }
    }
    if (check.has("progress") && w.progress > this.progressBound && w.healthy !== 0) {
      return {
        invariant: "progress",
        detail:
          `the lease has been free or expired for more than ${this.progressBound} steps (retry period + lease duration${
            this.settings.drift > 0 ? " + drift" : ""
          }) with a healthy store and healthy follower ${
            names.filter((_, i) => (w.healthy & bit(i)) !== 0).map((n) => JSON.stringify(n)).join(", ")
          }`
      }
    }
    return undefined
  }
}

const writeText = (q: Req, result: LeaseView | undefined) =>
  `the server ${result === undefined ? "refuses" : "applies"} its ${q.kind === ReqKind.Acquire ? "acquire" : "renew"} ${
    q.base === undefined
      ? "(create)"
      : q.base.resourceVersion === ""
      ? "(no resourceVersion)"
      : `on v${q.base.resourceVersion}`
  }${result === undefined ? " (conflict)" : `: v${result.resourceVersion}`}`
