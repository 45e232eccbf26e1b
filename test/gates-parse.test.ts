import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { CommandLine } from "effect/process"
import { redactUrl, scrub } from "../src/domain/Redact.ts"
import { type Gate, parseInvocation, Settings } from "../src/domain/Settings.ts"
import { splitWords } from "../src/domain/Words.ts"
import { errorOf, host, oneLine, settingsOf } from "./support/settings.ts"

const off = { ELECTION: "off", POD_NAME: "web-0", NODE_NAME: "node-1", INTERFACE_NAME: "eth0" }
const gatesOf = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  settingsOf([...argv, "--", "app"], { ...off, ...env }).gates
const flag = (...specs: ReadonlyArray<string>) => gatesOf(specs.flatMap((s) => ["--wait-for", s]))
// toEqual counts an undefined property as absent.
const withoutSource = (gates: ReadonlyArray<Gate>) => gates.map((g) => ({ ...g, source: undefined }))

describe("gates from --wait-for", () => {
  it("reads every kind", () => {
    expect(withoutSource(flag(
      "service:db",
      "service:data/db",
      "job:migrate",
      "job:batch/app=init,tier=db",
      "daemonset:kube-system/ovs",
      "container:sidecar",
      "pod:app=cache",
      "pod:other/app.kubernetes.io/name=cache",
      "file:/etc/ready",
      "socket:/run/db.sock",
      "tcp:10.0.0.5:5432",
      "tcp:DB.internal:80",
      "tcp:[fd00::5]:443",
      "dns:API.example.com",
      "http://api:8080/healthz",
      "https://example.com/ready?x=1"
    ))).toEqual([
      { _tag: "Service", namespace: "default", name: "db", label: "service default/db" },
      { _tag: "Service", namespace: "data", name: "db", label: "service data/db" },
      { _tag: "Job", namespace: "default", name: "migrate", label: "job default/migrate" },
      {
        _tag: "JobSelector",
        namespace: "batch",
        labels: { app: "init", tier: "db" },
        label: "job batch/app=init,tier=db"
      },
      { _tag: "DaemonSet", namespace: "kube-system", name: "ovs", label: "daemonset kube-system/ovs" },
      { _tag: "Container", namespace: "default", pod: "web-0", name: "sidecar", label: "container sidecar" },
      {
        _tag: "Pod",
        namespace: "default",
        labels: { app: "cache" },
        requireSameNode: false,
        label: "pod default/app=cache"
      },
      {
        _tag: "Pod",
        namespace: "other",
        labels: { "app.kubernetes.io/name": "cache" },
        requireSameNode: false,
        label: "pod other/app.kubernetes.io/name=cache"
      },
      { _tag: "File", path: "/etc/ready", label: "file /etc/ready" },
      { _tag: "Socket", path: "/run/db.sock", label: "socket /run/db.sock" },
      { _tag: "Tcp", host: "10.0.0.5", port: 5432, label: "tcp 10.0.0.5:5432" },
      { _tag: "Tcp", host: "db.internal", port: 80, label: "tcp db.internal:80" },
      { _tag: "Tcp", host: "fd00::5", port: 443, label: "tcp [fd00::5]:443" },
      { _tag: "Dns", name: "api.example.com", label: "dns api.example.com" },
      { _tag: "Http", url: "http://api:8080/healthz", label: "http://api:8080/healthz" },
      { _tag: "Http", url: "https://example.com/ready?x=1", label: "https://example.com/ready?x=***" }
    ])
    expect(flag("service:db")[0]?.source).toBe("--wait-for")
    expect(flag("https://u:secret@example.com/x")[0]).toMatchObject({
      url: "https://u:secret@example.com/x",
      label: "https://***:***@example.com/x"
    })
  })

  it("shows no user name, password, query value or fragment of a URL, and keeps the rest", () => {
    expect([
      redactUrl("http://ghp_S3CRETTOKEN@host/health"),
      redactUrl("https://user:pw@host:8443/a/b?access_token=t0k&mode=ro&flag#frag"),
      redactUrl("http://host/ready"),
      // Not a URL at all (no host): whatever looks like its secrets still goes.
      redactUrl("http://tok3n@/x?key=v4lue#f")
    ]).toEqual([
      "http://***@host/health",
      "https://***:***@host:8443/a/b?access_token=***&mode=***&flag#***",
      "http://host/ready",
      "http://***@/x?key=***#***"
    ])
    const url = "http://us3r:p%40ss@h:81/x?token=T0KEN%2Bv&a=b"
    expect(scrub(`Failed to parse URL from ${url}, got p@ss and T0KEN+v`, url)).toBe(
      "Failed to parse URL from http://***:***@h:81/x?token=***&a=***, got *** and ***"
    )
    expect(scrub("request to http://h:81/x?token=T0KEN%2Bv&a=b failed", url)).toBe(
      "request to http://***:***@h:81/x?token=***&a=*** failed"
    )
    // Two URLs that differ only in their secrets are two gates, though their labels are the same.
    expect(flag("http://a@h/x", "http://b@h/x")).toHaveLength(2)
    const bad = errorOf(["--wait-for", "http://s3cr3t@", "x"], off).message
    expect([bad.includes("s3cr3t"), bad.includes("http://***@")]).toEqual([false, true])
  })

  it("reads WAIT_FOR as a comma list, pod labels joined with +, and a flag replaces it", () => {
    const env = { WAIT_FOR: "service:db, pod:app=db+tier=x ,tcp:db:5432," }
    const fromEnv = gatesOf([], env)
    expect(fromEnv.map((g) => g.label)).toEqual(["service default/db", "pod default/app=db,tier=x", "tcp db:5432"])
    expect(fromEnv.every((g) => g.source === "WAIT_FOR")).toBe(true)
    expect(flag("pod:app=db+tier=x")).toEqual(flag("pod:app=db,tier=x"))
    expect(gatesOf(["--wait-for", "dns:a.example"], env).map((g) => g.label)).toEqual(["dns a.example"])
    const e = errorOf(["--", "x"], { ...off, WAIT_FOR: "pod:app=db,tier=x" })
    expect([e.setting, e.message]).toEqual(["wait-for", expect.stringContaining("\"tier=x\"")])
  })

  it("reads NAMESPACE only when there are gates (an app may use the name for itself)", () => {
    expect(settingsOf(["x"], { ...off, NAMESPACE: "My App" }).gates).toEqual([])
    const e = errorOf(["x"], { ...off, NAMESPACE: "My App", WAIT_FOR: "service:db" })
    expect([e.setting, e.message]).toEqual([
      "wait-namespace",
      expect.stringContaining("(NAMESPACE) must be a DNS label")
    ])
  })

  it("names gates without a namespace by NAMESPACE, else the lease's namespace", () => {
    expect(gatesOf(["--wait-for", "service:db"], { NAMESPACE: "deps", POD_NAMESPACE: "app" })[0]).toMatchObject({
      namespace: "deps"
    })
    expect(gatesOf(["--wait-for", "service:db"], { POD_NAMESPACE: "app" })[0]).toMatchObject({ namespace: "app" })
    expect(gatesOf(["-p", "flagged", "--wait-for", "service:db"], { POD_NAMESPACE: "app" })[0]).toMatchObject({
      namespace: "flagged"
    })
    expect(gatesOf(["--wait-namespace", "w", "--wait-for", "job:j"], { NAMESPACE: "deps" })[0]).toMatchObject({
      namespace: "w"
    })
    const r = parseInvocation(["--wait-for", "service:db", "--", "x"], off, { ...host, inClusterNamespace: "mine" })
    expect(Result.isSuccess(r) && r.success._tag === "Run" && r.success.settings.gates[0]).toMatchObject({
      namespace: "mine"
    })
  })
})

describe("gates from kubernetes-entrypoint's variables", () => {
  const entrypoint = {
    NAMESPACE: "openstack",
    DEPENDENCY_SERVICE: "mariadb,keystone:keystone-api",
    DEPENDENCY_JOBS: "nova-init,ceph:ceph-bootstrap",
    DEPENDENCY_DAEMONSET: "openvswitch-agent",
    DEPENDENCY_CONTAINER: "nova-libvirt,virtlogd",
    DEPENDENCY_SOCKET: "/var/run/openvswitch/ovs.socket",
    DEPENDENCY_CONFIG: "/etc/nova/nova.conf"
  }

  it("reads every list variable, items name or ns:name", () => {
    const gates = gatesOf([], entrypoint)
    expect(gates.map((g) => [g.source, g.label])).toEqual([
      ["DEPENDENCY_SERVICE", "service openstack/mariadb"],
      ["DEPENDENCY_SERVICE", "service keystone/keystone-api"],
      ["DEPENDENCY_JOBS", "job openstack/nova-init"],
      ["DEPENDENCY_JOBS", "job ceph/ceph-bootstrap"],
      ["DEPENDENCY_DAEMONSET", "daemonset openstack/openvswitch-agent"],
      ["DEPENDENCY_CONTAINER", "container nova-libvirt"],
      ["DEPENDENCY_CONTAINER", "container virtlogd"],
      ["DEPENDENCY_SOCKET", "socket /var/run/openvswitch/ovs.socket"],
      ["DEPENDENCY_CONFIG", "config /etc/nova/nova.conf"]
    ])
    expect(gates.at(-1)).toEqual({
      _tag: "Config",
      path: "/etc/nova/nova.conf",
      template: "/configmaps/nova.conf/nova.conf",
      interfaceName: "eth0",
      label: "config /etc/nova/nova.conf",
      source: "DEPENDENCY_CONFIG"
    })
  })

  it("gives the same gates as --wait-for, mixed freely, without repeats", () => {
    const viaFlags = gatesOf(
      [
        "service:openstack/mariadb",
        "service:keystone/keystone-api",
        "job:openstack/nova-init",
        "job:ceph/ceph-bootstrap",
        "daemonset:openstack/openvswitch-agent",
        "container:nova-libvirt",
        "container:virtlogd",
        "socket:/var/run/openvswitch/ovs.socket"
      ].flatMap((s) => ["--wait-for", s]),
      { NAMESPACE: "openstack" }
    )
    const { DEPENDENCY_CONFIG: _, ...lists } = entrypoint
    expect(withoutSource(gatesOf([], lists))).toEqual(withoutSource(viaFlags))
    const mixed = gatesOf(["--wait-for", "service:mariadb", "--wait-for", "tcp:db:3306"], {
      NAMESPACE: "openstack",
      DEPENDENCY_SERVICE: "mariadb,openstack:mariadb"
    })
    expect(mixed.map((g) => [g.source, g.label])).toEqual([
      ["--wait-for", "service openstack/mariadb"],
      ["--wait-for", "tcp db:3306"]
    ])
  })

  it("reads the JSON variables, DEPENDENCY_JOBS_JSON over DEPENDENCY_JOBS", () => {
    const gates = gatesOf([], {
      NAMESPACE: "ns",
      DEPENDENCY_JOBS: "ignored",
      DEPENDENCY_JOBS_JSON: "[{\"namespace\":\"a\",\"name\":\"init\"},{\"labels\":{\"job\":\"x\"}}]",
      DEPENDENCY_POD_JSON:
        "[{\"labels\":{\"app\":\"db\"},\"requireSameNode\":true},{\"namespace\":\"\",\"labels\":{\"app\":\"q\"}}]",
      DEPENDENCY_CUSTOM_RESOURCE: JSON.stringify([{
        apiVersion: "example.com/v1",
        kind: "Database",
        name: "main",
        fields: [{ key: "status.phase", value: "Ready" }],
        conditions: [{ type: "Available" }, { type: "Degraded", status: "False" }]
      }])
    })
    expect(withoutSource(gates)).toEqual([
      { _tag: "Job", namespace: "a", name: "init", label: "job a/init" },
      { _tag: "JobSelector", namespace: "ns", labels: { job: "x" }, label: "job ns/job=x" },
      {
        _tag: "Pod",
        namespace: "ns",
        labels: { app: "db" },
        requireSameNode: true,
        label: "pod ns/app=db on this node"
      },
      { _tag: "Pod", namespace: "ns", labels: { app: "q" }, requireSameNode: false, label: "pod ns/app=q" },
      {
        _tag: "CustomResource",
        apiVersion: "example.com/v1",
        kind: "Database",
        namespace: "ns",
        name: "main",
        fields: [{ key: "status.phase", value: "Ready" }],
        conditions: [{ type: "Available", status: "True" }, { type: "Degraded", status: "False" }],
        label: "database ns/main (example.com/v1)"
      }
    ])
    expect(gates.map((g) => g.source)).toEqual([
      "DEPENDENCY_JOBS_JSON",
      "DEPENDENCY_JOBS_JSON",
      "DEPENDENCY_POD_JSON",
      "DEPENDENCY_POD_JSON",
      "DEPENDENCY_CUSTOM_RESOURCE"
    ])
  })
})

describe("bad gates: one line naming the flag or variable", () => {
  it.each(
    [
      [{ WAIT_FOR: "queue:jobs" }, "wait-for", "unknown kind \"queue\""],
      [{ WAIT_FOR: "db" }, "wait-for", "must be KIND:TARGET"],
      [{ WAIT_FOR: "service:Bad_Name" }, "wait-for", "name must be a DNS-1035 label"],
      [{ WAIT_FOR: "service:Bad/db" }, "wait-for", "namespace must be a DNS label"],
      [{ WAIT_FOR: "job:a/b/c" }, "wait-for", "DNS subdomain"],
      [{ WAIT_FOR: "tcp:db:99999" }, "wait-for", "port"],
      [{ WAIT_FOR: "tcp:db:0" }, "wait-for", "from 1 to 65535"],
      [{ WAIT_FOR: "tcp:db" }, "wait-for", "tcp:HOST:PORT"],
      [{ WAIT_FOR: "tcp:::1:80" }, "wait-for", "bracket"],
      [{ WAIT_FOR: "dns:bad..name" }, "wait-for", "dns:NAME"],
      [{ WAIT_FOR: "dns:" }, "wait-for", "dns:NAME"],
      [{ WAIT_FOR: "pod:" }, "wait-for", "at least one label"],
      [{ WAIT_FOR: "pod:app" }, "wait-for", "KEY=VALUE"],
      [{ WAIT_FOR: "pod:app=has space" }, "wait-for", "invalid label value"],
      [{ WAIT_FOR: "pod:-app=x" }, "wait-for", "invalid label key"],
      [{ WAIT_FOR: "file:" }, "wait-for", "path"],
      [{ WAIT_FOR: "http://" }, "wait-for", "URL with a host"],
      [{ WAIT_FOR: "container:ns/c" }, "wait-for", "no namespace"],
      [{ WAIT_FOR: "container:c", POD_NAME: "" }, "wait-for", "needs POD_NAME"],
      [{ WAIT_FOR: "daemonset:d", POD_NAME: "", NODE_NAME: "" }, "wait-for", "needs NODE_NAME"],
      [{ DEPENDENCY_CONTAINER: "ns:c" }, "DEPENDENCY_CONTAINER", "takes no namespace"],
      [{ DEPENDENCY_SOCKET: "ns:/run/x" }, "DEPENDENCY_SOCKET", "takes no namespace"],
      [{ DEPENDENCY_CONFIG: "ns:/etc/x" }, "DEPENDENCY_CONFIG", "takes no namespace"],
      [{ DEPENDENCY_CONFIG: "/etc/x", INTERFACE_NAME: "" }, "DEPENDENCY_CONFIG", "needs INTERFACE_NAME"],
      [{ DEPENDENCY_SERVICE: ":db" }, "DEPENDENCY_SERVICE", "namespace must be a DNS label"],
      [{ DEPENDENCY_DAEMONSET: "d", POD_NAME: "", NODE_NAME: "" }, "DEPENDENCY_DAEMONSET", "needs NODE_NAME"],
      [{ DEPENDENCY_JOBS_JSON: "[{\"name\":" }, "DEPENDENCY_JOBS_JSON", "must be JSON such as"],
      [{ DEPENDENCY_JOBS_JSON: "[{\"namespace\":\"a\"}]" }, "DEPENDENCY_JOBS_JSON", "[0] needs a name or labels"],
      [{ DEPENDENCY_JOBS_JSON: "{\"name\":\"x\"}" }, "DEPENDENCY_JOBS_JSON", "Expected array"],
      [{ DEPENDENCY_POD_JSON: "[{\"namespace\":\"a\"}]" }, "DEPENDENCY_POD_JSON", "[0].labels: Missing key"],
      [{ DEPENDENCY_POD_JSON: "[{\"labels\":{}}]" }, "DEPENDENCY_POD_JSON", "at least one label"],
      [
        { DEPENDENCY_POD_JSON: "[{\"labels\":{\"a\":\"b\"},\"requireSameNode\":true}]", POD_NAME: "", NODE_NAME: "" },
        "DEPENDENCY_POD_JSON",
        "needs NODE_NAME"
      ],
      [{ DEPENDENCY_CUSTOM_RESOURCE: "[{\"kind\":\"X\",\"name\":\"y\"}]" }, "DEPENDENCY_CUSTOM_RESOURCE", "apiVersion"],
      [
        { DEPENDENCY_CUSTOM_RESOURCE: "[{\"apiVersion\":\"v1\",\"kind\":\"X\",\"name\":\"Y!\"}]" },
        "DEPENDENCY_CUSTOM_RESOURCE",
        "name must be a DNS subdomain"
      ]
    ] as const
  )("%j", (env, setting, text) => {
    const e = errorOf(["--", "x"], { ...off, ...env })
    expect(e.setting).toBe(setting)
    expect(e.message).toContain(text)
    expect(oneLine(e.message)).toBe(true)
  })

  it("a daemonset or same-node pod gate needs only one of NODE_NAME and POD_NAME", () => {
    expect(gatesOf(["--wait-for", "daemonset:d"], { POD_NAME: "" })).toHaveLength(1)
    expect(gatesOf(["--wait-for", "daemonset:d"], { NODE_NAME: "" })).toHaveLength(1)
  })
})

describe("COMMAND and init containers", () => {
  const words = (command: string) => settingsOf([], { ...off, COMMAND: command }).command

  it("splits COMMAND as a shell splits words, expanding nothing", () => {
    expect(words("sh -c \"echo a  b\"")).toEqual(["sh", "-c", "echo a  b"])
    expect(words("  sleep   inf  ")).toEqual(["sleep", "inf"])
    expect(words("echo 'it''s' \"a \\\"q\\\" \\$x\" back\\ slash ''")).toEqual([
      "echo",
      "its",
      "a \"q\" $x",
      "back slash",
      ""
    ])
    expect(words("echo $HOME *.log ~ a|b 'single \\ stays'")).toEqual([
      "echo",
      "$HOME",
      "*.log",
      "~",
      "a|b",
      "single \\ stays"
    ])
    expect(words("line\\\ncontinued\tand\nnext")).toEqual(["linecontinued", "and", "next"])
    expect(words("printf \"x\\\\y\" \"a\\nb\"")).toEqual(["printf", "x\\y", "a\\nb"])
  })

  it.each([
    ["sh -c \"echo", "COMMAND has an unterminated double quote"],
    ["sh -c 'echo", "COMMAND has an unterminated single quote"],
    ["echo \\", "COMMAND ends with a backslash that escapes nothing"]
  ])("rejects COMMAND=%j", (command, text) => {
    const e = errorOf([], { ...off, COMMAND: command })
    expect([e.setting, e.message]).toEqual(["command", expect.stringContaining(text)])
  })

  it("waits and exits when there are gates and no command, and wants a command otherwise", () => {
    const init = settingsOf([], { ...off, DEPENDENCY_SERVICE: "db" })
    expect([init.command, init.gates.length]).toEqual([[], 1])
    expect(settingsOf(["--wait-for", "file:/x"], { ...off, COMMAND: "   " }).command).toEqual([])
    expect(errorOf([], off).message).toContain("no command given")
    expect(errorOf([], { ...off, COMMAND: " " }).setting).toBe("command")
  })

  // POSIX quoting (effect/process) read back by the splitter gives the same words.
  it.prop("splits what a shell would quote back into the same words", {
    words: Schema.Array(Schema.String.check(Schema.makeFilter((s: string) => !s.includes("\u0000"))))
  }, ({ words }) => {
    const line = Result.getOrThrow(CommandLine.join(words))
    const split = Result.getOrThrow(splitWords(line))
    return JSON.stringify(split) === JSON.stringify(words)
  }, { arbitrary: { runs: 300 } })
})

// Hostile gate variables: a valid configuration with checked gates, or one line.
const Spec = Schema.Union([
  Schema.String,
  Schema.Literals([
    "service:db",
    "pod:app=x+b=c",
    "tcp:[::1]:1",
    "tcp:x:65536",
    "dns:a.b",
    "http://h",
    "[{\"name\":\"j\"}]",
    "[{\"labels\":{\"a\":\"b\"}}]",
    "ns:name",
    "a,b,,c",
    "'",
    "\"a b\" c"
  ])
])
it.prop("any gate variables give valid settings or one line", {
  a: Spec,
  b: Spec,
  c: Spec,
  d: Spec,
  e: Spec
}, ({ a, b, c, d, e }) => {
  const r = parseInvocation(["--wait-for", a], {
    ELECTION: "off",
    WAIT_FOR: b,
    DEPENDENCY_SERVICE: c,
    DEPENDENCY_JOBS_JSON: d,
    DEPENDENCY_POD_JSON: e,
    DEPENDENCY_CONTAINER: b,
    COMMAND: c,
    POD_NAME: "p"
  }, host)
  if (Result.isFailure(r)) return oneLine(r.failure.message)
  return r.success._tag === "Run" && Schema.is(Settings)(r.success.settings)
}, { arbitrary: { runs: 300 } })
