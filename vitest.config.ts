import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // LMDB is a native addon holding file locks: separate processes keep suites independent.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
