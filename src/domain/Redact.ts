/**
 * A URL as it may be shown (labels, reasons, /status, spans): its user name,
 * password, query values and fragment masked, while what tells the gate apart
 * stays (scheme, host, port, path, query keys). `scrub` takes the same secrets
 * out of free text, such as an error that quotes the URL.
 */

const mask = "***"

/** `k=v&w` → `k=***&w`: keys stay, values go. */
const maskQuery = (query: string) =>
  query.split("&").map((part) => (part.includes("=") ? `${part.slice(0, part.indexOf("="))}=${mask}` : part)).join("&")

/** The URL without its secrets; text that is no URL has whatever looks like userinfo, a query value or a fragment masked. */
export const redactUrl = (text: string): string => {
  const url = URL.parse(text)
  if (url === null) {
    return text.replace(/\/\/[^/?#]*@/, `//${mask}@`).replace(/\?([^#]*)/, (_, q: string) => `?${maskQuery(q)}`)
      .replace(/#.*$/, `#${mask}`)
  }
  if (url.username === "" && url.password === "" && url.search === "" && url.hash === "") return text
  const userinfo = url.username === "" && url.password === "" ? "" : `${mask}${url.password === "" ? "" : `:${mask}`}@`
  const query = url.search === "" ? "" : `?${maskQuery(url.search.slice(1))}`
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}${url.hash === "" ? "" : `#${mask}`}`
}

const decoded = (part: string) => {
  try {
    return decodeURIComponent(part.replaceAll("+", " "))
  } catch {
    return part
  }
}

const replaceAll = (text: string, targets: Iterable<string>, by: string) =>
  [...new Set(targets)].sort((a, b) => b.length - a.length).reduce((t, target) => t.split(target).join(by), text)

/**
 * `message` with every secret of the URL `text` masked: the URL as a whole (as given, normalised, or
 * without its credentials, as fetch is given it) becomes its redacted form; then any user name,
 * password, query value or fragment of 4 characters or more left in it, raw or decoded, is masked (a
 * shorter one could not be told from ordinary words).
 */
export const scrub = (message: string, text: string): string => {
  const url = URL.parse(text)
  if (url === null) return replaceAll(message, [text], redactUrl(text))
  const bare = new URL(url.href)
  bare.username = ""
  bare.password = ""
  const raw = [
    url.username,
    url.password,
    url.hash.slice(1),
    ...url.search.slice(1).split("&").filter((p) => p.includes("=")).map((p) => p.slice(p.indexOf("=") + 1))
  ]
  const parts = [...raw, ...raw.map(decoded)].filter((p) => p.length >= 4)
  return replaceAll(replaceAll(message, [text, url.href, bare.href], redactUrl(text)), parts, mask)
}
