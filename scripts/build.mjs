// Bundles src/main.ts into one ES module, dist/main.mjs (options shared with the single executable in
// scripts/bundle.mjs), and writes the entry dist/just-one-init.mjs, which turns on V8's compile cache first.
import { build } from "esbuild"
import { copyFileSync, existsSync, writeFileSync } from "node:fs"
import { builtinsViaRequire, bundleOptions, clientNodeSideEffectFree } from "./bundle.mjs"

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.mjs",
  ...bundleOptions,
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

// The PID-1 reaper addon, built by `npm ci` (node-gyp), travels beside the bundle.
if (existsSync("build/Release/reaper.node")) copyFileSync("build/Release/reaper.node", "dist/reaper.node")
else console.warn("build/Release/reaper.node is missing: the bundle will run without reaping orphans")
