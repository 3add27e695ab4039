import { defineConfig } from 'tsup';

// One bundle per public entry point, in both module formats, so that `import` and `require` get the
// same code and their own type declarations (.d.ts / .d.cts). nanoid is ESM-only: it is bundled so
// the CommonJS build needs no require(esm).
const common = {
  target: 'node20',
  platform: 'node',
  splitting: false,
  sourcemap: false,
  // Not cleaned: parallel test runs read dist/ while another build writes it. CI starts from a clean clone.
  clean: false,
  shims: true,
  noExternal: ['nanoid'],
  outDir: 'dist',
} as const;

export default defineConfig([
  {
    ...common,
    entry: {
      'middleware/index': 'middleware/index.ts',
      'adapters/koa': 'adapters/koa.ts',
      'adapters/axios': 'adapters/axios.ts',
      'testing/index': 'src/testing/index.ts',
      'collector/index': 'collector/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
  },
  // The loopctl binary and the SQLite store's writer thread (collector/storage/sqlite-writer.ts, which
  // both collector bundles start from dist/collector/): run, never imported, so one format and no
  // declarations.
  {
    ...common,
    entry: { 'collector/cli/loopctl': 'collector/cli/loopctl.ts', 'collector/sqlite-writer': 'collector/storage/sqlite-writer.ts' },
    format: ['esm'],
    dts: false,
  },
]);
