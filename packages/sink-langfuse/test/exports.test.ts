import { expect, it } from 'vitest';

// A change to the public surface must be deliberate: update this snapshot on purpose.
it('the export surface of @rlm/sink-langfuse', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchInlineSnapshot(`
    [
      "LangFuseSink",
      "LangfuseSink",
      "createLangfuseSinkFromEnv",
      "createSink",
      "default",
      "fromEnv",
      "optionsSchema",
    ]
  `);
});

it("LangFuseSink (the Python original's name, seed 001) is the same class as LangfuseSink", async () => {
  const mod = await import('../src/index.js');
  expect(mod.LangFuseSink).toBe(mod.LangfuseSink);
  expect(new mod.LangFuseSink({ enabled: false })).toBeInstanceOf(mod.LangfuseSink);
});
