import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { parseDuration, parseInvocation, parseListenAddress, Settings } from "../src/domain/Settings.ts"

const host = { hostname: "pod-a", inClusterNamespace: undefined }
const run = (argv: Array<string>, env: Record<string, string> = {}) => parseInvocation(argv, env, host)
const settingsOf = (argv: Array<string>, env: Record<string, string> = {}) => {
  const r = run(argv, env)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  if (r.success._tag !== "Run") throw new Error(r.success._tag)
  return r.success.settings
}
const errorOf = (argv: Array<string>, env: Record<string, string> = {}) => {
  const r = run(argv, env)
  if (Result.isSuccess(r)) throw new Error("expected an error")
  return r.failure
}

describe("settings", () => {
  it("has the documented defaults", () => {
    const s = settingsOf(["--", "app", "--flag"], { LEASE_NAME: "my-lease" })
    expect(s).toEqual({
      leaseName: "my-lease",
      namespace: "default",
      identity: "pod-a",
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      stopGraceMs: 4_000,
      listen: { host: "::", port: 5047, fallbackHost: "0.0.0.0" },
      command: ["app", "--flag"],
      reelectAfterMs: null,
      baseline: false
    })
  })

  it("reads every flag, its aliases and --name=value", () => {
    const s = settingsOf([
      "-l",
      "a",
      "-p",
      "ns1",
      "-o",
      "me",
      "-t",
      "20",
      "--renew-deadline=12s",
      "--retry-period",
      "1500ms",
      "--stop-grace",
      "3s",
      "-a",
      "127.0.0.1:0",
      "--",
      "sh",
      "-c",
      "echo --help"
    ])
    expect(s.leaseName).toBe("a")
    expect(s.namespace).toBe("ns1")
    expect(s.identity).toBe("me")
    expect(s.leaseDurationMs).toBe(20_000)
    expect(s.renewDeadlineMs).toBe(12_000)
    expect(s.retryPeriodMs).toBe(1_500)
    expect(s.stopGraceMs).toBe(3_000)
    expect(s.listen).toEqual({ host: "127.0.0.1", port: 0, fallbackHost: null })
    expect(s.command).toEqual(["sh", "-c", "echo --help"])
  })

  it("keeps the peers' environment variables working, flags winning over env", () => {
    const s = settingsOf(["--", "x"], {
      LEASE_TTL: "30",
      POD_NAMESPACE: "prod",
      HOSTNAME: "h",
      POD_NAME: "p",
      K8S_AWAIT_ELECTION_LOCK_NAME: "k",
      K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999"
    })
    expect([s.leaseName, s.namespace, s.identity, s.leaseDurationMs]).toEqual(["k", "prod", "p", 30_000])
    expect(s.listen).toEqual({ host: "::", port: 9999, fallbackHost: "0.0.0.0" })
    expect(settingsOf(["-l", "flag", "--", "x"], { LEASE_NAME: "env" }).leaseName).toBe("flag")
  })

  it("uses the pod's namespace file when no namespace is given", () => {
    const r = parseInvocation(["-l", "a", "--", "x"], {}, { hostname: "h", inClusterNamespace: "team-a\n" })
    expect(Result.isSuccess(r) && r.success._tag === "Run" && r.success.settings.namespace).toBe("team-a")
  })

  it("answers --help and --version", () => {
    expect(Result.getOrThrow(run(["--help"]))._tag).toBe("Help")
    expect(Result.getOrThrow(run(["-V"]))._tag).toBe("Version")
  })

  it.each(
    [
      [["--", "x"], {}, "lease-name", "--lease-name (LEASE_NAME) is required"],
      [["-l", "Bad_Name", "--", "x"], {}, "lease-name", "DNS subdomain"],
      [["-l", "a", "--renew-deadline", "15s", "--", "x"], {}, "renew-deadline", "must be less than --lease-duration"],
      [
        ["-l", "a", "--stop-grace", "5s", "--", "x"],
        {},
        "stop-grace",
        "--renew-deadline (10s) + --stop-grace (5s) must be less than --lease-duration (15s)"
      ],
      [["-l", "a", "--retry-period", "10s", "--", "x"], {}, "retry-period", "must be less than --renew-deadline"],
      [["-l", "a", "-t", "-5", "--", "x"], {}, "lease-duration", "must be a duration"],
      [["-l", "a", "-t", "0", "--", "x"], {}, "lease-duration", "greater than zero"],
      [["-l", "a", "-t", "15500ms", "--", "x"], {}, "lease-duration", "whole number of seconds"],
      [["-l", "a", "-t", "99999999999", "--", "x"], {}, "lease-duration", "at most 24h"],
      [["-l", "a", "-a", "localhost", "--", "x"], {}, "listen-addr", "host:port"],
      [["-l", "a", "-a", "[::]:70000", "--", "x"], {}, "listen-addr", "host:port"],
      [["-l", "a"], {}, "command", "no command given"],
      [["-l", "a", "--bogus", "--", "x"], {}, "--bogus", "unknown option"],
      [["-l"], {}, "lease-name", "needs a value"],
      [["-l", "a", "--", "x"], { POD_NAMESPACE: "Not A Label" }, "namespace", "DNS label"]
    ] as const
  )("rejects %j %j with one line naming %s", (argv, env, setting, text) => {
    const e = errorOf([...argv], env)
    expect(e.setting).toBe(setting)
    expect(e.message).toContain(text)
    expect(e.message).not.toContain("\n")
  })

  it("parses durations and addresses", () => {
    expect([
      parseDuration("500ms"),
      parseDuration("15s"),
      parseDuration("1m"),
      parseDuration("2"),
      parseDuration("1.5s")
    ]).toEqual([500, 15_000, 60_000, 2_000, 1_500])
    expect([parseDuration("15 seconds"), parseDuration("-1s"), parseDuration("")]).toEqual([
      undefined,
      undefined,
      undefined
    ])
    expect([parseDuration("30min"), parseDuration("5sec")]).toEqual([1_800_000, 5_000])
    expect(settingsOf(["-l", "a", "-r", "30min", "--", "x"]).reelectAfterMs).toBe(1_800_000)
    expect(settingsOf(["-l", "a", "--", "x"], { REELECT_AFTER: "1h" }).reelectAfterMs).toBe(3_600_000)
    expect(parseListenAddress("[::1]:80")).toEqual({ host: "::1", port: 80, fallbackHost: null })
    expect(parseListenAddress("0.0.0.0:5047")).toEqual({ host: "0.0.0.0", port: 5047, fallbackHost: null })
  })

  // Hostile input: whatever the flags and environment hold, the answer is a valid configuration or one clear line.
  const Hostile = Schema.Union([
    Schema.String,
    Schema.Literals([
      "-1",
      "0",
      "1e309",
      "9".repeat(400),
      "15s",
      "1m",
      "500ms",
      "NaN",
      "∞",
      "\u0000",
      "ünïcødé",
      "[::]:5047",
      ":0",
      "x".repeat(5000)
    ])
  ])
  it.prop("any flags or environment give a valid configuration or one line", {
    a: Hostile,
    b: Hostile,
    c: Hostile,
    d: Hostile,
    e: Hostile
  }, ({ a, b, c, d, e }) => {
    const r = parseInvocation(["-t", a, "--renew-deadline", b, "-l", c, "-a", d, "--", "x"], {
      RETRY_PERIOD: e,
      STOP_GRACE: b,
      POD_NAME: e,
      POD_NAMESPACE: c
    }, host)
    if (Result.isFailure(r)) {
      return r.failure.message.length > 0 && !r.failure.message.includes("\n") && r.failure.message.length < 600
    }
    if (r.success._tag !== "Run") return false
    const s = r.success.settings
    return Schema.is(Settings)(s) && s.renewDeadlineMs + s.stopGraceMs < s.leaseDurationMs
      && s.retryPeriodMs < s.renewDeadlineMs
  }, { arbitrary: { runs: 300 } })
})
