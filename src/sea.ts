/**
 * The single executable's entry (scripts/build-binary.mjs). The build runs this module once, with
 * the whole program loaded, and keeps the heap as a V8 startup snapshot; each start of the
 * executable deserialises it and calls `run` with that process's own argv and environment.
 */
import { startupSnapshot } from "node:v8"
import { main } from "./Program.ts"

const run = () => {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code))
}
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(run)
else run()
