// Bundles src/main.ts into ES modules, dist/main.mjs and its chunks (options shared with the single
// executable in scripts/bundle.mjs), and writes the entry dist/just-one-init.mjs, which turns on V8's
// compile cache first.
import { build } from "esbuild"
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { builtinsViaRequire, bundleOptions, clientNodeSideEffectFree } from "./bundle.mjs"

// Chunks of earlier builds would pile up beside the new ones.
for (const f of existsSync("dist") ? readdirSync("dist") : []) {
  if (/^[A-Za-z]+-[A-Z0-9]{8}\.mjs$/.test(f)) rmSync(`dist/${f}`)
}

await build({
  entryPoints: ["src/main.ts"],
  ...bundleOptions,
  // dist/main.mjs and chunks beside it: what only some runs need (the timeline, the OTLP exporter,
  // the Prometheus text format) is imported dynamically and so never loaded by the others. The chunks
  // stay flat beside main.mjs: the reaper addon is found relative to the module that loads it.
  outdir: "dist",
  entryNames: "main",
  chunkNames: "[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
  format: "esm",
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

// The PID-1 reaper addon and child-init, built by `npm ci` (node-gyp), travel beside the bundle.
if (existsSync("build/Release/reaper.node")) copyFileSync("build/Release/reaper.node", "dist/reaper.node")
else console.warn("build/Release/reaper.node is missing: the bundle will run without reaping orphans")
if (existsSync("build/Release/child-init")) copyFileSync("build/Release/child-init", "dist/child-init")
else console.warn("build/Release/child-init is missing: a killed wrapper will leave its child running")
