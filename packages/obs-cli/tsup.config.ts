import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.js';

export default defineConfig([
  {
    ...base,
    entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
    dts: { entry: { index: 'src/index.ts' } },
    // dist/view/ is the browser build's (the second entry), built at the same time.
    clean: ['!view/**'],
  },
  {
    // The viewer's browser script: one self-contained file, served by `rlm-obs view`.
    entry: { app: 'src/view/ui/app.ts' },
    outDir: 'dist/view',
    format: ['iife'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    dts: false,
    clean: true,
    tsconfig: 'tsconfig.build.json',
    outExtension: () => ({ js: '.js' }),
  },
]);
