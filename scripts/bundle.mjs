// esbuild settings shared by the bundle (scripts/build.mjs) and the single executable
// (scripts/build-binary.mjs): one tree-shaken, minified file (start-up time is a tracked figure).
import { readFileSync } from "node:fs"

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))

// client-node's modules are free of side effects that matter to us, but do not say so; saying it
// lets esbuild drop the generated API clients and models we never use.
export const clientNodeSideEffectFree = {
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
export const builtinsViaRequire = {
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

/** Options of both builds; each adds its entry point, output and format. */
export const bundleOptions = {
  bundle: true,
  platform: "node",
  target: "node24",
  minify: true,
  treeShaking: true,
  legalComments: "none",
  logLevel: "warning",
  define: { __VERSION__: JSON.stringify(version) },
  alias: { undici: "./scripts/shims/undici.mjs" }
}
