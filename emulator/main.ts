/**
 * CLI: start the Lease API emulator and print one JSON line {"url":...,"port":...}.
 * Usage: node emulator/main.ts [--port N] [--host H] [--namespace NS]... [--token T]... [--bookmark-interval-ms N]
 * Runs until SIGTERM/SIGINT.
 */
import type { EmulatorOptions } from "./index.ts"
import { startEmulator } from "./index.ts"

const args = process.argv.slice(2)
const namespaces: Array<string> = []
const tokens: Array<string> = []
let port: number | undefined
let host: string | undefined
let bookmarkIntervalMs: number | undefined
const usage = "usage: main.ts [--port N] [--host H] [--namespace NS]... [--token T]... [--bookmark-interval-ms N]"
for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined]
  const value = () => {
    const v = inline ?? args[++i]
    if (v === undefined) {
      process.stderr.write(`${flag} needs a value\n${usage}\n`)
      process.exit(2)
    }
    return v
  }
  switch (flag) {
    case "--port":
      port = Number(value())
      break
    case "--host":
      host = value()
      break
    case "--namespace":
      namespaces.push(value())
      break
    case "--token":
      tokens.push(value())
      break
    case "--bookmark-interval-ms":
      bookmarkIntervalMs = Number(value())
      break
    case "--help":
      process.stdout.write(`${usage}\n`)
      process.exit(0)
      break
    default:
      process.stderr.write(`unknown argument ${a}\n${usage}\n`)
      process.exit(2)
  }
}
if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
  process.stderr.write(`--port must be 0..65535\n`)
  process.exit(2)
}

const opts: EmulatorOptions = {
  ...(port === undefined ? {} : { port }),
  ...(host === undefined ? {} : { host }),
  ...(namespaces.length === 0 ? {} : { namespaces }),
  ...(tokens.length === 0 ? {} : { tokens }),
  ...(bookmarkIntervalMs === undefined ? {} : { bookmarkIntervalMs })
}
const emu = await startEmulator(opts)
process.stdout.write(`${JSON.stringify({ url: emu.url, port: emu.port })}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  emu.close().then(() => process.exit(0), () => process.exit(1))
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
