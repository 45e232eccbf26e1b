/**
 * A mutated copy of the election: src/domain/Election.ts and the modules it
 * imports, copied to a temporary folder, with textual patches applied. Each
 * patch must match (a patch that no longer fits the source fails loudly, so a
 * mutation can never silently turn into the original). The source is never
 * touched.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export interface Patch {
  /** The file under src/domain, e.g. "Election.ts". */
  readonly file: string
  readonly find: RegExp
  readonly replace: string
}

export interface Mutant {
  /** The URL of the copied Election.ts, for loadElection. */
  readonly url: string
  readonly remove: () => void
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const domain = join(root, "src", "domain")

/** Bare imports point at this repository's node_modules, since the copy lives elsewhere. */
const bare = (specifier: string) => pathToFileURL(join(root, "node_modules", specifier, "dist", "index.js")).href

export const mutate = (patches: ReadonlyArray<Patch>): Mutant => {
  const dir = mkdtempSync(join(tmpdir(), "just-one-init-mutant-"))
  const files = new Map<string, string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    const text = readFileSync(join(domain, file), "utf8")
    files.set(file, text)
    for (const m of text.matchAll(/from "\.\/([A-Za-z]+\.ts)"/g)) visit(m[1]!)
  }
  visit("Election.ts")
  for (const p of patches) {
    const text = files.get(p.file)
    if (text === undefined) throw new Error(`mutation: ${p.file} is not among the election's modules`)
    const global = new RegExp(p.find.source, p.find.flags.includes("g") ? p.find.flags : `${p.find.flags}g`)
    if (!global.test(text)) {
      throw new Error(`mutation: the patch ${p.find} no longer matches src/domain/${p.file}; update the mutation`)
    }
    files.set(p.file, text.replace(global, p.replace))
  }
  for (const [file, text] of files) {
    writeFileSync(join(dir, file), text.replace(/from "([a-z@][^"./]*)"/g, (_, s: string) => `from "${bare(s)}"`))
  }
  return {
    url: pathToFileURL(join(dir, "Election.ts")).href,
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}
