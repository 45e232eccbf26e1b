/**
 * Per-test sandbox for end-to-end files: a fresh API emulator and temp dir before
 * each test, and every wrapper process killed (whole tree) and the emulator closed after.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach } from "vitest"
import type { Emulator, EmulatorOptions } from "../../emulator/index.ts"
import { startEmulator } from "../../emulator/index.ts"
import type { Replica, ReplicaOptions } from "../../harness/replica.ts"
import { startReplica } from "../../harness/replica.ts"

export interface Sandbox {
  emu: Emulator
  dir: string
  /** A lease name of its own for every test. */
  leaseName: string
  readonly replicas: Array<Replica>
  childLog(): string
  /** Start a wrapper with its own kubeconfig (its bearer token is its id). */
  replica(id: string, extra?: Partial<ReplicaOptions>): Replica
  /** Replace the emulator with one built with other options. */
  restartEmulator(options: EmulatorOptions): Promise<void>
}

/**
 * A wrapper left running by a test is stopped the way a pod is: SIGTERM, so that it stops everything
 * its child started (setsid daemons included, which a SIGKILL of the tree would leave behind), and a
 * SIGKILL of the tree only if it has not exited within a few seconds.
 */
const stop = async (r: Replica) => {
  if (r.exitCode !== undefined) return
  r.signal("SIGTERM")
  const exited = await Promise.race([
    r.exited.then(() => true),
    new Promise((ok) => setTimeout(() => ok(false), 8_000))
  ])
  if (!exited) await r.killTree()
}

export const sandbox = (prefix: string): Sandbox => {
  let counter = 0
  const sb: Sandbox = {
    emu: undefined as unknown as Emulator,
    dir: "",
    leaseName: "",
    replicas: [],
    childLog: () => join(sb.dir, "children.jsonl"),
    replica: (id, extra = {}) => {
      const kubeconfig = join(sb.dir, `${id}.kubeconfig`)
      sb.emu.writeKubeconfig(kubeconfig, id, extra.namespace ?? "default")
      const r = startReplica({ id, kubeconfig, leaseName: sb.leaseName, childLog: sb.childLog(), ...extra })
      sb.replicas.push(r)
      return r
    },
    restartEmulator: async (options) => {
      await sb.emu.close()
      sb.emu = await startEmulator(options)
    }
  }
  beforeEach(async () => {
    sb.emu = await startEmulator()
    sb.dir = mkdtempSync(join(tmpdir(), `joi-${prefix}-`))
    sb.leaseName = `${prefix}-${++counter}`
    // A lease released by an earlier run: a lease never seen at all is waited out for one lease first
    // (it may have been deleted under a running leader), which would only slow every test down.
    sb.emu.setLease("default", sb.leaseName, { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 })
    sb.replicas.length = 0
  })
  afterEach(async () => {
    await Promise.all(sb.replicas.map(stop))
    await sb.emu.close()
  })
  return sb
}
