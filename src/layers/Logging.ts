/**
 * The wrapper's own log lines, on stderr (the child's output is never
 * touched): JSON for machines, pretty on a terminal, at the level asked for.
 */
import { Layer, Logger, References } from "effect"
import type { LogLevel } from "effect"
import type { Settings } from "../domain/Settings.ts"

const levels: Record<Settings["log"]["level"], LogLevel.LogLevel> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error"
}

export const logging = (log: Settings["log"], stderrIsTerminal: boolean) => {
  const pretty = log.format === "pretty" || (log.format === "auto" && stderrIsTerminal)
  return Layer.mergeAll(
    Logger.layer([pretty ? Logger.consolePretty({ mode: "tty" }) : Logger.withConsoleError(Logger.formatJson)]),
    Layer.succeed(References.MinimumLogLevel, levels[log.level]),
    Layer.succeed(References.LogToStderr, true)
  )
}
