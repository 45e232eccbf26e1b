// What tracing costs (npm run bench, section "tracing"): cold start to the child's exec and the RSS of
// a leader, without OTEL_EXPORTER_OTLP_ENDPOINT (the exporter is never loaded) and with it (spans go to a
// local OTLP/HTTP receiver). Runs of the two modes alternate, so that a busy machine weighs on both alike.
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { join } from "node:path"
import type { Emulator } from "../emulator/index.ts"
import { eventually, nodeBin, wrapperPath } from "../harness/replica.ts"
import { median, releasedLease } from "./bench-startup.ts"

export interface TracingCost {
  readonly mode: string
  readonly coldStartMs: { readonly median: number; readonly n: number }
  readonly leaderRssMb: { readonly median: number; readonly n: number }
}

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024

/** A receiver that takes every export and answers 200, as a collector would. */
const receiver = async () => {
  const server = createServer((req, res) => {
    req.resume()
    req.on("end", () => res.end("{}"))
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const a = server.address()
  return { url: `http://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`, close: () => server.close() }
}

export const measureTracing = async (
  emu: Emulator,
  dir: string,
  options: { readonly coldStarts: number; readonly rssRuns: number; readonly log: (s: string) => void }
): Promise<ReadonlyArray<TracingCost>> => {
  const collector = await receiver()
  const modes = [
    { mode: "no OTLP endpoint", env: {} },
    { mode: "OTLP endpoint set", env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url } }
  ]
  const kubeconfig = join(dir, "tracing.kubeconfig")
  emu.writeKubeconfig(kubeconfig, "tracing", "default")
  let lease = 0
  const wrapper = (env: Record<string, string>, command: ReadonlyArray<string>) => {
    // A released lease: one never seen would be waited out first, and this measures start-up.
    const name = `tracing-${lease++}`
    emu.setLease("default", name, releasedLease)
    return spawn(nodeBin, [wrapperPath, "--", ...command], {
      stdio: "ignore",
      env: {
        PATH: process.env["PATH"] ?? "",
        KUBECONFIG: kubeconfig,
        LEASE_NAME: name,
        POD_NAME: "tracing",
        LISTEN_ADDR: "127.0.0.1:0",
        ...env
      }
    })
  }

  const cold = modes.map(() => [] as Array<number>)
  const rss = modes.map(() => [] as Array<number>)
  // One unmeasured start per mode warms the page cache and the compile cache.
  for (let i = -1; i < options.coldStarts; i++) {
    for (const [m, mode] of modes.entries()) {
      const mark = join(dir, `tracing-cold-${m}-${i}`)
      const t0 = performance.timeOrigin + performance.now()
      const proc = wrapper(mode.env, ["/bin/sh", "-c", `date +%s%N > ${mark}`])
      await new Promise((r) => proc.once("exit", r))
      const childAt = Number(BigInt(readFileSync(mark, "utf8").trim()) / 1000n) / 1000
      if (i >= 0) cold[m]!.push(childAt - t0)
    }
  }
  options.log(`  tracing: ${options.coldStarts} cold starts per mode`)
  for (let i = 0; i < options.rssRuns; i++) {
    for (const [m, mode] of modes.entries()) {
      const mark = join(dir, `tracing-rss-${m}-${i}`)
      const proc = wrapper(mode.env, ["/bin/sh", "-c", `echo > ${mark}; exec sleep 60`])
      await eventually(() => {
        try {
          return readFileSync(mark, "utf8") === "\n" ? true : undefined
        } catch {
          return undefined
        }
      }, "the child")
      // A few renews (every 2 s) and, with the endpoint, an export (every 5 s) first.
      await new Promise((r) => setTimeout(r, 6_000))
      rss[m]!.push(rssMb(proc.pid!))
      proc.kill("SIGTERM")
      await new Promise((r) => proc.once("exit", r))
    }
  }
  options.log(`  tracing: ${options.rssRuns} leaders per mode`)
  collector.close()
  return modes.map((mode, m) => ({
    mode: mode.mode,
    coldStartMs: { median: median(cold[m]!), n: cold[m]!.length },
    leaderRssMb: { median: median(rss[m]!), n: rss[m]!.length }
  }))
}

export const tracingTable = (costs: ReadonlyArray<TracingCost>) =>
  [
    `| tracing | ${costs.map((c) => c.mode).join(" | ")} |`,
    `|---|${costs.map(() => "---").join("|")}|`,
    `| cold start to child exec, median (ms) | ${
      costs.map((c) => `${c.coldStartMs.median.toFixed(0)} (n=${c.coldStartMs.n})`).join(" | ")
    } |`,
    `| RSS of a leader after 6 s, median (MB) | ${
      costs.map((c) => `${c.leaderRssMb.median.toFixed(1)} (n=${c.leaderRssMb.n})`).join(" | ")
    } |`
  ].join("\n")
