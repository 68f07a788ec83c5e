import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index.ts') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}`, import.meta.url));

// Unit tests run against the sources; tests that spawn processes use the built dist/.
const alias = {
  '@rlm/obs-core/testing': src('obs-core', 'testing/index.ts'),
  '@rlm/obs-core': src('obs-core'),
  '@rlm/sink-jsonl': src('sink-jsonl'),
  '@rlm/sink-otel': src('sink-otel'),
  '@rlm/otel-common': src('otel-common'),
  '@rlm/sink-logfire': src('sink-logfire'),
  '@rlm/sink-langfuse': src('sink-langfuse'),
  '@rlm/sink-langsmith': src('sink-langsmith'),
  '@rlm/sink-mlflow': src('sink-mlflow'),
  '@rlm/obs-cli': src('obs-cli'),
};

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'obs-core',
          root: './packages/obs-core',
          include: ['test/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'custom-sink',
          root: './examples/custom-sink',
          include: ['test/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-otel',
          root: './packages/sink-otel',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-logfire',
          root: './packages/sink-logfire',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-langfuse',
          root: './packages/sink-langfuse',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-langsmith',
          root: './packages/sink-langsmith',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-mlflow',
          root: './packages/sink-mlflow',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 150_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'sink-jsonl',
          root: './packages/sink-jsonl',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'obs-cli',
          root: './packages/obs-cli',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'packaging',
          root: './test/packaging',
          include: ['**/*.test.ts'],
          testTimeout: 300_000,
        },
      },
      {
        // All six sinks in one process: chaos, exit and coexistence (issue 11).
        resolve: { alias },
        test: {
          name: 'system',
          root: './test/system',
          include: ['**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          // After every other project, one file at a time: these tests start servers and a
          // hundred processes, and must not compete with the rest of the suite for 2 cores.
          sequence: { groupOrder: 1 },
          fileParallelism: false,
        },
      },
    ],
  },
});
