// Stand-in for undici in the bundle. just-one-init talks HTTP through node:http(s) with the
// TLS options client-node loads; client-node's own fetch-based paths are never called, and
// leaving undici out takes about 700 kB (and its start-up cost) off the bundle.
const missing = () => {
  throw new Error("undici is not part of the just-one-init bundle")
}
export class Agent {
  constructor() {
    missing()
  }
}
export class ProxyAgent extends Agent {}
export const fetch = missing
