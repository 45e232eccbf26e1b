/** Raw HTTP to an API server (the emulator) for tests: one call, and a watch stream read event by event. */

export interface Res {
  status: number
  headers: Headers
  text: string
  json: any
}

export interface CallOptions {
  /** Bearer token; null sends none. Default "t1". */
  token?: string | null
  /** Content-Type of the body (default application/json). */
  type?: string
  accept?: string
  signal?: AbortSignal
}

export const kubeCall = async (method: string, url: string, body?: unknown, o: CallOptions = {}): Promise<Res> => {
  const headers: Record<string, string> = {}
  const token = o.token === undefined ? "t1" : o.token
  if (token !== null) headers["authorization"] = `Bearer ${token}`
  if (body !== undefined) headers["content-type"] = o.type ?? "application/json"
  if (o.accept !== undefined) headers["accept"] = o.accept
  const r = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    ...(o.signal === undefined ? {} : { signal: o.signal })
  })
  const text = await r.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: r.status, headers: r.headers, text, json }
}

export interface WatchStream {
  readonly status: number
  readonly contentType: string | null
  /** The next event; undefined once the stream has ended. Rejects after timeoutMs without one. */
  next(timeoutMs?: number): Promise<any>
  /** Skip to the next event of this type. */
  nextOf(type: string): Promise<any>
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>
  /** Whether it has ended. */
  readonly done: boolean
  close(): void
}

export const openWatch = async (url: string, token = "t1"): Promise<WatchStream> => {
  const ac = new AbortController()
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal })
  const reader = r.body!.getReader()
  const decoder = new TextDecoder()
  const queue: Array<any> = []
  const waiters: Array<() => void> = []
  let done = false
  const wake = () => {
    for (const w of waiters.splice(0)) w()
  }
  const ended = (async () => {
    let buf = ""
    try {
      for (;;) {
        const { done: eof, value } = await reader.read()
        if (eof) break
        buf += decoder.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf("\n")) >= 0) {
          queue.push(JSON.parse(buf.slice(0, i)))
          buf = buf.slice(i + 1)
          wake()
        }
      }
    } catch {
      // aborted
    }
    done = true
    wake()
  })()
  const next = async (timeoutMs = 3000): Promise<any> => {
    const deadline = Date.now() + timeoutMs
    while (queue.length === 0 && !done) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error("no watch event in time")
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        timer = setTimeout(resolve, left)
      })
      clearTimeout(timer)
    }
    return queue.shift()
  }
  return {
    status: r.status,
    contentType: r.headers.get("content-type"),
    next,
    nextOf: async (type) => {
      for (;;) {
        const e = await next()
        if (e === undefined || e.type === type) return e
      }
    },
    ended,
    get done() {
      return done
    },
    close: () => ac.abort()
  }
}
