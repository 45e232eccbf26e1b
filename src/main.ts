/** The entry point: run the wrapper with this process's argv and environment, and exit with its code. */
import { main } from "./Program.ts"

process.exit(await main(process.argv.slice(2), process.env))
