import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests exercise the runtime's sources; applications get the built package.
    alias: { "@dividere/runtime": fileURLToPath(new URL("./runtime/src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Suites use real sockets on ephemeral ports and real child processes; two cores, two workers.
    pool: "forks",
    maxWorkers: 2,
  },
});
