import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update this snapshot on purpose.
it('the export surface of @rlm/sink-logfire', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "LEVELS",
      "LogfireSink",
      "baseUrlForToken",
      "createLogfireSinkFromEnv",
      "createSink",
      "default",
      "fromEnv",
      "optionsSchema",
      "readLogfireCredentials",
    ]
  `);
});
