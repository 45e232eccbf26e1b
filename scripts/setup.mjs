// Runs before demo, test, bench and soak (npm's pre-scripts): on a fresh clone it installs exactly
// what package-lock.json pins (Node 24 included, through the `node` devDependency), so that
// `npm run demo` and `npm test` are the only set-up commands. Runs under whatever Node npm has.
import { spawnSync } from "node:child_process"
import { existsSync, statSync } from "node:fs"

const installed = "node_modules/.package-lock.json"
const stale = !existsSync(installed) || statSync("package-lock.json").mtimeMs > statSync(installed).mtimeMs
if (stale) {
  console.error("just-one-init: installing the pinned dependencies (npm ci) first")
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { stdio: "inherit" })
  process.exit(r.status ?? 1)
}
