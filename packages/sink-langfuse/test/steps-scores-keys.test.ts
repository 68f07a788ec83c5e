import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { createLangfuseSinkFromEnv, createSink, LangfuseSink } from '../src/index.js';
import { startLangfuseReceiver } from './langfuse-receiver.js';

/** Three steps without a `step` number, straight to the sink (a replay, another coordinator). */
function threeUnnumberedSteps(sink: LangfuseSink, runId: string): void {
  sink.onRunStart(runId, { task: 't', environment: 'e', params: {} });
  for (let i = 0; i < 3; i++)
    sink.onStep(runId, {
      event: {
        action: { action: `a${i}` },
        observation: { success: true },
        reward: 1,
        usage: { model: 'm', inputTokens: 1, outputTokens: 1 },
      },
      cumulativeReward: i + 1,
    });
  sink.onRunEnd(runId, { result: { completed: true, steps: 3, totalReward: 3 } });
}

describe('langfuse steps without a step number', () => {
  it('get an observation each (Langfuse keeps one per id), numbered in the order seen, the same ids on a replay', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const options = {
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      };
      const steps = () => receiver.spans.filter((s) => s.name.startsWith('step-'));
      const first = await createSink(options);
      threeUnnumberedSteps(first, 'no-numbers');
      await first.shutdown();
      const ids = [1, 2, 3].map((n) => spanIdFromRunId('no-numbers', n));
      expect(
        steps().map((s) => [
          s.spanId,
          s.name,
          s.attributes['langfuse.observation.metadata.step'],
          s.parentSpanId,
        ]),
      ).toEqual([
        [ids[0], 'step-1', '1', spanIdFromRunId('no-numbers')],
        [ids[1], 'step-2', '2', spanIdFromRunId('no-numbers')],
        [ids[2], 'step-3', '3', spanIdFromRunId('no-numbers')],
      ]);
      // Each step's generation is its own child.
      const generations = receiver.spans.filter(
        (s) => s.attributes['langfuse.observation.type'] === 'generation',
      );
      expect(generations.map((g) => g.parentSpanId)).toEqual(ids);
      expect(new Set(generations.map((g) => g.spanId)).size).toBe(3);
      // A replay (another process, or this sink twice) upserts the same observations.
      const replay = await createSink(options);
      threeUnnumberedSteps(replay, 'no-numbers');
      threeUnnumberedSteps(replay, 'no-numbers');
      await replay.shutdown();
      expect(steps().map((s) => s.spanId)).toEqual([...ids, ...ids, ...ids]);
    } finally {
      await receiver.close();
    }
  });

  it('numbered steps keep their number; late steps of an ended run and of a run never started are numbered on', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
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
      expect(
        receiver.spans
          .filter((s) => s.name.startsWith('step-'))
          .map((s) => [s.traceId, s.name, s.spanId]),
      ).toEqual([
        [traceIdFromRunId('mixed'), 'step-7', spanIdFromRunId('mixed', 7)],
        [traceIdFromRunId('mixed'), 'step-2', spanIdFromRunId('mixed', 2)],
        [traceIdFromRunId('elsewhere'), 'step-1', spanIdFromRunId('elsewhere', 1)],
        [traceIdFromRunId('elsewhere'), 'step-2', spanIdFromRunId('elsewhere', 2)],
      ]);
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse scores of the same name', () => {
  it('two feedbacks of the same name are two scores; a replay of them keeps their ids', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const options = {
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      };
      // Score records as the coordinator makes them (each with its time).
      const records = [
        ['thumbs', 1, 'feedback', undefined, 'user', 'first user', '2026-01-01T00:00:00.000Z'],
        ['thumbs', 0, 'feedback', undefined, 'user', 'second user', '2026-01-01T00:00:01.000Z'],
        ['quality', 0.5, 'score', 1, 'judge', undefined, '2026-01-01T00:00:02.000Z'],
        ['quality', 0.7, 'score', 1, 'judge', undefined, '2026-01-01T00:00:03.000Z'],
      ] as const;
      const send = (sink: LangfuseSink) => {
        for (const [name, value, kind, step, source, comment, at] of records)
          sink.onScore('thumbs-run', {
            name,
            value,
            kind,
            source,
            at,
            ...(step !== undefined ? { step } : {}),
            ...(comment !== undefined ? { comment } : {}),
          });
      };
      const sink = await createSink(options);
      sink.onRunStart('thumbs-run', { task: 't', environment: 'e', params: {} });
      send(sink);
      sink.onRunEnd('thumbs-run', { result: { completed: true } });
      await sink.shutdown();
      const thumbs = receiver.scores.filter((s) => s.name === 'thumbs');
      expect(thumbs.map((s) => [s.value, s.comment])).toEqual([
        [1, 'first user'],
        [0, 'second user'],
      ]);
      const quality = receiver.scores.filter((s) => s.name === 'quality');
      expect(quality.map((s) => [s.value, s.observationId])).toEqual([
        [0.5, spanIdFromRunId('thumbs-run', 1)],
        [0.7, spanIdFromRunId('thumbs-run', 1)],
      ]);
      const ids = receiver.scores.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);

      // The same score records again (a replay from the JSONL files): the same ids, updates.
      const replay = await createSink(options);
      send(replay);
      await replay.shutdown();
      expect(receiver.scores.slice(ids.length).map((s) => s.id)).toEqual(ids);
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse text limits and late lookups', () => {
  it('the task is sent whole, the errors are cut at 500 characters (marked); getTraceId answers after the run ended', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ runId: 'long', task: 'T'.repeat(2000) });
      run.step({ observation: { success: false, error: 'E'.repeat(3000) } });
      run.end({ completed: false, error: 'R'.repeat(3000) });
      expect(sink.getTraceId('long')).toBe(traceIdFromRunId('long'));
      expect((await obs.shutdown()).ok).toBe(true);
      expect(sink.getTraceId('long')).toBe(traceIdFromRunId('long'));
      expect(sink.getTraceId('never-seen')).toBeUndefined();

      const cut = (text: unknown, char: string) => {
        const value = String(text);
        expect(value.startsWith(char.repeat(500))).toBe(true);
        expect(value.indexOf('…')).toBe(500);
        expect(value.length).toBeLessThan(540);
      };
      const root = receiver.spans.find((s) => s.spanId === spanIdFromRunId('long'))!;
      // The task whole (issue 6: input = the task; the original sends it in full).
      expect(JSON.parse(String(root.attributes['langfuse.trace.input']))).toBe('T'.repeat(2000));
      expect(JSON.parse(String(root.attributes['langfuse.observation.input']))).toBe(
        'T'.repeat(2000),
      );
      cut(root.attributes['langfuse.observation.status_message'], 'R');
      const step = receiver.spans.find((s) => s.name === 'step-1')!;
      cut(step.attributes['langfuse.observation.status_message'], 'E');
      cut(step.status.message, 'E');
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse limits', () => {
  it('each cut has its own limit (code, output, finalAnswer, error, score), every cut marked; a larger one keeps more', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
        limits: { code: 10, output: 1000, finalAnswer: 30, error: 40, score: 50 },
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ runId: 'limits', task: 'T'.repeat(700) });
      run.step({
        action: { action: 'run_python', code: 'C'.repeat(100) },
        observation: { success: true, output: 'O'.repeat(600) },
      });
      run.step({ observation: { success: false, error: 'E'.repeat(100) } });
      run.score('note', 'S'.repeat(100), { comment: 'K'.repeat(100) });
      run.end({ completed: false, finalAnswer: 'A'.repeat(100), error: 'R'.repeat(100) });
      expect((await obs.shutdown()).ok).toBe(true);

      // Each text was 100 characters: the first `limit` kept, the rest said.
      const cut = (text: unknown, char: string, limit: number) =>
        expect(text).toBe(`${char.repeat(limit)}…[truncated ${100 - limit} chars]`);
      const step = (n: number) => receiver.spans.find((s) => s.name === `step-${n}`)!;
      const input = JSON.parse(String(step(1).attributes['langfuse.observation.input']));
      cut(input.code, 'C', 10);
      // 600 characters: cut at the default 500, whole under a limit of 1000.
      const output = JSON.parse(String(step(1).attributes['langfuse.observation.output']));
      expect(output.output).toBe('O'.repeat(600));
      cut(step(2).attributes['langfuse.observation.status_message'], 'E', 40);
      const root = receiver.spans.find((s) => s.spanId === spanIdFromRunId('limits'))!;
      cut(JSON.parse(String(root.attributes['langfuse.trace.output'])).final_answer, 'A', 30);
      cut(root.attributes['langfuse.observation.status_message'], 'R', 40);
      expect(JSON.parse(String(root.attributes['langfuse.trace.input']))).toBe('T'.repeat(700));
      const note = receiver.scores.find((s) => s.name === 'note')!;
      cut(note.value, 'S', 50);
      cut(note.comment, 'K', 50);
    } finally {
      await receiver.close();
    }
  });

  it('a limit that is not a whole number > 0 makes the sink unavailable, saying which', async () => {
    for (const [limits, detail] of [
      [{ code: 0 }, 'unavailable: limits.code must be a whole number > 0 (got 0)'],
      [{ error: 2.5 }, 'unavailable: limits.error must be a whole number > 0 (got 2.5)'],
      [{ output: '500' }, 'unavailable: limits.output must be a whole number > 0 (got a string)'],
      [
        { text: 5 },
        "unavailable: unknown limit 'text' (known: code, output, finalAnswer, error, score)",
      ],
    ] as const) {
      const sink = new LangfuseSink({
        publicKey: 'pk',
        secretKey: 'sk',
        baseUrl: 'http://127.0.0.1:9',
        authCheck: false,
        limits: limits as never,
      });
      expect(sink.status()).toMatchObject({ enabled: true, available: false, detail });
      await sink.shutdown();
    }
  });
});

describe('langfuse keys with whitespace or a control character (a CRLF .env file)', () => {
  it('trailing CR/LF and spaces are trimmed: the key check, the spans and the scores go through', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = createLangfuseSinkFromEnv({
        DSPY_RLM_LANGFUSE_ENABLED: 'true',
        LANGFUSE_PUBLIC_KEY: `${receiver.publicKey}\r\n`,
        LANGFUSE_SECRET_KEY: ` ${receiver.secretKey}\r`,
        LANGFUSE_HOST: receiver.url,
      });
      await sink.ready;
      expect(sink.status()).toMatchObject({ available: true, detail: receiver.url });
      expect((await sink.check()).ok).toBe(true);
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      obs.startRun({ runId: 'crlf', task: 't' }).end({ completed: true });
      expect((await obs.shutdown()).ok).toBe(true);
      expect(receiver.spans.map((s) => s.spanId)).toEqual([spanIdFromRunId('crlf')]);
      expect(receiver.scores.map((s) => s.name)).toEqual(['reward', 'completed']);
      expect(receiver.headers[0]!['x-langfuse-public-key']).toBe(receiver.publicKey);
    } finally {
      await receiver.close();
    }
  });

  it('a control character inside a key: unavailable, naming the key and never its value', async () => {
    for (const [env, name] of [
      [
        { LANGFUSE_PUBLIC_KEY: 'pk-lf-visible\npart', LANGFUSE_SECRET_KEY: 'sk' },
        'LANGFUSE_PUBLIC_KEY',
      ],
      [
        { LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk-lf-hidden\u0000part' },
        'LANGFUSE_SECRET_KEY',
      ],
    ] as const) {
      const sink = createLangfuseSinkFromEnv({
        DSPY_RLM_LANGFUSE_ENABLED: 'true',
        LANGFUSE_HOST: 'http://127.0.0.1:9',
        ...env,
      });
      await sink.ready;
      expect(sink.status()).toMatchObject({ enabled: true, available: false });
      expect(sink.status().detail).toBe(
        `unavailable: ${name} has a line break or another control character inside`,
      );
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.fix).toContain('copy the key again');
      const shown = JSON.stringify([sink.status(), sink.stats(), check]);
      expect(shown).not.toContain('part');
      await sink.shutdown();
    }
  });
});
