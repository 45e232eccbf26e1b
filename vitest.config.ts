import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end files spawn real processes and servers; two cores, so keep files apart.
    fileParallelism: false
  }
})
