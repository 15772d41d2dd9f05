import { defineConfig } from 'vitest/config';

type ReporterEntry = 'default' | ['json', { outputFile: string }];

/** The console reporter always; a JSON report too when `VITEST_JSON_REPORT` names a file (CI reads it). */
function reporters(): ReporterEntry[] {
  const jsonReport = process.env.VITEST_JSON_REPORT;
  return jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'];
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'integration-tests/**/*.test.ts'],
    // Starts (or finds) one PostgreSQL server for the whole run; each test file makes its own database.
    globalSetup: ['integration-tests/setup/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // Files run in parallel in separate processes; nothing is shared between them but the server.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    reporters: reporters(),
  },
});
