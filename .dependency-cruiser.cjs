/**
 * The layers of src/, checked by `npm run deps` in CI (see docs/architecture.md):
 *   util, logging, errors  <-  pool  <-  tx  <-  scope  <-  index.ts  <-  adapters
 * A module may import its own layer and the layers to its left; nothing imports in a circle. Test files may
 * use the public API from any folder, so the layer rules skip them (the cycle rule does not).
 * The paths match `src/<layer>/` anywhere, so the fixtures in tools/deps-fixtures show each rule failing.
 */
const TESTS = '\\.test\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: the layers are a line, and each folder is one too.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pool-not-above',
      severity: 'error',
      comment: 'src/pool knows nothing of transactions, scopes or adapters.',
      from: { path: '(^|/)src/pool/', pathNot: TESTS },
      to: { path: '(^|/)src/(tx|scope|adapters)/|(^|/)src/index\\.ts$' },
    },
    {
      name: 'tx-not-above',
      severity: 'error',
      comment: 'src/tx uses src/pool, never the public scopes or adapters above it.',
      from: { path: '(^|/)src/tx/', pathNot: TESTS },
      to: { path: '(^|/)src/(scope|adapters)/|(^|/)src/index\\.ts$' },
    },
    {
      name: 'scope-not-above',
      severity: 'error',
      comment: 'src/scope is reached through src/index.ts; it never imports the API or the adapters.',
      from: { path: '(^|/)src/scope/', pathNot: TESTS },
      to: { path: '(^|/)src/adapters/|(^|/)src/index\\.ts$' },
    },
    {
      name: 'base-not-above',
      severity: 'error',
      comment: 'src/util, src/logging, src/errors.ts and src/stats.ts are the bottom layer.',
      from: { path: '(^|/)src/(util/|logging/|errors\\.ts$|stats\\.ts$)', pathNot: TESTS },
      to: { path: '(^|/)src/(pool|tx|scope|adapters)/|(^|/)src/index\\.ts$' },
    },
    {
      name: 'adapters-through-public-api',
      severity: 'error',
      comment:
        'An adapter uses pg-scope as a user does: src/index.ts (plus errors and the small shared helpers).',
      from: { path: '(^|/)src/adapters/', pathNot: TESTS },
      // A package's own build may have a src/ folder (@opentelemetry/api's build/src/): not ours.
      to: {
        path: '(^|/)src/',
        pathNot: '(^|/)src/(index\\.ts|errors\\.ts|stats\\.ts|adapters/|util/)|(^|/)node_modules/',
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    // TypeScript 7 has no JavaScript API yet for dependency-cruiser to parse with: swc parses the sources.
    parser: 'swc',
  },
};
