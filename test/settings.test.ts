import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { options } from "../src/domain/Options.ts"
import { parseDuration, parseInvocation, parseListenAddress, Settings, usage } from "../src/domain/Settings.ts"
import { electionOf, errorOf, host, oneLine, run, settingsOf } from "./support/settings.ts"

describe("settings", () => {
  it("has the documented defaults", () => {
    const s = settingsOf(["--", "app", "--flag"], { LEASE_NAME: "my-lease" })
    expect(s).toEqual({
      command: ["app", "--flag"],
      listen: { host: "::", port: 5047, fallbackHost: "0.0.0.0" },
      statusStyle: "just-one-init",
      stopGraceMs: 4_000,
      identity: "pod-a",
      namespace: "default",
      podName: null,
      nodeName: null,
      gates: [],
      waitTimeoutMs: null,
      log: { format: "auto", level: "info" },
      events: false,
      election: {
        leaseName: "my-lease",
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
        reelectAfterMs: null,
        service: null
      },
      derived: ["renew-deadline", "retry-period", "stop-grace"]
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
    const e = s.election!
    expect(e.leaseName).toBe("a")
    expect(s.namespace).toBe("ns1")
    expect(s.identity).toBe("me")
    expect(e.leaseDurationMs).toBe(20_000)
    expect(e.renewDeadlineMs).toBe(12_000)
    expect(e.retryPeriodMs).toBe(1_500)
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
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_LOCK_NAME: "k",
      K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999"
    })
    expect([s.election?.leaseName, s.namespace, s.identity, s.election?.leaseDurationMs]).toEqual([
      "k",
      "prod",
      "p",
      30_000
    ])
    expect(s.listen).toEqual({ host: "::", port: 9999, fallbackHost: "0.0.0.0" })
    expect(s.statusStyle).toBe("k8s-await-election")
    expect(electionOf(["-l", "flag", "--", "x"], { LEASE_NAME: "env" }).leaseName).toBe("flag")
    expect(settingsOf(["-l", "a", "--", "x"], { LISTEN_ADDR: ":9999" }).statusStyle).toBe("just-one-init")
  })

  it("uses the pod's namespace file when no namespace is given", () => {
    const r = parseInvocation(["-l", "a", "--", "x"], {}, { hostname: "h", inClusterNamespace: "team-a\n" })
    expect(Result.isSuccess(r) && r.success._tag === "Run" && r.success.settings.namespace).toBe("team-a")
  })

  it("answers --help, --version and the timeline subcommand", () => {
    expect(Result.getOrThrow(run(["--help"]))._tag).toBe("Help")
    expect(Result.getOrThrow(run(["-V"]))._tag).toBe("Version")
    expect(Result.getOrThrow(run(["timeline", "a.log", "b.log"]))).toEqual({
      _tag: "Timeline",
      files: ["a.log", "b.log"]
    })
    expect(Result.getOrThrow(run(["timeline"]))).toEqual({ _tag: "Timeline", files: [] })
    expect(errorOf(["timeline", "--bogus"]).message).toContain("file names")
    // Only as the first word: after -- it is a program like any other.
    expect(settingsOf(["-l", "a", "--", "timeline"]).command).toEqual(["timeline"])
  })

  it("lists every option and every environment variable in --help", () => {
    const text = usage("1.2.3")
    for (const o of options) {
      for (const name of [...o.flags, ...o.env]) expect(text).toContain(name)
    }
    expect(text).toContain("COMMAND")
    expect(text).toContain("timeline")
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
      [["-l", "a", "--", ""], {}, "command", "no command given"],
      [["-l", "a", "--bogus", "--", "x"], {}, "--bogus", "unknown option"],
      [["-l"], {}, "lease-name", "needs a value"],
      [
        ["-l", "a", "--", "x"],
        { POD_NAMESPACE: "Not A Label" },
        "namespace",
        "--namespace (POD_NAMESPACE) must be a DNS label"
      ],
      [["-l", "a", "-r", "soon", "--", "x"], {}, "reelect-after", "from 1ms to 24h"],
      [["-l", "a", "-o", "a\u0001b", "--", "x"], {}, "identity", "no control characters"],
      [["-l", "a", "--events=yes", "--", "x"], {}, "events", "--events takes no value"],
      [["-l", "a", "--", "x"], { EVENTS: "maybe" }, "events", "--events (EVENTS) must be true or false"],
      [["-l", "a", "--wait-timeout", "later", "--", "x"], {}, "wait-timeout", "must be a duration"],
      [["-l", "a", "--", "x"], { ELECTION: "perhaps" }, "election", "ELECTION must be true or false"]
    ] as const
  )("rejects %j %j with one line naming %s", (argv, env, setting, text) => {
    const e = errorOf([...argv], env)
    expect(e.setting).toBe(setting)
    expect(e.message).toContain(text)
    expect(oneLine(e.message)).toBe(true)
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
    expect(electionOf(["-l", "a", "-r", "30min", "--", "x"]).reelectAfterMs).toBe(1_800_000)
    expect(electionOf(["-l", "a", "--", "x"], { REELECT_AFTER: "1h" }).reelectAfterMs).toBe(3_600_000)
    expect(parseListenAddress("[::1]:80")).toEqual({ host: "::1", port: 80, fallbackHost: null })
    expect(parseListenAddress("0.0.0.0:5047")).toEqual({ host: "0.0.0.0", port: 5047, fallbackHost: null })
    expect(settingsOf(["-l", "a", "--wait-timeout", "5m", "--", "x"]).waitTimeoutMs).toBe(300_000)
    expect(settingsOf(["-l", "a", "--", "x"], { WAIT_TIMEOUT: "90" }).waitTimeoutMs).toBe(90_000)
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
    if (Result.isFailure(r)) return oneLine(r.failure.message)
    if (r.success._tag !== "Run") return false
    const s = r.success.settings
    const l = s.election
    return Schema.is(Settings)(s) && l !== null && l.renewDeadlineMs + s.stopGraceMs < l.leaseDurationMs
      && l.retryPeriodMs < l.renewDeadlineMs && l.leaseDurationMs % 1000 === 0
  }, { arbitrary: { runs: 300 } })

  // The same over the new options, and over the tools' variables that may stand for the same setting.
  const Word = Schema.Union([
    Hostile,
    Schema.Literals(["on", "off", "1", "yes", "json", "pretty", "debug", "warn", "web", "10.0.0.1", "fd00::1"]),
    Schema.Literals(["[{\"name\":\"http\",\"port\":80}]", "[{\"port\":70000}]", "[]", "{", "20", "15", "lease-a"])
  ])
  it.prop("any mix of the tools' variables and the new options gives a valid configuration or one line", {
    a: Word,
    b: Word,
    c: Word,
    d: Word,
    e: Word,
    f: Word
  }, ({ a, b, c, d, e, f }) => {
    const r = parseInvocation(["--log-format", a, "--service", b, "--", "x"], {
      LEASE_NAME: "lease-a",
      K8S_AWAIT_ELECTION_ENABLED: c,
      K8S_AWAIT_ELECTION_LOCK_NAME: d,
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_IDENTITY: "me",
      LEASE_TTL: e,
      K8S_AWAIT_ELECTION_LEASE_DURATION: f,
      LEADER_SERVICE_PORTS: e,
      POD_IP: f,
      ELECTION: d,
      LOG_LEVEL: c,
      EVENTS: a
    }, host)
    if (Result.isFailure(r)) return oneLine(r.failure.message)
    return r.success._tag === "Run" && Schema.is(Settings)(r.success.settings)
  }, { arbitrary: { runs: 300 } })
})

describe("the election", () => {
  it("is off with --no-election or ELECTION=off, and then no lease setting is required or checked", () => {
    expect(settingsOf(["--no-election", "--", "x"]).election).toBeNull()
    expect(settingsOf(["x"], { ELECTION: "off", LEASE_DURATION: "whenever", LEASE_NAME: "Bad_Name" }).election)
      .toBeNull()
    expect(electionOf(["x"], { ELECTION: "on", LEASE_NAME: "a" }).leaseName).toBe("a")
    expect(errorOf(["x"], { ELECTION: "on" }).setting).toBe("lease-name")
  })

  it("passes k8s-await-election through when its variables are set without K8S_AWAIT_ELECTION_ENABLED", () => {
    const passThrough = { K8S_AWAIT_ELECTION_LOCK_NAME: "l", K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999" }
    const s = settingsOf(["my-server", "--port", "80"], passThrough)
    expect(s.election).toBeNull()
    expect(s.command).toEqual(["my-server", "--port", "80"])
    expect(s.statusStyle).toBe("k8s-await-election")
    expect(settingsOf(["x"], { ...passThrough, K8S_AWAIT_ELECTION_ENABLED: "" }).election).toBeNull()
    // K8S_AWAIT_ELECTION_ENABLED given empty is k8s-await-election's way of saying no election.
    expect(settingsOf(["x"], { K8S_AWAIT_ELECTION_ENABLED: "" }).election).toBeNull()
    // Our own lease name, or ELECTION=on, means an election after all.
    expect(electionOf(["x"], { ...passThrough, LEASE_NAME: "ours" }).leaseName).toBe("ours")
    expect(electionOf(["-l", "ours", "x"], passThrough).leaseName).toBe("ours")
    expect(errorOf(["x"], { ...passThrough, ELECTION: "on" }).message).toContain(
      "--lease-name (LEASE_NAME) is required"
    )
  })

  it("requires k8s-await-election's variables once K8S_AWAIT_ELECTION_ENABLED is set", () => {
    const full = {
      K8S_AWAIT_ELECTION_ENABLED: "yes",
      K8S_AWAIT_ELECTION_NAME: "debugging-name",
      K8S_AWAIT_ELECTION_LOCK_NAME: "lock",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "locks",
      K8S_AWAIT_ELECTION_IDENTITY: "me",
      K8S_AWAIT_ELECTION_LEASE_DURATION: "20",
      K8S_AWAIT_ELECTION_RENEW_DEADLINE: "12",
      K8S_AWAIT_ELECTION_RETRY_PERIOD: "3"
    }
    const s = settingsOf(["x"], full)
    expect([s.election?.leaseName, s.namespace, s.identity]).toEqual(["lock", "locks", "me"])
    expect([s.election?.leaseDurationMs, s.election?.renewDeadlineMs, s.election?.retryPeriodMs]).toEqual([
      20_000,
      12_000,
      3_000
    ])
    for (
      const [variable, setting] of [
        ["K8S_AWAIT_ELECTION_LOCK_NAME", "lease-name"],
        ["K8S_AWAIT_ELECTION_LOCK_NAMESPACE", "namespace"],
        ["K8S_AWAIT_ELECTION_IDENTITY", "identity"]
      ] as const
    ) {
      const { [variable]: _, ...without } = full
      const e = errorOf(["x"], without)
      expect(e.setting).toBe(setting)
      expect(e.message).toContain(`${variable} (or --`)
      expect(oneLine(e.message)).toBe(true)
    }
    // HOSTNAME is a fact, not the identity k8s-await-election asks for.
    const { K8S_AWAIT_ELECTION_IDENTITY: _, ...noIdentity } = full
    expect(errorOf(["x"], { ...noIdentity, HOSTNAME: "h" }).setting).toBe("identity")
    expect(settingsOf(["x"], { ...noIdentity, POD_NAME: "p" }).identity).toBe("p")
  })

  it("takes the command from argv, with or without --", () => {
    const env = { LEASE_NAME: "a" }
    expect(settingsOf(["python", "-m", "http.server"], env).command).toEqual(["python", "-m", "http.server"])
    expect(settingsOf(["-l", "b", "python", "--help"], env).command).toEqual(["python", "--help"])
    expect(settingsOf(["--", "-dash-program", "-x"], env).command).toEqual(["-dash-program", "-x"])
    expect(settingsOf(["--", "--", "x"], env).command).toEqual(["--", "x"])
    // A command on the command line wins over COMMAND.
    expect(settingsOf(["x", "y"], { ...env, COMMAND: "other" }).command).toEqual(["x", "y"])
  })
})

describe("variables of different tools for one setting", () => {
  it.each(
    [
      [
        { LEASE_NAME: "a", K8S_AWAIT_ELECTION_LOCK_NAME: "b" },
        "lease-name",
        "LEASE_NAME",
        "K8S_AWAIT_ELECTION_LOCK_NAME"
      ],
      [{ LEASE_DURATION: "20s", LEASE_TTL: "30" }, "lease-duration", "LEASE_DURATION", "LEASE_TTL"],
      [
        { LEASE_TTL: "30", K8S_AWAIT_ELECTION_LEASE_DURATION: "20" },
        "lease-duration",
        "LEASE_TTL",
        "K8S_AWAIT_ELECTION_LEASE_DURATION"
      ],
      [
        { RENEW_DEADLINE: "8s", K8S_AWAIT_ELECTION_RENEW_DEADLINE: "9" },
        "renew-deadline",
        "RENEW_DEADLINE",
        "K8S_AWAIT_ELECTION_RENEW_DEADLINE"
      ],
      [
        { POD_NAMESPACE: "a", K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "b" },
        "namespace",
        "POD_NAMESPACE",
        "K8S_AWAIT_ELECTION_LOCK_NAMESPACE"
      ],
      [{ POD_NAME: "p", K8S_AWAIT_ELECTION_IDENTITY: "q" }, "identity", "POD_NAME", "K8S_AWAIT_ELECTION_IDENTITY"],
      [
        { LISTEN_ADDR: ":5047", K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999" },
        "listen-addr",
        "LISTEN_ADDR",
        "K8S_AWAIT_ELECTION_STATUS_ENDPOINT"
      ],
      [{ ELECTION: "off" }, "election", "ELECTION", "K8S_AWAIT_ELECTION_ENABLED"]
    ] as const
  )("%j disagree: one line naming both", (vars, setting, one, other) => {
    const env = {
      LEASE_NAME: "a",
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_LOCK_NAME: "a",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_IDENTITY: "me",
      POD_NAMESPACE: "default",
      POD_NAME: "me",
      ...vars
    }
    const e = errorOf(["x"], env)
    expect(e.setting).toBe(setting)
    expect(e.message).toContain(one)
    expect(e.message).toContain(other)
    expect(oneLine(e.message)).toBe(true)
  })

  it("agrees when the values mean the same, lets a flag choose, and never counts HOSTNAME or NAMESPACE", () => {
    const k8s = {
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_LOCK_NAME: "a",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
      K8S_AWAIT_ELECTION_IDENTITY: "me"
    }
    const same = settingsOf(["x"], {
      ...k8s,
      LEASE_NAME: "a",
      LEASE_DURATION: "15s",
      LEASE_TTL: "15",
      K8S_AWAIT_ELECTION_LEASE_DURATION: "15000ms",
      LISTEN_ADDR: "[::]:9999",
      K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999"
    })
    expect(same.election?.leaseDurationMs).toBe(15_000)
    expect(same.listen.port).toBe(9999)
    expect(electionOf(["-t", "20", "x"], { LEASE_NAME: "a", LEASE_DURATION: "15s", LEASE_TTL: "30" }).leaseDurationMs)
      .toBe(20_000)
    expect(electionOf(["-l", "c", "x"], { ...k8s, LEASE_NAME: "b" }).leaseName).toBe("c")
    expect(settingsOf(["x"], { ...k8s, HOSTNAME: "host-x" }).identity).toBe("me")
    expect(settingsOf(["x"], { ...k8s, POD_NAMESPACE: "default", NAMESPACE: "deps" }).namespace).toBe("default")
    // Without K8S_AWAIT_ELECTION_ENABLED k8s-await-election's lock variables mean nothing, so they cannot disagree.
    expect(electionOf(["x"], { LEASE_NAME: "a", K8S_AWAIT_ELECTION_LOCK_NAME: "b" }).leaseName).toBe("a")
    // LOG_LEVEL and RUST_LOG (often meant for the child) never disagree: RUST_LOG only fills in.
    expect(settingsOf(["x"], { LEASE_NAME: "a", LOG_LEVEL: "warn", RUST_LOG: "debug" }).log.level).toBe("warn")
  })
})

describe("service mode", () => {
  const base = { LEASE_NAME: "a", POD_NAMESPACE: "prod", POD_IP: "10.1.2.3", NODE_NAME: "node-1" }

  it("reads ours and k8s-await-election's variables alike", () => {
    const ours = electionOf(["x"], {
      ...base,
      LEADER_SERVICE: "db",
      LEADER_SERVICE_PORTS: "[{\"name\":\"pg\",\"port\":5432}]"
    })
    expect(ours.service).toEqual({
      name: "db",
      namespace: "prod",
      ports: [{ name: "pg", port: 5432 }],
      podIp: "10.1.2.3",
      nodeName: "node-1"
    })
    const theirs = electionOf(["x"], {
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_LOCK_NAME: "a",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "prod",
      K8S_AWAIT_ELECTION_IDENTITY: "me",
      K8S_AWAIT_ELECTION_SERVICE_NAME: "db",
      K8S_AWAIT_ELECTION_SERVICE_NAMESPACE: "prod",
      K8S_AWAIT_ELECTION_SERVICE_PORTS_JSON: "[{\"name\":\"pg\",\"port\":5432}]",
      K8S_AWAIT_ELECTION_POD_IP: "10.1.2.3",
      K8S_AWAIT_ELECTION_NODE_NAME: "node-1"
    })
    expect(theirs.service).toEqual(ours.service)
    const flags = electionOf([
      "--service",
      "web",
      "--service-namespace",
      "edge",
      "--service-ports",
      "[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"appProtocol\":\"http\"},{\"name\":\"m\",\"port\":9090}]",
      "--pod-ip",
      "FD00:0:0::1",
      "x"
    ], { LEASE_NAME: "a" })
    expect(flags.service).toEqual({
      name: "web",
      namespace: "edge",
      ports: [{ name: "http", port: 80, protocol: "TCP", appProtocol: "http" }, { name: "m", port: 9090 }],
      podIp: "fd00::1",
      nodeName: null
    })
  })

  it.each(
    [
      [
        { LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":1}]", POD_IP: "" },
        "pod-ip",
        "--service needs this pod's IP"
      ],
      [
        { LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":1}]", POD_IP: "10.0.0.300" },
        "pod-ip",
        "IPv4 or IPv6"
      ],
      [{ LEADER_SERVICE: "db" }, "service-ports", "--service needs its ports"],
      [{ LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":70000}]" }, "service-ports", "[0].port"],
      [{ LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":0}]" }, "service-ports", "from 1 to 65535"],
      [
        { LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[]" },
        "service-ports",
        "(LEADER_SERVICE_PORTS) must list a port"
      ],
      [{ LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "80" }, "service-ports", "Expected array"],
      [{ LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":80" }, "service-ports", "JSON"],
      [
        { LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"name\":\"a\",\"port\":80},{\"name\":\"a\",\"port\":81}]" },
        "service-ports",
        "each a different one"
      ],
      [{ LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":80},{\"port\":81}]" }, "service-ports", "a name"],
      [
        { LEADER_SERVICE: "db", LEADER_SERVICE_PORTS: "[{\"port\":80,\"protocol\":\"tcp\"}]" },
        "service-ports",
        "protocol"
      ],
      [{ LEADER_SERVICE: "9db", LEADER_SERVICE_PORTS: "[{\"port\":80}]" }, "service", "DNS-1035"],
      [
        {
          LEADER_SERVICE: "db",
          K8S_AWAIT_ELECTION_ENABLED: "1",
          K8S_AWAIT_ELECTION_LOCK_NAME: "a",
          K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "prod",
          K8S_AWAIT_ELECTION_IDENTITY: "me",
          K8S_AWAIT_ELECTION_SERVICE_NAME: "other"
        },
        "service",
        "LEADER_SERVICE=\"db\" and K8S_AWAIT_ELECTION_SERVICE_NAME=\"other\" disagree"
      ]
    ] as const
  )("rejects %j with one line naming %s", (vars, setting, text) => {
    const e = errorOf(["x"], { ...base, ...vars })
    expect(e.setting).toBe(setting)
    expect(e.message).toContain(text)
    expect(oneLine(e.message)).toBe(true)
  })
})

describe("logs and events", () => {
  it("reads the log format and level, and events", () => {
    const env = { LEASE_NAME: "a" }
    expect(settingsOf(["x"], env).log).toEqual({ format: "auto", level: "info" })
    expect(settingsOf(["--log-format", "json", "--log-level", "debug", "x"], env).log).toEqual({
      format: "json",
      level: "debug"
    })
    expect(settingsOf(["x"], { ...env, LOG_FORMAT: "Pretty", LOG_LEVEL: "WARNING" }).log).toEqual({
      format: "pretty",
      level: "warn"
    })
    expect(settingsOf(["x"], { ...env, RUST_LOG: "trace" }).log.level).toBe("trace")
    // A RUST_LOG with directives is the child's business.
    expect(settingsOf(["x"], { ...env, RUST_LOG: "my_crate=debug,info" }).log.level).toBe("info")
    expect(settingsOf(["--events", "x"], env).events).toBe(true)
    expect(settingsOf(["x"], { ...env, EVENTS: "yes" }).events).toBe(true)
    expect(settingsOf(["x"], { ...env, EVENTS: "0" }).events).toBe(false)
  })

  it.each(
    [
      [["--log-format", "xml", "x"], "log-format", "--log-format must be json, pretty or auto"],
      [["--log-level", "loud", "x"], "log-level", "--log-level must be trace, debug, info, warn or error"]
    ] as const
  )("rejects %j", (argv, setting, text) => {
    const e = errorOf([...argv], { LEASE_NAME: "a" })
    expect([e.setting, e.message]).toEqual([setting, expect.stringContaining(text)])
  })
})

describe("timings not given are chosen to fit the ones given", () => {
  const k8sAwaitElection = (lease: number, renew: number, retry: number) => ({
    K8S_AWAIT_ELECTION_ENABLED: "1",
    K8S_AWAIT_ELECTION_LOCK_NAME: "lock",
    K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "default",
    K8S_AWAIT_ELECTION_IDENTITY: "me",
    K8S_AWAIT_ELECTION_LEASE_DURATION: String(lease),
    K8S_AWAIT_ELECTION_RENEW_DEADLINE: String(renew),
    K8S_AWAIT_ELECTION_RETRY_PERIOD: String(retry)
  })
  /** The rule that keeps two children from running at once, and a stop grace that is some use. */
  const fits = (s: ReturnType<typeof settingsOf>) => {
    const e = s.election!
    return s.stopGraceMs > 0 && s.stopGraceMs <= 4_000 && e.renewDeadlineMs + s.stopGraceMs < e.leaseDurationMs
      && e.retryPeriodMs < e.renewDeadlineMs
  }

  it("k8s-await-election's LEASE_DURATION=4, RENEW_DEADLINE=2, RETRY_PERIOD=1 start, with a stop grace of 1s", () => {
    const s = settingsOf(["x"], k8sAwaitElection(4, 2, 1))
    expect([s.election?.leaseDurationMs, s.election?.renewDeadlineMs, s.election?.retryPeriodMs, s.stopGraceMs])
      .toEqual([4_000, 2_000, 1_000, 1_000])
    expect(s.derived).toEqual(["stop-grace"])
  })

  it("every timing k8s-await-election accepts (client-go: lease > renew > 1.2 × retry, whole seconds) starts", () => {
    let tried = 0
    for (let lease = 1; lease <= 40; lease++) {
      for (let renew = 1; renew < lease; renew++) {
        for (let retry = 1; 1.2 * retry < renew; retry++) {
          const s = settingsOf(["x"], k8sAwaitElection(lease, renew, retry))
          expect(fits(s), `${lease}/${renew}/${retry}: grace ${s.stopGraceMs}`).toBe(true)
          tried++
        }
      }
    }
    expect(tried).toBeGreaterThan(1000)
    // The tightest: one second between lease and renew deadline leaves half of it.
    expect(settingsOf(["x"], k8sAwaitElection(3, 2, 1)).stopGraceMs).toBe(500)
    expect(settingsOf(["x"], k8sAwaitElection(15, 10, 2)).stopGraceMs).toBe(4_000)
  })

  it("every LEASE_TTL PurpleBooth's just-one-init accepts (whole seconds) starts, the other timings in proportion", () => {
    for (let ttl = 1; ttl <= 120; ttl++) {
      const s = settingsOf(["--", "x"], { LEASE_NAME: "a", LEASE_TTL: String(ttl) })
      expect(fits(s), `LEASE_TTL=${ttl}: ${JSON.stringify(s.election)} grace ${s.stopGraceMs}`).toBe(true)
    }
    const five = settingsOf(["--", "x"], { LEASE_NAME: "a", LEASE_TTL: "5" })
    expect([five.election?.renewDeadlineMs, five.election?.retryPeriodMs, five.stopGraceMs]).toEqual([
      3_333,
      1_666,
      833
    ])
    expect(five.derived).toEqual(["renew-deadline", "retry-period", "stop-grace"])
    // 15 s and longer: the documented defaults, 10 s, 2 s, 4 s.
    for (const ttl of ["15", "60"]) {
      const s = settingsOf(["--", "x"], { LEASE_NAME: "a", LEASE_TTL: ttl })
      expect([s.election?.renewDeadlineMs, s.election?.retryPeriodMs, s.stopGraceMs]).toEqual([10_000, 2_000, 4_000])
    }
  })

  it.prop("every client-go-style timing (lease in whole seconds > renew > 1.2 × retry) starts", {
    lease: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 600 })),
    renewPart: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 999 })),
    retryPart: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 999 }))
  }, ({ lease, renewPart, retryPart }) => {
    const leaseMs = lease * 1000
    const renewMs = Math.max(1, Math.floor((leaseMs * renewPart) / 1000))
    const retryMs = Math.floor((renewMs * retryPart) / 1000 / 1.2)
    if (renewMs >= leaseMs || retryMs < 1 || 1.2 * retryMs >= renewMs) return true
    const r = parseInvocation(
      ["-l", "a", "-t", `${lease}`, "--renew-deadline", `${renewMs}ms`, "--retry-period", `${retryMs}ms`, "x"],
      {},
      host
    )
    // Only a renew deadline 1 ms short of the lease leaves no positive grace (said in one line).
    if (Result.isFailure(r)) return leaseMs - renewMs < 2 && oneLine(r.failure.message)
    return r.success._tag === "Run" && fits(r.success.settings)
  }, { arbitrary: { runs: 500 } })

  it("refuses only when no positive grace fits, naming the settings given", () => {
    const e = errorOf(["-l", "a", "-t", "1", "--renew-deadline", "999ms", "x"])
    expect(e.setting).toBe("renew-deadline")
    expect(e.message).toContain("--renew-deadline (999ms)")
    expect(e.message).toContain("--lease-duration (1s)")
    expect(oneLine(e.message)).toBe(true)
    const d = errorOf(["-l", "a", "--renew-deadline", "14999ms", "x"])
    expect(d.message).toContain("--lease-duration (15s, the default)")
  })

  it("an explicit --stop-grace keeps its value, the rule and its message", () => {
    expect(settingsOf(["-l", "a", "--stop-grace", "2s", "x"], k8sAwaitElection(8, 5, 1)).stopGraceMs).toBe(2_000)
    expect(settingsOf(["-l", "a", "x"], { STOP_GRACE: "3s" }).derived).toEqual(["renew-deadline", "retry-period"])
    expect(errorOf(["x"], { ...k8sAwaitElection(4, 2, 1), STOP_GRACE: "4s" }).message).toBe(
      "--renew-deadline (2s) + --stop-grace (4s) must be less than --lease-duration (4s), so a leader that loses the API server stops its child before another replica may take the lease"
    )
  })

  it("with the election off the stop grace is 4s", () => {
    expect(settingsOf(["--no-election", "x"]).stopGraceMs).toBe(4_000)
  })
})
