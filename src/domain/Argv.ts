/**
 * The lexical part of the command line: how argv splits into option values
 * and the child's command, the subcommands, and `--help`.
 */
import { Result, Schema } from "effect"
import { type FlagValue, options } from "./Options.ts"

/** One bad setting: printed as a single line, exit code 2. */
export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  setting: Schema.String,
  message: Schema.String
}) {}

export type Args =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Timeline"; readonly files: ReadonlyArray<string> }
  /** `just-one-init handover …`: its own arguments, read by HandoverArgs.ts. */
  | { readonly _tag: "HandoverArgs"; readonly argv: ReadonlyArray<string> }
  | {
    readonly _tag: "Options"
    readonly flags: ReadonlyArray<FlagValue>
    /** The child's argv: after `--`, or from the first word that is not an option; null when there is none. */
    readonly command: ReadonlyArray<string> | null
  }

const fail = (setting: string, message: string) => Result.fail(new SettingsError({ setting, message }))

/** Split argv into option values and the child's command (k8s-await-election style: the command needs no `--`). */
export const splitArgv = (argv: ReadonlyArray<string>): Result.Result<Args, SettingsError> => {
  if (argv[0] === "timeline") {
    const flag = argv.slice(1).find((a) => a.startsWith("-") && a !== "-")
    if (flag !== undefined) return fail("timeline", `timeline takes only file names, got ${JSON.stringify(flag)}`)
    return Result.succeed({ _tag: "Timeline", files: argv.slice(1) })
  }
  if (argv[0] === "handover") return Result.succeed({ _tag: "HandoverArgs", argv: argv.slice(1) })
  const flags: Array<FlagValue> = []
  let wants: "Help" | "Version" | undefined
  let command: ReadonlyArray<string> | null = null
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      command = argv.slice(i + 1)
      break
    }
    if (arg === "--help" || arg === "-h") wants ??= "Help"
    else if (arg === "--version" || arg === "-V") wants ??= "Version"
    else if (!arg.startsWith("-") || arg === "-") {
      command = argv.slice(i)
      break
    } else {
      const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
      const name = eq === -1 ? arg : arg.slice(0, eq)
      const o = options.find((o) => o.flags.includes(name))
      if (o === undefined) return fail(name, `unknown option ${JSON.stringify(name.slice(0, 80))} (see --help)`)
      if (o.switch !== undefined) {
        if (eq !== -1) return fail(o.key, `${name} takes no value`)
        flags.push({ key: o.key, value: o.switch })
      } else if (eq !== -1) flags.push({ key: o.key, value: arg.slice(eq + 1) })
      else {
        const next = argv[i + 1]
        if (next === undefined) return fail(o.key, `${name} needs a value`)
        flags.push({ key: o.key, value: next })
        i++
      }
    }
  }
  if (wants !== undefined) return Result.succeed({ _tag: wants })
  return Result.succeed({ _tag: "Options", flags, command })
}

export const usage = (version: string): string =>
  [
    `just-one-init ${version}: run <command> in exactly one replica, elected through a Kubernetes Lease.`,
    "",
    "usage: just-one-init [options] [--] <command> [args...]",
    "       just-one-init timeline [FILE...]",
    "       just-one-init handover --lease-name NAME [--namespace NS] [--to IDENTITY] [--timeout DURATION]",
    "",
    ...options.map((o) => `  ${o.flags.join(", ").padEnd(36)} ${o.help}\n  ${"".padEnd(36)} env: ${o.env.join(", ")}`),
    `  ${"-h, --help".padEnd(36)} show this help`,
    `  ${"-V, --version".padEnd(36)} show the version`,
    "",
    "The command: the words after the options (or after --); else COMMAND, split as a shell splits words (no expansion).",
    "With gates and no command, just-one-init waits for the gates and exits 0 (an init container).",
    "Gates (--wait-for KIND:TARGET): service:[NS/]NAME, job:[NS/]NAME, daemonset:[NS/]NAME, container:NAME,",
    "  pod:[NS/]KEY=VALUE[,KEY=VALUE...] (in WAIT_FOR join labels with +), file:PATH, socket:PATH, tcp:HOST:PORT,",
    "  dns:NAME, http://URL, https://URL. kubernetes-entrypoint's DEPENDENCY_* variables are read as well.",
    "k8s-await-election's K8S_AWAIT_ELECTION_* variables count when K8S_AWAIT_ELECTION_ENABLED is set; when it is",
    "  empty they mean no election (the command runs at once), unless LEASE_NAME or --lease-name is given.",
    "Durations: 500ms, 15s, 1m, 30min, 2h, or a whole number of seconds. KUBECONFIG is honoured; in a pod the service",
    "  account is used. A flag wins over its variables; variables of different tools that disagree are an error.",
    "Exit codes: the child's code (128+signal if it died by a signal); 2 for bad settings."
  ].join("\n")
