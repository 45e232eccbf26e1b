/**
 * CLI: start the Kubernetes API emulator and print one JSON line {"url":...,"port":...}.
 * Runs until SIGTERM/SIGINT. Bad arguments: one line naming the option, exit 2.
 */
import { readFileSync } from "node:fs"
import type { CustomResource, EmulatorOptions, KubeObject } from "./index.ts"
import { startEmulator } from "./index.ts"
import { isRecord } from "./util.ts"

const usage = `usage: node emulator/main.ts [options]
  --port N                   listen port (default 0: any free one)
  --host H                   listen address (default 127.0.0.1)
  --namespace NS             a namespace that exists at start (repeatable; default default, kube-system)
  --token T                  an accepted bearer token (repeatable; default: any token or none)
  --bookmark-interval-ms N   BOOKMARK interval of watches that allow them (default 60000)
  --crd GROUP/VERSION/KIND/PLURAL[/cluster]
                             serve a custom resource (repeatable; example.com/v1 Widget always is)
  --missing-group G[/V]      an API group (or group/version) the server does not have (repeatable)
  --objects FILE             objects to store at start: YAML documents, a JSON object, array or List
  --kubeconfig FILE          write a kubeconfig for the first --token (else anonymous) once listening`

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

const args = process.argv.slice(2)
const namespaces: Array<string> = []
const tokens: Array<string> = []
const customResources: Array<CustomResource> = []
const missingGroups: Array<string> = []
let port: number | undefined
let host: string | undefined
let bookmarkIntervalMs: number | undefined
let objectsFile: string | undefined
let kubeconfigFile: string | undefined

const integer = (flag: string, v: string, min: number, max: number) => {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got "${v}"`)
  return n
}

const crd = (v: string): CustomResource => {
  const parts = v.split("/")
  const [group, version, kind, plural, scope] = parts
  if (
    parts.length < 4 || parts.length > 5 || (scope !== undefined && scope !== "cluster") || parts.some((p) => p === "")
  ) {
    return fail(`--crd must be GROUP/VERSION/KIND/PLURAL[/cluster] (e.g. example.com/v1/Gadget/gadgets), got "${v}"`)
  }
  return { group: group!, version: version!, kind: kind!, plural: plural!, namespaced: scope === undefined }
}

for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined]
  const value = () => inline ?? args[++i] ?? fail(`${flag} needs a value\n${usage}`)
  switch (flag) {
    case "--port":
      port = integer(flag, value(), 0, 65535)
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
      bookmarkIntervalMs = integer(flag, value(), 1, 86_400_000)
      break
    case "--crd":
      customResources.push(crd(value()))
      break
    case "--missing-group":
      missingGroups.push(value())
      break
    case "--objects":
      objectsFile = value()
      break
    case "--kubeconfig":
      kubeconfigFile = value()
      break
    case "--help":
      process.stdout.write(`${usage}\n`)
      process.exit(0)
      break
    default:
      fail(`unknown argument ${a}\n${usage}`)
  }
}

/** Objects from a file: YAML documents (js-yaml, a devDependency, loaded only for YAML) or JSON; List kinds unwrap. */
const loadObjects = async (file: string): Promise<Array<KubeObject>> => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    return fail(`--objects ${file}: ${(e as Error).message}`)
  }
  let docs: Array<unknown>
  try {
    docs = /^\s*[[{]/.test(text) ? [JSON.parse(text)] : (await import("js-yaml")).loadAll(text)
  } catch (e) {
    return fail(`--objects ${file}: not YAML or JSON: ${(e as Error).message.split("\n")[0]}`)
  }
  const flat = docs.flatMap((d) => (Array.isArray(d) ? d : isRecord(d) && Array.isArray(d["items"]) ? d["items"] : [d]))
  return flat.filter((d) => d !== null && d !== undefined).map((d, i) => {
    if (
      !isRecord(d) || typeof d["apiVersion"] !== "string" || typeof d["kind"] !== "string" || !isRecord(d["metadata"])
    ) {
      return fail(`--objects ${file}: object ${i + 1} needs apiVersion, kind and metadata`)
    }
    return d as KubeObject
  })
}

const objects = objectsFile === undefined ? [] : await loadObjects(objectsFile)
const opts: EmulatorOptions = {
  ...(port === undefined ? {} : { port }),
  ...(host === undefined ? {} : { host }),
  ...(namespaces.length === 0 ? {} : { namespaces }),
  ...(tokens.length === 0 ? {} : { tokens }),
  ...(bookmarkIntervalMs === undefined ? {} : { bookmarkIntervalMs }),
  ...(customResources.length === 0 ? {} : { customResources }),
  ...(missingGroups.length === 0 ? {} : { missingGroups })
}
// Listening fails on the address; building the registry fails only on a --crd.
const emu = await startEmulator(opts).catch((e: unknown) =>
  fail(
    (e as NodeJS.ErrnoException).syscall === "listen"
      ? `--port/--host: ${(e as Error).message}`
      : `--crd: ${(e as Error).message}`
  )
)
for (const [i, o] of objects.entries()) {
  try {
    emu.putObject(o)
  } catch (e) {
    await emu.close()
    fail(`--objects ${objectsFile}: object ${i + 1} (${o.kind} ${o.metadata.name}): ${(e as Error).message}`)
  }
}
if (kubeconfigFile !== undefined) emu.writeKubeconfig(kubeconfigFile, tokens[0] ?? "anonymous")
process.stdout.write(`${JSON.stringify({ url: emu.url, port: emu.port })}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  emu.close().then(() => process.exit(0), () => process.exit(1))
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
