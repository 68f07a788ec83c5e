/**
 * The conformance suite's example in the READMEs is the webhook example's real test
 * (examples/custom-sink/test/conformance.test.ts, which runs with the custom-sink tests), so
 * the example the docs show passes for a correct sink.
 */
import * as fs from 'node:fs';
import { expect, it } from 'vitest';

const read = (relative: string): string =>
  fs.readFileSync(new URL(`../../../${relative}`, import.meta.url), 'utf8');

it('the READMEs show the conformance test that runs, with readBack and secrets', () => {
  const test = read('examples/custom-sink/test/conformance.test.ts');
  const region = test.split('// #region readme\n')[1]?.split('// #endregion readme')[0];
  expect(region).toBeDefined();
  expect(region).toContain('readBack:');
  expect(region).toContain('secrets:');
  for (const readme of ['packages/obs-core/README.md', 'examples/custom-sink/README.md']) {
    const text = read(readme);
    expect(text, readme).toContain(`\`\`\`ts\n${region}\`\`\``);
    // A URL where nothing listens fails a correct sink: its forceFlush rejects lost events.
    expect(text, readme).not.toMatch(
      /describeSinkConformance\(\s*\(\)\s*=>\s*createSink\(\{\s*url:\s*'http:\/\/127\.0\.0\.1:9/,
    );
  }
});
