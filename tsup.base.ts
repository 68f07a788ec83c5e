import type { Options } from 'tsup';

/** What every package's build shares: ESM for Node 20, declarations, source maps. */
export const base: Options = {
  format: ['esm'],
  target: 'node20',
  dts: true,
  clean: true,
  sourcemap: true,
  tsconfig: 'tsconfig.build.json',
};
