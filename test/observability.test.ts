/**
 * Logs, metrics and the debug page of real wrapper processes: /metrics parsed
 * with a Prometheus text-format parser across a handover, every transition with
 * its line and no secret in any line, and the transition history's bound.
 */
import { assert, it as effectIt } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import parsePrometheus from "parse-prometheus-text-format"
import type { Family } from "parse-prometheus-text-format"
import { describe, expect, it } from "vitest"
import { lives, overlaps, readRecords } from "../harness/lives.ts"
import type { LogLine, Replica } from "../harness/replica.ts"
import { eventually, root, startReplica } from "../harness/replica.ts"
import { initial } from "../src/domain/Machine.ts"
import type { Machine } from "../src/domain/Machine.ts"
import { Telemetry } from "../src/services/Telemetry.ts"
import { startReceiver } from "./support/otlp.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("obs")

const scrape = async (r: Replica): Promise<Array<Family>> => {
  const res = await fetch(`http://127.0.0.1:${await r.port}/metrics`)
  expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4")
  return parsePrometheus(await res.text())
}
/** The value of one sample: the family, and labels that must all match. */
const sample = (families: Array<Family>, name: string, labels: Record<string, string> = {}): number | undefined => {
  const s = families.find((f) => f.name === name)?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  )
  return s?.value === undefined ? undefined : Number(s.value)
}
const childStarted = (id: string) =>
  eventually(() => readRecords(sb.childLog()).find((x) => x.event === "start" && x.id === id), `${id}'s child`)

describe("metrics", () => {
  it("follow a handover: is_leader flips on both replicas and the transition counters move", async () => {
    const a = sb.replica("a")
    await a.transition("Leader")
    await childStarted("a")
    // The acquire of the sandbox's released lease is an update too: wait for one more, a renew.
    const acquired = sb.emu.requests("a").update
    await eventually(() => (sb.emu.requests("a").update > acquired ? true : undefined), "a renew")
    const b = sb.replica("b")
    await sb.emu.watchOpened("b")
    await eventually(() => (sb.emu.requests("b").get > 0 ? true : undefined), "b's first read")

    const a1 = await scrape(a)
    const b1 = await scrape(b)
    expect(sample(a1, "just_one_init_is_leader")).toBe(1)
    expect(sample(b1, "just_one_init_is_leader")).toBe(0)
    expect(sample(a1, "just_one_init_state", { state: "Leader" })).toBe(1)
    expect(sample(b1, "just_one_init_state", { state: "Follower" })).toBe(1)
    expect(sample(a1, "just_one_init_transitions_total", { from: "Acquiring", to: "Leader", reason: "acquired" }))
      .toBe(1)
    expect(sample(a1, "just_one_init_child_starts_total")).toBe(1)
    // The sandbox's lease was released before: the acquire is an update, as are the renews.
    expect(sample(a1, "just_one_init_api_requests_total", { verb: "update", code: "200" })).toBeGreaterThanOrEqual(1)
    const renews = a1.find((f) => f.name === "just_one_init_renew_duration_seconds")
    expect(renews?.type).toBe("HISTOGRAM")
    expect(Number(renews?.metrics[0]?.count)).toBeGreaterThan(0)
    expect(sample(b1, "just_one_init_lease_observed_age_seconds")).toBeGreaterThanOrEqual(0)

    // The leader's API server answers 503 from now on: it stops its child at the renew deadline; b takes over at expiry.
    sb.emu.setFault("a", { status: 503 })
    await a.transition("Follower", a.lines.findIndex((l) => l.annotations["to"] === "Leader") + 1)
    await b.transition("Leader")
    await childStarted("b")

    const a2 = await scrape(a)
    const b2 = await scrape(b)
    expect(sample(a2, "just_one_init_is_leader")).toBe(0)
    expect(sample(b2, "just_one_init_is_leader")).toBe(1)
    expect(sample(a2, "just_one_init_transitions_total", { from: "Leader", to: "Releasing", reason: "renew_deadline" }))
      .toBe(1)
    expect(
      sample(b2, "just_one_init_transitions_total", { from: "Follower", to: "Acquiring", reason: "lease_expired" })
    )
      .toBe(1)
    expect(sample(b2, "just_one_init_transitions_total", { from: "Acquiring", to: "Leader", reason: "acquired" }))
      .toBe(1)
    expect(sample(a2, "just_one_init_api_requests_total", { verb: "update", code: "503" })).toBeGreaterThan(0)
    const stops = a2.find((f) => f.name === "just_one_init_child_stop_duration_seconds")?.metrics[0]
    expect(Number(stops?.count)).toBe(1)
    // Every label is from the fixed set: no free text (a message, a holder) in a reason.
    for (const m of [...a2, ...b2].find((f) => f.name === "just_one_init_transitions_total")!.metrics) {
      expect(m.labels?.["reason"]).toMatch(/^[a-z_]+$/)
    }
    // The failed renew was logged with its verb, HTTP status and reason, as a warning once.
    const failed = a.lines.filter((l) => l.level === "WARN" && l.annotations["verb"] === "update")
    expect(failed).toHaveLength(1)
    expect(failed[0]!.annotations).toMatchObject({ status: 503, reason: "ServiceUnavailable" })
    // /debug/transitions: oldest first, with time, reason and the lease version.
    const history = (await a.http("/debug/transitions")).body as unknown as Array<Record<string, unknown>>
    expect(history.map((t) => `${t["from"]}>${t["to"]}`)).toEqual([
      "Follower>Acquiring",
      "Acquiring>Leader",
      "Leader>Releasing",
      "Releasing>Follower"
    ])
    expect(history[2]).toMatchObject({ reason: "renew deadline passed", reasonCode: "renew_deadline" })
    expect(Date.parse(String(history[0]!["time"]))).toBeLessThanOrEqual(Date.parse(String(history[3]!["time"])))
    expect(history[1]!["resourceVersion"]).toMatch(/^\d+$/)
    expect(overlaps(lives(readRecords(sb.childLog()), { running: new Set([(await childStarted("b")).pid]) })))
      .toEqual([])
  })
})

describe("logs", () => {
  it("give every transition its line and never hold a bearer token or exec credential output", async () => {
    // Distinctive secrets: the emulator takes a client's token as its name and accepts only these.
    const secrets = ["sekret-a-7f3c9d2e41b8", "sekret-b-e1a94c07d25f", "sekret-c-0b8d6f35a9e2"]
    const wrong = "sekret-wrong-5c2e8a1f90d4"
    await sb.restartEmulator({ tokens: secrets })
    const receiver = await startReceiver()
    const debug = {
      LOG_LEVEL: "debug",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
    }
    const config = (id: string, token: string) => {
      const path = join(sb.dir, `${id}.kubeconfig`)
      sb.emu.writeKubeconfig(path, token)
      return path
    }
    // b gets its token from an exec credential plugin (its output holds the secret).
    const execConfig = (id: string, token: string) => {
      const text = sb.emu.kubeconfig(token)
      const exec = [
        "  user:",
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1",
        `      command: ${JSON.stringify(`${root}test/fixtures/exec-plugin.sh`)}`,
        "      interactiveMode: Never",
        "      env:",
        "      - name: PLUGIN_MODE",
        "        value: answer",
        "      - name: PLUGIN_TOKEN",
        `        value: ${JSON.stringify(token)}`,
        "      - name: PLUGIN_LOG",
        `        value: ${JSON.stringify(join(sb.dir, "plugin.log"))}`,
        ""
      ].join("\n")
      const path = join(sb.dir, `${id}.kubeconfig`)
      writeFileSync(path, text.replace(`  user:\n    token: ${JSON.stringify(token)}\n`, exec))
      return path
    }
    const start = (id: string, kubeconfig: string) => {
      const r = startReplica({ id, kubeconfig, leaseName: sb.leaseName, childLog: sb.childLog(), env: debug })
      sb.replicas.push(r)
      return r
    }
    const a = start("a", config("a", secrets[0]!))
    await a.transition("Leader")
    await childStarted("a")
    const b = start("b", execConfig("b", secrets[1]!))
    const c = start("c", config("c", secrets[2]!))
    const intruder = start("d", config("d", wrong))
    await intruder.waitFor((l) => l.level === "WARN" && String(l.message).includes("401"), "the 401 line")
    await sb.emu.watchOpened(secrets[1])
    await sb.emu.watchOpened(secrets[2])

    // Scripted: a hands over on SIGTERM; the next leader loses its API server (503) and steps down at its deadline.
    a.signal("SIGTERM")
    await a.exited
    const second = await eventually(
      () => [b, c].find((r) => r.lines.some((l) => l.annotations["to"] === "Leader")),
      "a new leader"
    )
    await childStarted(second.id)
    sb.emu.setFault(second === b ? secrets[1]! : secrets[2]!, { status: 503 })
    const third = second === b ? c : b
    await third.transition("Leader")
    await childStarted(third.id)
    await second.transition("Follower", second.lines.findIndex((l) => l.annotations["to"] === "Releasing") + 1)
    for (const r of [b, c, intruder]) r.signal("SIGTERM")
    await Promise.all([b.exited, c.exited, intruder.exited])

    for (const r of [a, b, c]) {
      // Every transition has its line: the lines chain from Follower back to Follower with no step left out.
      const steps = r.lines.filter((l: LogLine) => l.message === "transition").map((l) => l.annotations)
      expect(steps[0]!["from"]).toBe("Follower")
      for (let i = 1; i < steps.length; i++) expect(steps[i]!["from"]).toBe(steps[i - 1]!["to"])
      expect(steps.at(-1)!["to"]).toBe("Follower")
      for (const s of steps) {
        expect(s).toHaveProperty("reason")
        expect(s).toHaveProperty("holder")
        expect(s).toHaveProperty("resourceVersion")
        expect(s).toHaveProperty("sinceRenewMs")
        expect(s["lease"]).toBe(`default/${sb.leaseName}`)
      }
      expect(steps.map((s) => s["to"])).toContain("Leader")
    }
    // The exec plugin did run, and b led on its token.
    expect(b.lines.some((l) => l.message === "transition" && l.annotations["to"] === "Leader")).toBe(true)
    // No secret anywhere: not in any line (JSON or not), nor in an exported span.
    const everything = [a, b, c, intruder].map((r) => r.stderr).join("\n")
      + receiver.received.map((x) => x.body.toString("utf8")).join("\n")
    expect(everything.length).toBeGreaterThan(10_000)
    expect(receiver.received.length).toBeGreaterThan(0)
    for (const secret of [...secrets, wrong]) expect(everything).not.toContain(secret)
    await receiver.close()
  })
})

describe("the transition history", () => {
  const leader: Machine = {
    ...initial,
    state: { _tag: "Leader", lease: undefined as never, renewSentAt: 0, nextRenewAt: 0, renewing: false, since: 0 }
  }
  effectIt.effect(
    "keeps the last 100 transitions, oldest first; a late wake is a warning, no transition",
    () =>
      Effect.gen(function*() {
        const telemetry = yield* Telemetry
        for (let i = 0; i < 130; i++) {
          const [before, after] = i % 2 === 0 ? [initial, leader] : [leader, initial]
          yield* telemetry.stepped({
            before,
            after,
            reason: { code: "signal", detail: `step ${i}` },
            lease: "ns/l",
            seen: undefined,
            now: i
          })
        }
        // A step that changes nothing is no transition.
        yield* telemetry.stepped({
          before: leader,
          after: leader,
          reason: { code: "renewed" },
          lease: "ns/l",
          seen: undefined,
          now: 200
        })
        // A follower woken long after it asked is no transition, but a warning.
        const lines: Array<[string, string]> = []
        const logger = Logger.make(({ logLevel, message }) => {
          lines.push([logLevel, String(message)])
        })
        yield* telemetry.stepped({
          before: initial,
          after: initial,
          reason: { code: "woke_late", detail: "25000 ms" },
          lease: "ns/l",
          seen: undefined,
          now: 300
        }).pipe(Effect.provide(Logger.layer([logger])))
        assert.deepStrictEqual(lines, [[
          "Warn",
          "woke late by 25000 ms (frozen or stalled): reading the lease again before acting on what was seen before"
        ]])
        const page = yield* telemetry.page("/debug/transitions")
        const history = JSON.parse(page!.body) as Array<{ reason: string; from: string }>
        assert.strictEqual(history.length, 100)
        assert.strictEqual(history[0]!.reason, "signal step 30")
        assert.strictEqual(history[99]!.reason, "signal step 129")
        assert.strictEqual(history[0]!.from, "Follower")
        assert.strictEqual(yield* telemetry.page("/elsewhere"), undefined)
      }).pipe(Effect.provide(Telemetry.layer))
  )
})
