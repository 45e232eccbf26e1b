/**
 * The health server is bounded: whoever can reach its port cannot exhaust the
 * wrapper's file descriptors. A real leader under `ulimit -n 80` is flooded
 * with idle connections that never send a request; its descriptors stay well
 * below the limit, it keeps leading (its renews need descriptors too), the
 * idle connections are cut within seconds, and probes are answered again.
 */
import { readdirSync } from "node:fs"
import { connect } from "node:net"
import type { Socket } from "node:net"
import { describe, expect, it } from "vitest"
import { readRecords } from "../harness/lives.ts"
import { eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { sandbox } from "./support/sandbox.ts"

const sb = sandbox("limits")
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("the health server under a flood of idle connections", () => {
  it("keeps the wrapper's descriptors bounded, cuts the idle ones, and answers probes again", async () => {
    const r = sb.replica("a", { wrapper: ["/bin/sh", "-c", "ulimit -n 80; exec \"$0\" \"$@\"", nodeBin, wrapperPath] })
    await r.transition("Leader")
    await eventually(() => readRecords(sb.childLog()).find((x) => x.event === "start"), "the child")
    const pid = r.proc.pid!
    const fds = () => readdirSync(`/proc/${pid}/fd`).length
    const baseline = fds()
    const port = await r.port
    const leading = r.lines.length

    const flood: Array<Socket> = []
    let closed = 0
    const started = Date.now()
    for (let i = 0; i < 150; i++) {
      const s = connect(port, "127.0.0.1")
      s.on("error", () => {})
      // Read what comes (a 408, then the end), so that the wrapper closing it is seen here.
      s.resume()
      s.on("close", () => closed++)
      flood.push(s)
    }
    let most = 0
    let answered: number | undefined
    while (answered === undefined && Date.now() - started < 15_000) {
      most = Math.max(most, fds())
      const res = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(300) }).catch(
        () => undefined
      )
      if (res?.status === 200) answered = Date.now() - started
      else await pause(100)
    }
    most = Math.max(most, fds())
    const cut = await eventually(() => (closed === 150 ? true : undefined), "every idle connection cut", 5_000)
      .catch(() => false)
    for (const s of flood) s.destroy()

    // At most 32 connections besides what the wrapper had, far from the limit of 80.
    expect(most, `descriptors: ${baseline} before the flood, up to ${most} during it`).toBeLessThanOrEqual(
      baseline + 32 + 6
    )
    // Idle connections are cut after 2 s without a request (checked every 500 ms); then probes are answered.
    expect(answered, "a probe answered").toBeLessThan(5_000)
    expect(cut, `idle connections cut by the wrapper: ${closed} of 150`).toBe(true)
    // The leader led on, its child untouched, and said once why connections were refused.
    expect(r.lines.slice(leading).filter((l) => l.message === "transition")).toEqual([])
    expect(readRecords(sb.childLog()).filter((x) => x.event === "stop")).toEqual([])
    expect(r.lines.filter((l) => l.message.includes("EMFILE"))).toEqual([])
    expect(r.lines.filter((l) => l.level === "WARN" && l.message.startsWith("health server: 32 connections")))
      .toHaveLength(1)
  }, 30_000)
})
