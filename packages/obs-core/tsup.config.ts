import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.js';

export default defineConfig({
  ...base,
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'testing/sinks': 'src/testing/sinks.ts',
    'sink-worker': 'src/worker/sink-worker.ts',
  },
  external: ['vitest', 'jiti', 'yaml'],
});
