import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update this snapshot on purpose.
it('the export surface of @rlm/sink-jsonl', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "DEFAULT_JSONL_DIR",
      "JsonlStore",
      "LocalJSONLSink",
      "createJsonlSink",
      "createJsonlSinkFromEnv",
      "createSink",
      "default",
      "fromEnv",
      "isPlainRunId",
      "openJsonlStore",
      "optionsSchema",
      "readJsonLines",
      "resolveJsonlSinkOptions",
      "stepFileName",
    ]
  `);
});
