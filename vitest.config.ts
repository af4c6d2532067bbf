import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests exercise the runtime's sources; applications get the built package.
    // The subpath first: an alias also matches the names that start with it.
    alias: {
      "@dividere/runtime/otel": fileURLToPath(new URL("./runtime/src/otel/index.ts", import.meta.url)),
      "@dividere/runtime": fileURLToPath(new URL("./runtime/src/index.ts", import.meta.url)),
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // One file at a time: suites start child processes and worker threads of their own, and the
    // WorkerReactor test measures a speed-up that needs both cores to itself.
    fileParallelism: false,
  },
});
