import { RLMObservability, spanIdFromRunId } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { startHttpReceiver } from '../../otel-common/test/receivers.js';
import { createLogfireSinkFromEnv, LogfireSink } from '../src/index.js';

const TOKEN = 'pylf_v1_us_testtokenvalue0123456789';

/** Three steps without a `step` number, straight to the sink (a replay, another coordinator). */
function threeUnnumberedSteps(sink: LogfireSink, runId: string): void {
  sink.onRunStart(runId, { task: 't', environment: 'e', params: {} });
  for (let i = 0; i < 3; i++)
    sink.onStep(runId, {
      event: { action: { action: `a${i}` }, observation: { success: true }, reward: 1 },
      cumulativeReward: i + 1,
    });
  sink.onRunEnd(runId, { result: { completed: true, steps: 3, totalReward: 3 } });
}

describe('logfire steps without a step number', () => {
  it('get a log each, numbered in the order the sink saw them, with the same ids on a replay', async () => {
    const receiver = await startHttpReceiver();
    try {
      const stepLogs = () =>
        receiver.spans.filter(
          (s) => s.attributes['logfire.msg_template'] === 'RLM step {step} completed',
        );
      const first = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      threeUnnumberedSteps(first, 'no-numbers');
      await first.shutdown();
      const ids = [1, 2, 3].map((n) => spanIdFromRunId('no-numbers', n));
      expect(
        stepLogs().map((s) => [s.spanId, s.attributes.step, s.attributes['logfire.msg']]),
      ).toEqual([
        [ids[0], 1, 'RLM step 1 completed'],
        [ids[1], 2, 'RLM step 2 completed'],
        [ids[2], 3, 'RLM step 3 completed'],
      ]);
      // A replay of the run (another process, or this sink again) makes the same ids.
      const replay = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      threeUnnumberedSteps(replay, 'no-numbers');
      threeUnnumberedSteps(replay, 'no-numbers');
      await replay.shutdown();
      expect(stepLogs().map((s) => s.spanId)).toEqual([...ids, ...ids, ...ids]);
    } finally {
      await receiver.close();
    }
  });

  it('numbered steps keep their number; late steps of an ended run and of a run never started are numbered on', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      sink.onRunStart('mixed', { task: 't', environment: 'e', params: {} });
      sink.onStep('mixed', {
        event: { step: 7, observation: { success: true } },
        cumulativeReward: 0,
      });
      sink.onRunEnd('mixed', { result: { completed: true } });
      sink.onStep('mixed', {
        event: { observation: { success: false, error: 'late' } },
        cumulativeReward: 0,
      });
      sink.onStep('elsewhere', { event: { observation: { success: true } }, cumulativeReward: 0 });
      sink.onStep('elsewhere', { event: { observation: { success: true } }, cumulativeReward: 0 });
      await sink.shutdown();
      const steps = receiver.spans
        .filter((s) => String(s.attributes['logfire.msg_template']).startsWith('RLM step'))
        .map((s) => [s.attributes.run_id, s.attributes.step, s.spanId]);
      expect(steps).toEqual([
        ['mixed', 7, spanIdFromRunId('mixed', 7)],
        ['mixed', 2, spanIdFromRunId('mixed', 2)],
        ['elsewhere', 1, spanIdFromRunId('elsewhere', 1)],
        ['elsewhere', 2, spanIdFromRunId('elsewhere', 2)],
      ]);
    } finally {
      await receiver.close();
    }
  });
});

describe('a token with whitespace or a control character (a CRLF .env file)', () => {
  it('a trailing CR/LF or space is trimmed: check() and the exports agree, and the spans arrive', async () => {
    const receiver = await startHttpReceiver();
    try {
      for (const token of [`${TOKEN}\r`, `${TOKEN}\r\n`, ` ${TOKEN} `]) {
        const sink = createLogfireSinkFromEnv({
          DSPY_RLM_LOGFIRE_ENABLED: 'true',
          LOGFIRE_TOKEN: token,
          LOGFIRE_BASE_URL: receiver.url,
        });
        expect((await sink.check()).ok).toBe(true);
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        obs.startRun({ task: 't' }).end({ completed: true });
        const report = await obs.shutdown();
        expect(report.ok).toBe(true);
        expect(sink.stats().spans_failed).toBe(0);
        expect(sink.stats().spans_exported).toBeGreaterThan(0);
      }
      expect(receiver.headers.map((h) => h.authorization)).toEqual(
        Array(receiver.headers.length).fill(TOKEN),
      );
      expect(receiver.headers.length).toBeGreaterThanOrEqual(6);
    } finally {
      await receiver.close();
    }
  });

  it('a control character inside: unavailable, naming LOGFIRE_TOKEN and never its value', async () => {
    const secret = 'pylf_v1_us_secretpart';
    const sink = createLogfireSinkFromEnv({
      DSPY_RLM_LOGFIRE_ENABLED: 'true',
      LOGFIRE_TOKEN: `${secret}\nmore`,
      LOGFIRE_BASE_URL: 'http://127.0.0.1:9',
    });
    expect(sink.status()).toMatchObject({ enabled: true, available: false });
    expect(sink.status().detail).toBe(
      'unavailable: the token (LOGFIRE_TOKEN) has a line break or another control character inside',
    );
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems[0]!.fix).toContain('LOGFIRE_TOKEN');
    expect(JSON.stringify([sink.status(), sink.stats(), check])).not.toContain('secretpart');
    await sink.shutdown();
  });
});
