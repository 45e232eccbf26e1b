// npm run build:binary: dist/just-one-init, a Node single executable application (SEA) holding the
// whole wrapper: this Node, a V8 startup snapshot with the bundled program already loaded
// (src/sea.ts), and the PID-1 reaper addon and child-init as assets. One file; it runs on a glibc
// Linux without Node.
//   1. esbuild: src/sea.ts → build/sea/main.cjs, self-contained CommonJS (what a SEA runs)
//   2. node --experimental-sea-config: loads it, snapshots the heap, adds the assets → build/sea/sea.blob
//   3. a stripped copy of this Node with the blob injected by postject → dist/just-one-init
import { build } from "esbuild"
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { bundleOptions, clientNodeSideEffectFree } from "./bundle.mjs"

const require = createRequire(import.meta.url)
// The executable is this Node: the one package.json's engines ask for, not whatever is first on PATH
// (npm run puts the `node` devDependency there).
if (Number(process.versions.node.split(".")[0]) < 24) {
  console.error(
    `build-binary: Node ${process.version} would be the executable's Node; run it with Node 24 (npm run build:binary)`
  )
  process.exit(1)
}
const started = performance.now()
const work = "build/sea"
const out = "dist/just-one-init"
mkdirSync(work, { recursive: true })
mkdirSync("dist", { recursive: true })

// Built-ins that Node cannot snapshot once loaded: an import of node:http alone aborts the build
// ("global handle not serialized: HTTPParser", then "CheckGlobalAndEternalHandles failed"), and
// Node vouches for none of the others (they are left out of supportedModules in its
// lib/internal/main/mksnapshot.js).
// The program uses them only at run time, so each import gets an object of getters that loads
// the real module on first use, after deserialisation.
const unsnapshottable = [
  "_http_agent",
  "_http_client",
  "_http_common",
  "_http_incoming",
  "_http_outgoing",
  "_http_server",
  "_tls_common",
  "_tls_wrap",
  "async_hooks",
  "child_process",
  "cluster",
  "dgram",
  "dns/promises",
  "domain",
  "http",
  "http2",
  "https",
  "inspector",
  "module",
  "perf_hooks",
  "readline",
  "repl",
  "tls",
  "trace_events",
  "tty",
  "vm",
  "worker_threads"
]
const lazyBuiltins = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/0-9]+$/ }, (args) => {
      const id = args.path.replace(/^node:/, "")
      // The stand-in's own require() of the module must reach the real one.
      if (args.namespace === "lazy-builtin" || !unsnapshottable.includes(id)) return undefined
      return { path: id, namespace: "lazy-builtin" }
    })
    b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
      contents: [
        `let m; const load = () => (m ??= require("node:${args.path}"));`,
        ...Object.keys(require(`node:${args.path}`)).map((name) => {
          const key = JSON.stringify(name)
          return `Object.defineProperty(exports, ${key}, { enumerable: true, get: () => load()[${key}], set: (v) => { load()[${key}] = v } });`
        })
      ].join("\n"),
      loader: "js"
    }))
  }
}

// Nor can client-node's proxy support be in the snapshot: its proxy agents extend http.Agent as
// they load, and `debug` (which they use) asks tty about stderr and reads DEBUG then. They matter
// only when a kubeconfig names a proxy, so each export that client-node imports is a stand-in that
// loads the real package on first use (a call, `new`, or a property such as a static method).
const lazyPackages = {
  "hpagent": ["HttpProxyAgent", "HttpsProxyAgent"],
  "socks-proxy-agent": ["SocksProxyAgent"],
  "socks": ["SocksClient"]
}
const lazyClientNodeDeps = {
  name: "lazy-client-node-deps",
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(lazyPackages).join("|")})$`)
    b.onResolve(
      { filter },
      (args) =>
        args.importer.includes("@kubernetes/client-node") ? { path: args.path, namespace: "lazy-package" } : undefined
    )
    b.onLoad({ filter: /.*/, namespace: "lazy-package" }, (args) => ({
      contents: [
        `let m; const load = () => (m ??= require("${args.path}"));`,
        "const lazy = (name) => new Proxy(function() {}, {",
        "  construct: (_, args) => new (load()[name])(...args),",
        "  apply: (_, self, args) => load()[name].apply(self, args),",
        "  get: (_, key) => load()[name][key]",
        "});",
        ...lazyPackages[args.path].map((name) => `exports.${name} = lazy("${name}");`)
      ].join("\n"),
      loader: "js",
      resolveDir: process.cwd()
    }))
  }
}

await build({
  ...bundleOptions,
  entryPoints: ["src/sea.ts"],
  outfile: `${work}/main.cjs`,
  format: "cjs",
  // Reaper.ts and ChildInit.ts take import.meta.url only to find their files beside the bundle; here
  // they are assets.
  define: { ...bundleOptions.define, "import.meta.url": "undefined" },
  plugins: [lazyClientNodeDeps, lazyBuiltins, clientNodeSideEffectFree]
})

const addon = "build/Release/reaper.node"
if (!existsSync(addon)) console.warn(`${addon} is missing: the executable will run without reaping orphans`)
const childInit = "build/Release/child-init"
if (!existsSync(childInit)) console.warn(`${childInit} is missing: a killed executable will leave its child running`)
writeFileSync(
  `${work}/sea-config.json`,
  JSON.stringify({
    main: `${work}/main.cjs`,
    output: `${work}/sea.blob`,
    disableExperimentalSEAWarning: true,
    // With the snapshot, useCodeCache would be redundant (Node says so): the functions compiled
    // while loading are in the snapshot already.
    useSnapshot: true,
    // NODE_OPTIONS in a container's environment is meant for its Node app, not for the wrapper.
    execArgvExtension: "none",
    assets: {
      ...(existsSync(addon) ? { "reaper.node": addon } : {}),
      ...(existsSync(childInit) ? { "child-init": childInit } : {})
    }
  })
)
// A module that still touched one of the lazy built-ins while loading would pull it into the
// snapshot after all; Node warns about that, and the build refuses such a snapshot.
const blob = spawnSync(process.execPath, ["--experimental-sea-config", `${work}/sea-config.json`], {
  encoding: "utf8"
})
if (blob.status !== 0 || /not yet fully verified/.test(blob.stderr)) {
  process.stderr.write(blob.stdout + blob.stderr)
  throw new Error("building the single executable's snapshot failed")
}

// Node's debug information and static symbol table are 18 MB that nothing reads at run time; the
// dynamic symbols, which the addon links against, stay. The build notes go too, as postject warns
// about each of them once the symbols are gone. Without binutils it ships unstripped.
const node = `${work}/node`
rmSync(node, { force: true })
if (
  spawnSync("strip", ["--strip-all", "--remove-section=.gnu.build.attributes", "-o", node, process.execPath]).status
    !== 0
) {
  console.warn("strip (binutils) is not available: the executable keeps Node's debug information")
  copyFileSync(process.execPath, node)
}
const inject = spawnSync(process.execPath, [
  require.resolve("postject/dist/cli.js"),
  node,
  "NODE_SEA_BLOB",
  `${work}/sea.blob`,
  "--sentinel-fuse",
  "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"
], { encoding: "utf8" })
if (inject.status !== 0) {
  process.stderr.write(inject.stdout + inject.stderr)
  throw new Error("postject could not inject the blob")
}
chmodSync(node, 0o755)
renameSync(node, out)

const version = execFileSync(out, ["--version"], { encoding: "utf8", env: {} }).trim()
const seconds = ((performance.now() - started) / 1000).toFixed(1)
console.log(`${out}: version ${version}, ${(statSync(out).size / 1e6).toFixed(1)} MB, built in ${seconds} s`)
