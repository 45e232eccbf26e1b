/** Small helpers shared by the emulator's modules. */

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** Seconds-precision RFC 3339 in UTC, as metav1.Time is written. */
export const nowSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

/** JSON with object keys sorted: Go encodes structs in a fixed order and maps sorted, so key order never makes two objects differ. */
export const canonical = (v: unknown): string =>
  JSON.stringify(
    v,
    (_k, x: unknown) => isRecord(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x
  )

/** Drop null-valued fields (recursively), as decoding into typed Go structs does. */
export const dropNulls = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(dropNulls)
  if (!isRecord(v)) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = dropNulls(x)
  return out
}

/** Read a dotted path ("status.phase") from an object. */
export const at = (o: unknown, path: string): unknown => {
  let cur = o
  for (const p of path.split(".")) cur = isRecord(cur) ? cur[p] : undefined
  return cur
}

/** A record at o[key], created when absent. */
export const recordAt = (o: Record<string, unknown>, key: string): Record<string, unknown> => {
  const v = o[key]
  if (isRecord(v)) return v
  const fresh: Record<string, unknown> = {}
  o[key] = fresh
  return fresh
}

/** The characters Kubernetes uses for generateName suffixes (utilrand.String: no vowels, no look-alikes). */
const alphabet = "bcdfghjklmnpqrstvwxz2456789"
export const randomSuffix = (n = 5) =>
  Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join("")
