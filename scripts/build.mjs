// Bundles src/main.ts into ES modules, dist/main.mjs and its chunks (tree-shaken and minified: start-up time
// is a tracked figure), and writes the entry dist/just-one-init.mjs, which turns on V8's compile cache first.
import { build } from "esbuild"
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))

// client-node's modules are free of side effects that matter to us, but do not say so; saying it
// lets esbuild drop the generated API clients and models we never use.
const clientNodeSideEffectFree = {
  name: "client-node-side-effect-free",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (
        args.pluginData === "resolving"
        || !(args.importer.includes("@kubernetes/client-node") || args.path.startsWith("@kubernetes/client-node"))
      ) return undefined
      const r = await b.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        importer: args.importer,
        pluginData: "resolving"
      })
      if (r.errors.length > 0 || !r.path.includes("@kubernetes/client-node")) return undefined
      return { path: r.path, namespace: r.namespace, sideEffects: false }
    })
  }
}

// An ES import of node:http builds a module facade that reads every export, and one of them
// lazily loads Node's internal undici (about 20 ms of start-up). require() does not.
const builtinsViaRequire = {
  name: "builtins-via-require",
  setup(b) {
    b.onResolve(
      { filter: /^(node:)?https?$/ },
      (args) =>
        args.namespace === "builtin-require"
          ? { path: args.path, external: true }
          : { path: args.path.replace(/^node:/, ""), namespace: "builtin-require" }
    )
    b.onLoad(
      { filter: /.*/, namespace: "builtin-require" },
      (args) => ({ contents: `module.exports = require("node:${args.path}")`, loader: "js" })
    )
  }
}

// Chunks of earlier builds would pile up beside the new ones.
for (const f of existsSync("dist") ? readdirSync("dist") : []) {
  if (/^[A-Za-z]+-[A-Z0-9]{8}\.mjs$/.test(f)) rmSync(`dist/${f}`)
}

await build({
  entryPoints: ["src/main.ts"],
  // dist/main.mjs and chunks beside it: what only some runs need (the timeline, the OTLP exporter,
  // the Prometheus text format) is imported dynamically and so never loaded by the others. The chunks
  // stay flat beside main.mjs: the reaper addon is found relative to the module that loads it.
  outdir: "dist",
  entryNames: "main",
  chunkNames: "[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
  bundle: true,
  platform: "node",
  target: "node24",
  format: "esm",
  minify: true,
  treeShaking: true,
  legalComments: "none",
  logLevel: "warning",
  define: { __VERSION__: JSON.stringify(version) },
  alias: { undici: "./scripts/shims/undici.mjs" },
  plugins: [builtinsViaRequire, clientNodeSideEffectFree],
  // Some bundled CommonJS (ws, via client-node) calls require() for Node built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
})

// Compiling the bundle is about a third of start-up; with the cache (in the temp dir, or
// NODE_COMPILE_CACHE) later starts skip it. Where the cache cannot be written it is simply off.
writeFileSync(
  "dist/just-one-init.mjs",
  `#!/usr/bin/env node
import { enableCompileCache } from "node:module"
enableCompileCache?.()
await import("./main.mjs")
`,
  { mode: 0o755 }
)

// The PID-1 reaper addon, built by `npm ci` (node-gyp), travels beside the bundle.
if (existsSync("build/Release/reaper.node")) copyFileSync("build/Release/reaper.node", "dist/reaper.node")
else console.warn("build/Release/reaper.node is missing: the bundle will run without reaping orphans")
