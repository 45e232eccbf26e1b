/**
 * The single executable carries native files (the reaper addon, child-init) as assets; a process can only load
 * or run a file. This writes one to a private temp dir (TMPDIR or /tmp, writable and not noexec), hands its path
 * to `use`, and removes the dir whatever happens: what `use` needs to keep, it keeps open.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** `use`'s result, or undefined where this is no single executable or the file cannot be written or used. */
export const withAsset = <A>(name: string, use: (path: string) => A | undefined): A | undefined => {
  let dir: string | undefined
  try {
    const asset = process.getBuiltinModule("node:sea").getAsset(name)
    dir = mkdtempSync(join(tmpdir(), "just-one-init-"))
    const path = join(dir, name)
    writeFileSync(path, new Uint8Array(asset), { mode: 0o500 })
    return use(path)
  } catch {
    return undefined
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
}
