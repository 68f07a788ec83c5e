import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedPort } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';

describe('a failed score request does not hold the process', () => {
  it('Langfuse unreachable, a 60 s request timeout: the process still ends by itself once the work is done', async () => {
    // The API client's request timeout was a timer it did not clear when the request failed:
    // a failed score batch kept the process alive for the whole `timeoutSeconds`. The sink's
    // own requests time out with AbortSignal.timeout, which never holds the process.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-langfuse-exit-'));
    // Beside this file, so that the script resolves @rlm/obs-core as the package does.
    const script = fileURLToPath(new URL(`./.exit-scores-${process.pid}.mjs`, import.meta.url));
    try {
      const marker = path.join(dir, 'still-alive');
      const port = await closedPort();
      const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      fs.writeFileSync(
        script,
        `import * as fs from 'node:fs';
        import { RLMObservability } from '@rlm/obs-core';
        import { createSink } from ${JSON.stringify(index)};
        // Spans to an exporter that takes them: only the key check and the scores go out.
        const spanExporter = { export(spans, done) { done({ code: 0 }); }, shutdown: async () => {}, forceFlush: async () => {} };
        const sink = await createSink({ publicKey: 'pk-lf-x', secretKey: 'sk-lf-x', baseUrl: 'http://127.0.0.1:${port}', timeoutSeconds: 60, spanExporter });
        const obs = RLMObservability.withSinks([sink], { logger: false, exitGraceMs: false });
        const run = obs.startRun({ task: 't' });
        run.step({ observation: { success: true } });
        run.feedback('thumbs', 1);
        run.end({ completed: true });
        await obs.flush().catch(() => {});
        // Every score request failed (counted), the spans went: nothing is left to do.
        const stats = sink.stats();
        if (stats.score_errors !== 3 || stats.spans_exported !== 2) console.error(JSON.stringify(stats));
        // Fires only if something still holds the process 15 s on.
        setTimeout(() => fs.writeFileSync(${JSON.stringify(marker)}, 'alive'), 15_000).unref();`,
      );
      const result = spawnSync(process.execPath, [script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        timeout: 40_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(script, { force: true });
    }
  }, 60_000);
});
