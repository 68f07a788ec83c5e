import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update these snapshots on purpose.
it('the export surface of @rlm/obs-core', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "CompositeSink",
      "RLMObservability",
      "Run",
      "SINK_SPECIFICATION_VERSION",
      "createRedactor",
      "createSanitizer",
      "defaultSanitizer",
      "formatTraceparent",
      "isSinkLike",
      "newRunId",
      "parseTraceparent",
      "safeStringify",
      "silentLogger",
      "spanIdFromRunId",
      "stderrLogger",
      "traceIdFromRunId",
      "truncate",
      "truncationMarker",
    ]
  `);
});

it('the export surface of @rlm/obs-core/testing', async () => {
  expect(Object.keys(await import('../src/testing/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "BAD_RUN_IDS",
      "FaultySink",
      "MemorySink",
      "badPayloads",
      "describeSinkConformance",
    ]
  `);
});
