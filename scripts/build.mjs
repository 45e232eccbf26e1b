// Bundles src/main.ts into one ES module, dist/just-one-init.mjs (tree-shaken and minified: start-up time is a tracked figure).
import { build } from "esbuild"
import { copyFileSync, existsSync, readFileSync } from "node:fs"

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))

// client-node's modules are free of side effects that matter to us, but do not say so; saying it
// lets esbuild drop the generated API clients and models we never use.
const clientNodeSideEffectFree = {
  name: "client-node-side-effect-free",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "resolving" || !(args.importer.includes("@kubernetes/client-node") || args.path.startsWith("@kubernetes/client-node"))) return undefined
      const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: "resolving" })
      if (r.errors.length > 0 || !r.path.includes("@kubernetes/client-node")) return undefined
      return { path: r.path, namespace: r.namespace, sideEffects: false }
    })
  }
}

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/just-one-init.mjs",
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
  plugins: [clientNodeSideEffectFree],
  // Some bundled CommonJS (ws, via client-node) calls require() for Node built-ins.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
})

// The PID-1 reaper addon, built by `npm ci` (node-gyp), travels beside the bundle.
if (existsSync("build/Release/reaper.node")) copyFileSync("build/Release/reaper.node", "dist/reaper.node")
else console.warn("build/Release/reaper.node is missing: the bundle will run without reaping orphans")
