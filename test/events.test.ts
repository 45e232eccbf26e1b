/**
 * Kubernetes Events on the Lease (--events), as client-go's leader election
 * records them, from real wrapper processes against the emulator; a Role
 * without the rule, or an events API that hangs, never touches the election.
 */
import { describe, expect, it } from "vitest"
import type { KubeObject } from "../emulator/index.ts"
import { readRecords } from "../harness/lives.ts"
import { eventually } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("events")
const events = () =>
  sb.emu.listObjects("v1", "Event", "default").filter((e) =>
    (e["involvedObject"] as { name?: string } | undefined)?.name === sb.leaseName
  )
const messages = () => events().map((e) => e["message"])
const childStarted = (id: string) =>
  eventually(() => readRecords(sb.childLog()).find((x) => x.event === "start" && x.id === id), `${id}'s child`)

describe("Kubernetes Events", () => {
  it("records 'became leader' and 'stopped leading' on the Lease, as client-go's recorder does", async () => {
    const a = sb.replica("a", { args: ["--events"] })
    await a.transition("Leader")
    await childStarted("a")
    const b = sb.replica("b", { env: { EVENTS: "true" } })
    await sb.emu.watchOpened("b")
    await eventually(() => (messages().includes("a became leader") ? true : undefined), "a's event")
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    await b.transition("Leader")
    await eventually(() => (messages().includes("b became leader") ? true : undefined), "b's event")
    expect(messages()).toEqual(["a became leader", "a stopped leading", "b became leader"])

    const lease = sb.emu.getLease("default", sb.leaseName)!
    const [became, stopped] = events() as Array<KubeObject & Record<string, any>>
    expect(became).toMatchObject({
      apiVersion: "v1",
      kind: "Event",
      metadata: { namespace: "default", annotations: { "just-one-init/reason-code": "acquired" } },
      involvedObject: {
        kind: "Lease",
        apiVersion: "coordination.k8s.io/v1",
        namespace: "default",
        name: sb.leaseName,
        uid: lease.metadata.uid
      },
      reason: "LeaderElection",
      type: "Normal",
      count: 1,
      source: { component: "just-one-init" },
      reportingComponent: "just-one-init",
      reportingInstance: "a"
    })
    expect(became!.metadata.name).toMatch(new RegExp(`^${sb.leaseName}\\.[0-9a-f]+$`))
    expect(became!["firstTimestamp"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(became!["lastTimestamp"]).toBe(became!["firstTimestamp"])
    expect(stopped!.metadata.annotations).toMatchObject({
      "just-one-init/reason": "signal SIGTERM",
      "just-one-init/reason-code": "signal"
    })
  })

  it("without the Role's rule: one warning, and the election goes on as if nothing happened", async () => {
    await sb.restartEmulator({ forbidden: [{ client: "a", resource: "events", verbs: ["create"] }] })
    // --reelect-after makes a step down and lead again: four leadership changes, four forbidden events.
    const a = sb.replica("a", { args: ["--events", "--reelect-after", "1s"] })
    await eventually(
      () => (a.lines.filter((l) => l.annotations["to"] === "Leader").length >= 3 ? true : undefined),
      "three terms"
    )
    const starts = () => readRecords(sb.childLog()).filter((r) => r.event === "start").length
    await eventually(() => (starts() >= 3 ? true : undefined), "three children")
    a.signal("SIGTERM")
    await a.exited
    const warnings = a.lines.filter((l) => l.level === "WARN")
    expect(warnings.map((l) => l.message)).toEqual([
      "forbidden to create events in namespace default (403): --events needs create on events in the Role (see k8s/role.yaml); the election is not affected"
    ])
    expect(warnings[0]!.annotations).toMatchObject({ verb: "create", status: 403, reason: "Forbidden" })
    expect(events()).toEqual([])
  })

  it("an events API that hangs holds up neither the leader's renews nor its exit", async () => {
    sb.emu.setFault("a", { hang: true, resources: ["events"] })
    const a = sb.replica("a", { args: ["--events"] })
    await a.transition("Leader")
    await childStarted("a")
    const renewsBefore = sb.emu.requests("a", "leases").update
    await eventually(() => (sb.emu.requests("a", "leases").update >= renewsBefore + 4 ? true : undefined), "renews")
    const stoppedAt = Date.now()
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    // The exit waits for the hung write at most one request deadline (1250 ms with these timings), twice.
    expect(Date.now() - stoppedAt).toBeLessThan(4_000)
    expect(a.lines.some((l) => l.message === "transition" && l.annotations["to"] === "Follower")).toBe(true)
    // An Event was sent and hung: the case this test is about.
    expect(sb.emu.requests("a", "events").create).toBeGreaterThan(0)
    expect(events()).toEqual([])
  })

  it("an Event hung in the events API delays the wrapper's exit by at most one request deadline", async () => {
    sb.emu.setFault("a", { hang: true, resources: ["events"] })
    // Renew deadline 10 s: each request has 5 s, the Event's POST included.
    const timings = { leaseDuration: "20s", renewDeadline: "10s", retryPeriod: "2s", stopGrace: "1s" }
    const a = sb.replica("a", { args: ["--events"], timings })
    await a.transition("Leader")
    await childStarted("a")
    // "became leader" is on its way and hangs; "stopped leading" will follow it.
    await eventually(() => (sb.emu.requests("a", "events").create > 0 ? true : undefined), "the Event's POST")
    const stoppedAt = Date.now()
    a.signal("SIGTERM")
    expect((await a.exited).code).toBe(0)
    // One request deadline (5 s), with room for the rest of the exit; two would be 10 s.
    expect(Date.now() - stoppedAt).toBeLessThan(5000 + 2000)
    expect(events()).toEqual([])
  })
})
