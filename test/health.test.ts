/**
 * The probe contract: the original just-one-init's `/` (and `/healthcheck`) answer 200 only for
 * a leader with a running child, 404 for a follower, 503 while shutting down; `/healthz` fails
 * only when the elector is wedged; `/status` tells everything.
 */
import { Context, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { ElectorStatus, WrapperStatus } from "../src/domain/Status.ts"
import { HealthServer, route as routeOf } from "../src/services/HealthServer.ts"
import { StatusBoard } from "../src/services/StatusBoard.ts"
import { Telemetry } from "../src/services/Telemetry.ts"

const route = (path: string, elector: ElectorStatus) => routeOf(path, { phase: "election", elector })

const base: ElectorStatus = {
  state: "Follower",
  identity: "pod-a",
  lease: "default/l",
  holder: "pod-b",
  transitions: 3,
  resourceVersion: "42",
  child: null,
  exiting: false,
  wedged: false,
  waiting: null
}
const leader: ElectorStatus = {
  ...base,
  state: "Leader",
  holder: "pod-a",
  child: { pid: 7, startedAt: "2026-01-01T00:00:00.000Z", fencingToken: 3 }
}

describe("health routes", () => {
  it.each([
    ["a leader with a running child", leader, 200, "BecameLeader"],
    ["a follower", base, 404, "BecameFollower"],
    ["a replica acquiring", { ...base, state: "Acquiring" as const }, 404, "BecameFollower"],
    ["a leader whose child has not started", { ...leader, child: null }, 404, "BecameFollower"],
    ["a leader releasing", { ...leader, state: "Releasing" as const }, 503, "BeganShutdown"],
    ["a follower shutting down", { ...base, exiting: true }, 503, "BeganShutdown"]
  ])("/ and /healthcheck for %s", (_name, status, code, state) => {
    for (const path of ["/", "/healthcheck"]) {
      const [c, body] = route(path, status)
      expect(c).toBe(code)
      expect(body).toMatchObject({ state })
    }
  })

  it("/healthz is 200 for followers and leaders alike, 500 only when wedged", () => {
    expect(route("/healthz", base)[0]).toBe(200)
    expect(route("/healthz", leader)[0]).toBe(200)
    expect(route("/healthz", { ...leader, wedged: true })).toEqual([500, { status: "expired", state: "Leader" }])
  })

  it("/status is the elector's status; anything else is 404", () => {
    expect(route("/status", leader)).toEqual([200, { phase: "election", ...leader }])
    expect(route("/nope", leader)[0]).toBe(404)
  })

  const waiting: WrapperStatus = {
    phase: "waiting",
    gates: [{ gate: "tcp db:5432", passed: false, reason: "refused" }]
  }
  const alone = {
    phase: "direct",
    child: { pid: 9, startedAt: "2026-01-01T00:00:00.000Z", fencingToken: null },
    exiting: false
  } as const

  it("while waiting for gates: /healthz 200 (a startup probe waits), /healthcheck 404, /status lists the gates", () => {
    expect(routeOf("/healthz", waiting)[0]).toBe(200)
    expect(routeOf("/healthcheck", waiting)[0]).toBe(404)
    expect(routeOf("/status", waiting)).toEqual([200, waiting])
  })

  it("with the election off, the replica running the command is the one that answers 200", () => {
    expect(routeOf("/", alone)[0]).toBe(200)
    expect(routeOf("/", { ...alone, exiting: true })[0]).toBe(503)
  })

  it("k8s-await-election's status endpoint: every other path is 200 ok while healthy, 500 expired when not", () => {
    const follower: WrapperStatus = { phase: "election", elector: base }
    for (const path of ["/", "/anything", "/healthcheck"]) {
      expect(routeOf(path, follower, "k8s-await-election")).toEqual([200, { status: "ok" }])
      expect(routeOf(path, { phase: "election", elector: { ...base, wedged: true } }, "k8s-await-election")).toEqual([
        500,
        { status: "expired" }
      ])
    }
    expect(routeOf("/status", follower, "k8s-await-election")[0]).toBe(200)
  })
})

describe("the health server itself", () => {
  it("a page that fails answers 500, and the server goes on answering", async () => {
    // Telemetry whose /metrics dies: HealthServer reads nothing else of it.
    const telemetry = {
      page: (path: string) => (path === "/metrics" ? Effect.die(new Error("boom")) : Effect.succeed(undefined))
    } as unknown as Telemetry["Service"]
    const layer = HealthServer.layer({ host: "127.0.0.1", port: 0, fallbackHost: null }, "just-one-init").pipe(
      Layer.provide(Layer.mergeAll(StatusBoard.layer, Layer.succeed(Telemetry, telemetry)))
    )
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const { address } = Context.get(yield* Layer.build(layer), HealthServer)
      const get = (path: string) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${address.port}${path}`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status)
        )
      expect(yield* get("/metrics")).toBe(500)
      expect(yield* get("/healthz")).toBe(200)
    })))
  })
})
