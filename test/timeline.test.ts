/**
 * just-one-init timeline: the logs of three real wrappers (two handovers),
 * from files and from standard input in kubectl's --prefix --timestamps form,
 * with hostile lines mixed in, merged into one ordered timeline with the
 * handover gaps; and the pure parts on lines no wrapper writes.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import type { LogLine, Replica } from "../harness/replica.ts"
import { eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { buildTimeline, formatTimeline, parseLine } from "../src/domain/Timeline.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("timeline")
const childStarted = (id: string) =>
  eventually(() => readRecords(sb.childLog()).find((x) => x.event === "start" && x.id === id), `${id}'s child`)
const at = (l: LogLine) => Date.parse(l.timestamp)

const hostile = [
  "not json at all",
  `{"level":"info","msg":"another tool's line","time":"2026-11-23T10:00:00Z"}`,
  `{"message":"transition","annotations":"not an object"}`,
  `{"message":"transition","timestamp":"yesterday","annotations":{"from":"Follower","to":"Leader"}}`,
  `{"message":"child started","timestamp":"2026-11-23T10:00:00.000Z","annotations":[1,2,3]}`,
  `[pod/x/c] 2026-11-23T10:00:00.123456789Z {"message":`,
  `{"message":"transition","timestamp":"2026-11-23T10:00:00.000Z","annotations":{"from":null,"to":"Leader"}}`,
  "\u0000\u0001\u00ff binary",
  `{"a":"${"x".repeat(100_000)}"}`,
  "[]",
  "null"
]

describe("just-one-init timeline", () => {
  it("merges three replicas' logs in order and reports each handover gap", async () => {
    // Each waits for a gate first, which passes at once: its line is on the timeline too.
    const [a, b, c] = ["a", "b", "c"].map((id) => sb.replica(id, { args: ["--wait-for", `file:${sb.dir}`] }))
    const leader = async (candidates: ReadonlyArray<Replica>, after = 0) => {
      const r = await eventually(
        () => candidates.find((r) => r.lines.slice(after).some((l) => l.annotations["to"] === "Leader")),
        "a leader"
      )
      await childStarted(r.id)
      return r
    }
    const first = await leader([a!, b!, c!])
    await Promise.all([a!, b!, c!].map((r) => r.port))
    first.signal("SIGTERM")
    await first.exited
    const rest = [a!, b!, c!].filter((r) => r !== first)
    const second = await leader(rest)
    second.signal("SIGTERM")
    await second.exited
    const third = await leader(rest.filter((r) => r !== second))
    third.signal("SIGTERM")
    await third.exited

    // a's log as a file with hostile lines mixed in; b's as a file; c's on standard input as kubectl prints it.
    const files = ["a", "b"].map((id) => join(sb.dir, `${id}.log`))
    const lines = (r: Replica) => r.stderr.split("\n").filter((l) => l !== "")
    writeFileSync(files[0]!, [...hostile.slice(0, 5), ...lines(a!), ...hostile.slice(5)].join("\n"))
    writeFileSync(files[1]!, lines(b!).join("\n"))
    const kubectl = lines(c!).map((l) => `[pod/c/app] ${JSON.parse(l).timestamp.replace("Z", "123456Z")} ${l}`)
    const run = spawnSync(nodeBin, [wrapperPath, "timeline", ...files, "-"], {
      input: [...kubectl, ...hostile].join("\n"),
      encoding: "utf8"
    })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    const out = run.stdout.split("\n")
    expect(out[0]).toMatch(/^timeline of 3 replicas from \d{4}-/)

    // Every transition and child line of the three logs, once, in time order.
    const ours = [a!, b!, c!].flatMap((r) =>
      r.lines.filter((l) => ["transition", "child started", "child ended", "gate passed"].includes(l.message)).map((
        l
      ) => ({ r, l }))
    )
    const body = out.slice(1, out.indexOf(""))
    expect(body).toHaveLength(ours.length)
    const offsets = body.map((l) => Number(/^\s*\+(\d+\.\d{3})s/.exec(l)![1]))
    expect([...offsets].sort((x, y) => x - y)).toEqual(offsets)
    for (const r of [a!, b!, c!]) {
      const mine = body.filter((l) => l.split(/\s+/)[2] === r.id)
      expect(mine).toHaveLength(ours.filter((o) => o.r === r).length)
    }
    expect(body.filter((l) => l.includes("Leader → Releasing (signal SIGTERM)"))).toHaveLength(3)
    expect(body.filter((l) => l.includes(`gate passed: file ${sb.dir}`))).toHaveLength(3)

    // The handovers: old child ended → new child started, as the wrappers logged them.
    const ended = (r: Replica) => at(r.lines.find((l) => l.message === "child ended")!)
    const started = (r: Replica) => at(r.lines.find((l) => l.message === "child started")!)
    const handovers = out.slice(out.indexOf("handovers:") + 1).filter((l) => l !== "")
    expect(handovers).toEqual([
      expect.stringMatching(
        new RegExp(`^  ${first.id} → ${second.id}: ${started(second) - ended(first)} ms from the old child's end`)
      ),
      expect.stringMatching(
        new RegExp(`^  ${second.id} → ${third.id}: ${started(third) - ended(second)} ms from the old child's end`)
      )
    ])
  })

  it("does not load the Kubernetes client", () => {
    const log = join(sb.dir, "loaded.log")
    const hook = join(sb.dir, "hook.mjs")
    writeFileSync(
      hook,
      `import { registerHooks } from "node:module"\nimport { appendFileSync } from "node:fs"\nregisterHooks({ load(url, context, next) { if (url.includes("/dist/")) appendFileSync(${
        JSON.stringify(log)
      }, url + "\\n"); return next(url, context) } })\n`
    )
    const run = spawnSync(nodeBin, [`--import=${hook}`, wrapperPath, "timeline"], { input: "", encoding: "utf8" })
    expect(run.status).toBe(0)
    const loaded = readFileSync(log, "utf8").split("\n").filter((l) => l !== "")
    expect(loaded.some((u) => /Timeline-/.test(u))).toBe(true)
    const text = loaded.map((u) => readFileSync(new URL(u), "utf8")).join("\n")
    // client-node's KubeConfig reads this variable; nothing else in the bundle names it.
    expect(text).not.toContain("KUBERNETES_SERVICE_HOST")
    const bundle = readdirSync(dirname(wrapperPath)).filter((f) => f.endsWith(".mjs"))
    expect(bundle.map((f) => readFileSync(join(dirname(wrapperPath), f), "utf8")).join("\n")).toContain(
      "KUBERNETES_SERVICE_HOST"
    )
  })
})

describe("the timeline's parts", () => {
  const json = (message: string, t: string, annotations: Record<string, unknown>) =>
    JSON.stringify({ message, level: "INFO", timestamp: t, annotations })

  it("names a replica by its identity, else by kubectl's pod prefix, else by the file", () => {
    const line = json("child started", "2026-11-23T10:00:00.000Z", { pid: 7 })
    expect(parseLine(`[pod/web-0/app] 2026-11-23T10:00:00.5Z ${line}`, "f", 0)?.replica).toBe("web-0")
    expect(parseLine(line, "f", 0)?.replica).toBe("f")
    expect(parseLine(`[pod/web-0/app] ${line.replace(`"pid":7`, `"pid":7,"identity":"me"`)}`, "f", 0)?.replica).toBe(
      "me"
    )
    // A line without a time of its own takes kubectl's (nanoseconds cut to milliseconds).
    const bare = JSON.stringify({ message: "child started", annotations: {} })
    expect(parseLine(`2026-11-23T10:00:00.123456789Z ${bare}`, "f", 0)?.t).toBe(Date.parse("2026-11-23T10:00:00.123Z"))
    expect(parseLine(bare, "f", 0)).toBeUndefined()
  })

  it("says when a child's end was never logged (a killed replica), and flags two children at once", () => {
    const lines = [
      json("child started", "2026-11-23T10:00:00.000Z", { identity: "a", pid: 1 }),
      json("transition", "2026-11-23T10:00:01.000Z", { identity: "a", from: "Leader", to: "Leader", reason: "x" }),
      json("child started", "2026-11-23T10:00:06.000Z", { identity: "b", pid: 2 }),
      json("child started", "2026-11-23T10:00:07.000Z", { identity: "c", pid: 3 }),
      json("transition", "2026-11-23T10:00:08.000Z", { identity: "b", from: "Leader", to: "Releasing", reason: "y" })
    ]
    const tl = buildTimeline(lines.map((l, i) => parseLine(l, "f", i)!))
    expect(tl.handovers).toEqual([
      {
        from: "a",
        to: "b",
        stoppedAt: undefined,
        lastSeenAt: Date.parse("2026-11-23T10:00:01Z"),
        startedAt: Date.parse("2026-11-23T10:00:06Z"),
        overlap: false
      },
      {
        from: "b",
        to: "c",
        stoppedAt: undefined,
        lastSeenAt: undefined,
        startedAt: Date.parse("2026-11-23T10:00:07Z"),
        overlap: true
      }
    ])
    const text = formatTimeline(tl)
    expect(text).toContain(
      "a → b: a's child's end was not logged (its last line at +1.000s); b's child started 5000 ms after that line"
    )
    expect(text).toContain("b → c: OVERLAP")
    expect(formatTimeline(buildTimeline([]))).toBe("no just-one-init transitions or child starts in the input\n")
  })
})
