import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update this snapshot on purpose.
it('the export surface of @rlm/sink-mlflow', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "ExperimentDeletedError",
      "KeyNames",
      "LIMITS",
      "MLflowSink",
      "MlflowClient",
      "MlflowError",
      "MlflowSink",
      "createMlflowSinkFromEnv",
      "createSink",
      "default",
      "fromEnv",
      "maskUri",
      "optionsSchema",
      "validKey",
    ]
  `);
});
