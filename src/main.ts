/** The entry point: run the wrapper with this process's argv and environment, and exit with its code. */
const argv = process.argv.slice(2)

// The timeline reads logs only: it does not load the wrapper (nor the Kubernetes client) at all.
process.exit(
  argv[0] === "timeline" && !argv.slice(1).some((a) => a.startsWith("-") && a !== "-")
    ? await (await import("./Timeline.ts")).timeline(argv.slice(1))
    : await (await import("./Program.ts")).main(argv, process.env)
)
