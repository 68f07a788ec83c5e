import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update these snapshots on purpose.
it('the export surface of @rlm/obs-core', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "AUTH_COOLDOWN_OPTIONS",
      "AuthCooldown",
      "CONFIG_KEYS",
      "CONFIG_SEARCH_PLACES",
      "CompositeSink",
      "DeferredHooks",
      "READY_WAIT_MS",
      "RLMObservability",
      "RlmObsConfigError",
      "Run",
      "SEED_SINKS",
      "SINK_SPECIFICATION_VERSION",
      "assignOwn",
      "contentLimitsOptions",
      "contentPolicy",
      "createPlaceholderSink",
      "createRedactor",
      "createSanitizer",
      "createWorkerSinks",
      "defaultSanitizer",
      "defineConfig",
      "defineOptionsSchema",
      "describeValue",
      "envFlag",
      "epochMs",
      "errorText",
      "finiteNumber",
      "formatTraceparent",
      "holdWhilePending",
      "isAuthFailure",
      "isPlaceholderSink",
      "isRecord",
      "isSinkLike",
      "loadConfig",
      "loadObservability",
      "loadObservabilityDetailed",
      "modelRates",
      "newRunId",
      "normalizeUsage",
      "omitted",
      "parseTraceparent",
      "preloadPrices",
      "priceStepUsage",
      "priceUsage",
      "readContentLimits",
      "readyOrLater",
      "resolveSinkEntry",
      "resolveSinkModule",
      "safeStringify",
      "safeUrl",
      "silentLogger",
      "sinkCandidates",
      "spanIdFromRunId",
      "stderrLogger",
      "stepUsages",
      "stringValue",
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
      "closedPort",
      "describeSinkConformance",
      "hungServer",
    ]
  `);
});
