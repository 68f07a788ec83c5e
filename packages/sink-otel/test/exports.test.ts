import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update this snapshot on purpose.
it('the export surface of @rlm/sink-otel', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "OpenTelemetrySink",
      "createOtelSinkFromEnv",
      "createSink",
      "default",
      "fromEnv",
      "optionsSchema",
      "parseOtlpHeaders",
      "signalUrl",
    ]
  `);
});
