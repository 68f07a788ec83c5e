import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { closedPort, describeSinkConformance, hungServer } from '@rlm/obs-core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createLangfuseSinkFromEnv, createSink, LangfuseSink } from '../src/index.js';
import { startLangfuseReceiver } from './langfuse-receiver.js';

describe('langfuse sink', () => {
  it('sends the exact observations, attributes, levels and scores of a run with a failing step and a nested run', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      expect(receiver.authChecks).toBe(1);
      // The counters show from the start (nothing lost yet, no last_error).
      expect(sink.status()).toEqual({
        name: 'langfuse',
        enabled: true,
        available: true,
        detail: receiver.url,
        spans_ended: 0,
        spans_exported: 0,
        spans_failed: 0,
        spans_dropped: 0,
        spans_skipped: 0,
        scores_sent: 0,
        score_errors: 0,
        scores_skipped: 0,
        open_runs: 0,
        authFailures: 0,
        authSkipped: 0,
        authPausedUntil: null,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({
        runId: 'lf-1',
        task: 'Summarise the repo',
        environment: 'repo',
        params: { max_steps: 3 },
      });
      run.step({
        action: { action: 'run_python', code: `print(1)${'#'.repeat(600)}` },
        observation: { success: true, output: 'ok' },
        reward: 0.5,
        usage: {
          model: 'gpt-4.1-mini',
          inputTokens: 100,
          outputTokens: 20,
          cacheReadTokens: 50,
          costUsd: 0.0007,
        },
      });
      run.step({
        action: { action: 'run_python', code: 'boom()' },
        observation: { success: false, error: 'NameError: boom' },
        reward: -0.1,
      });
      const child = run.child({ runId: 'lf-child', task: 'nested', environment: 'repo' });
      child.step({ action: { action: 'submit' }, observation: { success: true }, reward: 1 });
      child.end({ finalAnswer: 'n' });
      run.end({ finalAnswer: `answer ${'x'.repeat(600)}` });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);

      const traceId = traceIdFromRunId('lf-1');
      expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
      expect(receiver.headers[0]).toMatchObject({
        'x-langfuse-public-key': receiver.publicKey,
        'content-type': 'application/json',
      });
      const root = receiver.spans.find((s) => s.spanId === spanIdFromRunId('lf-1'))!;
      expect(root.name).toBe('rlm-run');
      expect(root.parentSpanId).toBe('');
      expect(root.scope).toBe('langfuse-sdk');
      expect(root.attributes).toMatchObject({
        'langfuse.trace.name': 'rlm-run',
        'langfuse.trace.input': '"Summarise the repo"',
        'langfuse.trace.tags': ['rlm', 'repo'],
        'langfuse.trace.metadata.run_id': 'lf-1',
        'langfuse.trace.metadata.environment': 'repo',
        'langfuse.trace.metadata.params': '{"max_steps":3}',
        'langfuse.observation.type': 'agent',
      });
      const output = JSON.parse(String(root.attributes['langfuse.trace.output']));
      expect(output).toMatchObject({ completed: true, steps: 2, total_reward: 0.4 });
      expect(output.final_answer.indexOf('…')).toBe(500);

      const steps = receiver.spans.filter(
        (s) => s.parentSpanId === root.spanId && s.name.startsWith('step-'),
      );
      expect(steps.map((s) => s.name).sort()).toEqual(['step-1', 'step-2']);
      const [s1, s2] = [
        steps.find((s) => s.name === 'step-1')!,
        steps.find((s) => s.name === 'step-2')!,
      ];
      expect(
        JSON.parse(String(s1.attributes['langfuse.observation.input'])).code.indexOf('…'),
      ).toBe(500);
      expect(JSON.parse(String(s1.attributes['langfuse.observation.output']))).toEqual({
        success: true,
        output: 'ok',
      });
      expect(s1.attributes).toMatchObject({
        'langfuse.observation.level': 'DEFAULT',
        'langfuse.observation.metadata.step': '1',
        'langfuse.observation.metadata.reward': '0.5',
        'langfuse.observation.metadata.cumulative_reward': '0.5',
      });
      expect(s2.attributes).toMatchObject({
        'langfuse.observation.level': 'ERROR',
        'langfuse.observation.status_message': 'NameError: boom',
      });
      const generation = receiver.spans.find((s) => s.parentSpanId === s1.spanId)!;
      expect(generation.attributes).toMatchObject({
        'langfuse.observation.type': 'generation',
        'langfuse.observation.model.name': 'gpt-4.1-mini',
      });
      expect(
        JSON.parse(String(generation.attributes['langfuse.observation.usage_details'])),
      ).toEqual({ input: 100, output: 20, total: 120, input_cache_read: 50 });
      expect(
        JSON.parse(String(generation.attributes['langfuse.observation.cost_details'])),
      ).toEqual({ total: 0.0007 });

      const childSpan = receiver.spans.find((s) => s.spanId === spanIdFromRunId('lf-child'))!;
      expect(childSpan.parentSpanId).toBe(root.spanId);
      expect(childSpan.attributes['langfuse.trace.name']).toBeUndefined();
      expect(receiver.spans.find((s) => s.parentSpanId === childSpan.spanId)!.name).toBe('step-1');

      // The end-of-run scores come from the coordinator through onScore: one of each, typed.
      const scores = receiver.scores.map((s) => [
        s.name,
        s.value,
        s.dataType,
        s.traceId,
        s.observationId ?? null,
      ]);
      expect(scores).toEqual(
        expect.arrayContaining([
          ['reward', 0.4, 'NUMERIC', traceId, null],
          ['completed', 1, 'NUMERIC', traceId, null],
          ['reward', 1, 'NUMERIC', traceId, childSpan.spanId],
          ['completed', 1, 'NUMERIC', traceId, childSpan.spanId],
        ]),
      );
      expect(receiver.scores).toHaveLength(4);
      for (const score of receiver.scores)
        expect(score.metadata).toEqual({ kind: 'score', source: 'rlm-obs' });
      expect(sink.stats()).toMatchObject({
        spans_failed: 0,
        spans_dropped: 0,
        score_errors: 0,
        scores_sent: 4,
      });
    } finally {
      await receiver.close();
    }
  });

  it('wrong keys: available false, the detail names the problem without the secret', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: 'sk-lf-WRONG-secret-value',
        baseUrl: receiver.url,
      });
      expect(sink.status()).toMatchObject({ available: false });
      expect(sink.status().detail).toMatch(
        /^unavailable: the keys were refused \(HTTP 401\) for public key pk-lf-test…$/,
      );
      expect(JSON.stringify(sink.status())).not.toContain('WRONG');
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.fix).toContain('LANGFUSE_SECRET_KEY');
      await sink.shutdown();
      const down = await createSink({
        publicKey: 'pk',
        secretKey: 'sk',
        baseUrl: `http://127.0.0.1:${await closedPort()}`,
      });
      expect(down.status().detail).toMatch(/^unavailable: cannot reach http:\/\/127\.0\.0\.1:\d+/);
      await down.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('unreachable at setup: unavailable, and available once Langfuse takes an export', async () => {
    const port = await closedPort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const sink = await createSink({
      publicKey: 'pk-lf-test',
      secretKey: 'sk-lf-test-secret',
      baseUrl,
    });
    expect(sink.status()).toMatchObject({ available: false });
    expect(sink.status().detail).toMatch(/^unavailable: cannot reach /);
    const receiver = await startLangfuseReceiver('pk-lf-test', 'sk-lf-test-secret', port);
    try {
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'back' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      // The failed key check is no export failure: no last_error, nothing lost.
      expect(sink.status()).toEqual({
        name: 'langfuse',
        enabled: true,
        available: true,
        detail: baseUrl,
        spans_ended: 2,
        spans_exported: 2,
        spans_failed: 0,
        spans_dropped: 0,
        spans_skipped: 0,
        scores_sent: 2,
        score_errors: 0,
        scores_skipped: 0,
        open_runs: 0,
        authFailures: 0,
        authSkipped: 0,
        authPausedUntil: null,
      });
    } finally {
      await receiver.close();
    }
  });

  it("Langfuse unreachable: the key check and the scores' requests do not hold the process for the API client's 60 s", async () => {
    // The client's own request timeout is a timer it does not clear when the request fails;
    // the sink gives every request its own timeout (the check 5 s, scores `timeoutSeconds`).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-langfuse-exit-'));
    // Beside this file, so that the script resolves @rlm/obs-core as the package does.
    const script = fileURLToPath(new URL(`./.exit-${process.pid}.mjs`, import.meta.url));
    try {
      const marker = path.join(dir, 'still-alive');
      const port = await closedPort();
      const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      fs.writeFileSync(
        script,
        `import * as fs from 'node:fs';
        import { RLMObservability } from '@rlm/obs-core';
        import { createSink } from ${JSON.stringify(index)};
        const sink = await createSink({ publicKey: 'pk-lf-x', secretKey: 'sk-lf-x', baseUrl: 'http://127.0.0.1:${port}', timeoutSeconds: 3 });
        const obs = RLMObservability.withSinks([sink], { logger: false, exitGraceMs: false });
        const run = obs.startRun({ task: 't' });
        run.score('quality', 1);
        run.end();
        // Fires only if something still holds the process 20 s on.
        setTimeout(() => fs.writeFileSync(${JSON.stringify(marker)}, 'alive'), 20_000).unref();`,
      );
      const result = spawnSync(process.execPath, [script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        timeout: 90_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(script, { force: true });
    }
  }, 100_000);

  it('reads the seed variables, LANGFUSE_HOST or LANGFUSE_BASE_URL', async () => {
    expect(createLangfuseSinkFromEnv({}).status()).toEqual({
      name: 'langfuse',
      enabled: false,
      available: false,
      detail: 'disabled',
    });
    const missing = createLangfuseSinkFromEnv({ DSPY_RLM_LANGFUSE_ENABLED: 'true' });
    expect(missing.status().detail).toBe(
      'unavailable: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY',
    );
    const host = createLangfuseSinkFromEnv(
      {
        DSPY_RLM_LANGFUSE_ENABLED: 'true',
        LANGFUSE_PUBLIC_KEY: 'pk',
        LANGFUSE_SECRET_KEY: 'sk',
        LANGFUSE_HOST: 'http://127.0.0.1:1/',
      },
      { authCheck: false },
    );
    expect(host.baseUrl).toBe('http://127.0.0.1:1');
    const base = createLangfuseSinkFromEnv(
      {
        DSPY_RLM_LANGFUSE_ENABLED: 'true',
        LANGFUSE_PUBLIC_KEY: 'pk',
        LANGFUSE_SECRET_KEY: 'sk',
        LANGFUSE_BASE_URL: 'http://127.0.0.1:2',
      },
      { authCheck: false },
    );
    expect(base.baseUrl).toBe('http://127.0.0.1:2');
    expect(new LangfuseSink({ publicKey: 'pk', secretKey: 'sk', authCheck: false }).baseUrl).toBe(
      'https://cloud.langfuse.com',
    );
    await Promise.all([host.shutdown(), base.shutdown()]);
  });
});

describe('langfuse scores, feedback, sessions', () => {
  it('every score a typed Langfuse score (step observations, comments, metadata), late feedback, session/user/tags on the trace', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
        environment: 'staging',
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({
        runId: 'lf-scored',
        task: 't',
        environment: 'eval',
        sessionId: 'sess-42',
        userId: 'user-5',
        tags: ['nightly', 'rlm'],
      });
      run.step({ action: { action: 'run_python' }, observation: { success: true }, reward: 0.5 });
      run.step({ action: { action: 'submit' }, observation: { success: true }, reward: 0.5 });
      run.score('correctness', 0.75, { comment: 'one edge case', source: 'llm-judge', step: 2 });
      run.score('verdict', 'pass', { source: 'unit-tests' });
      const child = run.child({ runId: 'lf-scored-child', task: 'nested' });
      child.step({ observation: { success: true } });
      child.end({ completed: true });
      run.end({ completed: true });
      await obs.flush();
      // Late user feedback, after the run ended (and after a flush), on the run and its child.
      run.feedback('thumbs', true, { comment: 'great', source: 'user' });
      child.feedback('rating', 4, { step: 1 });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);

      const traceId = traceIdFromRunId('lf-scored');
      const root = receiver.spans.find((s) => s.spanId === spanIdFromRunId('lf-scored'))!;
      expect(root.attributes).toMatchObject({
        'session.id': 'sess-42',
        'user.id': 'user-5',
        'langfuse.trace.tags': ['rlm', 'eval', 'nightly'],
      });
      const steps = receiver.spans.filter(
        (s) => s.parentSpanId === root.spanId && s.name.startsWith('step-'),
      );
      expect(steps).toHaveLength(2);
      for (const step of steps)
        expect(step.attributes).toMatchObject({ 'session.id': 'sess-42', 'user.id': 'user-5' });
      const childSpan = receiver.spans.find(
        (s) => s.spanId === spanIdFromRunId('lf-scored-child'),
      )!;
      expect(childSpan.attributes).toMatchObject({ 'session.id': 'sess-42', 'user.id': 'user-5' });
      expect(childSpan.attributes['langfuse.trace.tags']).toBeUndefined();

      const byName = (name: string, observationId?: string) =>
        receiver.scores.filter((s) => s.name === name && s.observationId === observationId);
      expect(byName('correctness')).toEqual([]);
      expect(byName('correctness', spanIdFromRunId('lf-scored', 2))).toEqual([
        {
          id: expect.any(String),
          traceId,
          observationId: spanIdFromRunId('lf-scored', 2),
          name: 'correctness',
          value: 0.75,
          dataType: 'NUMERIC',
          comment: 'one edge case',
          metadata: { kind: 'score', source: 'llm-judge' },
          environment: 'staging',
        },
      ]);
      expect(byName('verdict')).toEqual([
        {
          id: expect.any(String),
          traceId,
          name: 'verdict',
          value: 'pass',
          dataType: 'CATEGORICAL',
          metadata: { kind: 'score', source: 'unit-tests' },
          environment: 'staging',
        },
      ]);
      expect(byName('thumbs')).toEqual([
        {
          id: expect.any(String),
          traceId,
          name: 'thumbs',
          value: 1,
          dataType: 'BOOLEAN',
          comment: 'great',
          metadata: { kind: 'feedback', source: 'user' },
          environment: 'staging',
        },
      ]);
      // The child's late feedback on its step 1: the step's observation, in the root's trace.
      expect(byName('rating', spanIdFromRunId('lf-scored-child', 1))).toMatchObject([
        { traceId, value: 4, dataType: 'NUMERIC', metadata: { kind: 'feedback' } },
      ]);
      // reward and completed once per run, no duplicates.
      expect(byName('reward').map((s) => s.value)).toEqual([1]);
      expect(byName('completed').map((s) => s.value)).toEqual([1]);
      expect(byName('reward', childSpan.spanId)).toHaveLength(1);
      expect(byName('completed', childSpan.spanId)).toHaveLength(1);
      expect(receiver.scores).toHaveLength(8);
      expect(new Set(receiver.scores.map((s) => s.id)).size).toBe(8);
      expect(sink.stats()).toMatchObject({ scores_sent: 8, score_errors: 0 });
    } finally {
      await receiver.close();
    }
  });

  it('a score for a run this process never saw lands on its derived trace; a bad score is counted', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      const at = new Date().toISOString();
      sink.onScore('elsewhere', { name: 'late', value: 'ok', kind: 'feedback', at });
      sink.onScore('elsewhere', { name: 'bad', value: Number.NaN, kind: 'score', at });
      await sink.forceFlush();
      expect(receiver.scores).toMatchObject([
        {
          traceId: traceIdFromRunId('elsewhere'),
          name: 'late',
          value: 'ok',
          dataType: 'CATEGORICAL',
        },
      ]);
      expect(receiver.scores[0]!.observationId).toBeUndefined();
      expect(sink.stats().bad_events).toBe(1);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse auth cooldown', () => {
  it('keys refused on the OTLP export and the score ingestion: one pause for both, skipped and counted, resumed', async () => {
    const receiver = await startLangfuseReceiver();
    const clock = { now: 1_700_000_000_000 };
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
        authCooldown: { now: () => clock.now, random: () => 0.5 },
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      // Keys revoked after the setup check.
      receiver.mode = '401';
      receiver.scoreMode = '401';
      obs.startRun({ runId: 'refused', task: 't' }).end({ completed: true });
      const first = await obs.flush();
      expect(first.ok).toBe(false);
      expect(receiver.otlpRequests + receiver.ingestionRequests).toBeGreaterThanOrEqual(1);
      const requests = receiver.otlpRequests + receiver.ingestionRequests;
      expect(sink.stats()).toMatchObject({ authFailures: 1 });
      expect(sink.status().detail).toBe(
        `${receiver.url}; auth failed (HTTP 401): paused for 60s, ${sink.stats().authSkipped} events skipped; check the credentials`,
      );
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.problem).toContain('Langfuse refused the keys');
      expect(check.problems[0]!.fix).toContain('LANGFUSE_SECRET_KEY');

      // Paused: nothing reaches Langfuse, spans and scores are counted as skipped.
      const skippedBefore = sink.stats();
      const run = obs.startRun({ runId: 'skipped', task: 't' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end({ completed: true });
      run.feedback('thumbs', false);
      const second = await obs.flush();
      expect(second.ok).toBe(false);
      expect(receiver.otlpRequests + receiver.ingestionRequests).toBe(requests);
      const stats = sink.stats();
      expect(stats.spans_skipped - skippedBefore.spans_skipped).toBe(2);
      expect(stats.scores_skipped - skippedBefore.scores_skipped).toBe(3);
      expect(stats.authSkipped - skippedBefore.authSkipped).toBe(5);
      expect(stats.authFailures).toBe(1);
      // status() shows the losses, spans and scores, and the last error (no secret).
      expect(sink.status()).toMatchObject({
        spans_failed: stats.spans_failed,
        spans_skipped: stats.spans_skipped,
        score_errors: stats.score_errors,
        scores_skipped: stats.scores_skipped,
        authFailures: 1,
        authSkipped: stats.authSkipped,
        last_error: expect.any(String),
      });
      expect(stats.score_errors).toBeGreaterThanOrEqual(5);

      // The pause is over and the keys work again.
      clock.now += 60_001;
      receiver.mode = 'ok';
      receiver.scoreMode = 'ok';
      const resumed = obs.startRun({ runId: 'resumed', task: 't' });
      resumed.end({ completed: true });
      const third = await obs.flush();
      expect(third.ok).toBe(true);
      expect(receiver.spans.map((s) => s.spanId)).toEqual([spanIdFromRunId('resumed')]);
      expect(receiver.scores.map((s) => [s.traceId, s.name])).toEqual([
        [traceIdFromRunId('resumed'), 'reward'],
        [traceIdFromRunId('resumed'), 'completed'],
      ]);
      expect(sink.status().detail).toBe(receiver.url);
      expect(sink.stats()).toMatchObject({ authPausedUntil: null, scores_sent: 2 });
      expect((await sink.check()).ok).toBe(true);
      expect(JSON.stringify([sink.status(), sink.stats(), check])).not.toContain(
        receiver.secretKey,
      );
      await obs.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse runs in another process, custom attributes, the completed score', () => {
  it("a remote run given the parent's traceparent lands in the parent's trace, under the parent run's observation", async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const options = {
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      };
      // Two processes, each with its coordinator and its sink; only the traceparent crosses.
      const here = RLMObservability.withSinks([await createSink(options)], {
        flushOnExit: false,
        logger: false,
      });
      const there = RLMObservability.withSinks([await createSink(options)], {
        flushOnExit: false,
        logger: false,
      });
      const parent = here.startRun({ runId: 'tp-parent', task: 'p', environment: 'e' });
      const remote = there.startRun({
        runId: 'tp-remote',
        task: 'r',
        environment: 'e',
        traceparent: parent.traceparent(),
      });
      remote.step({ observation: { success: true }, reward: 1 });
      remote.end({ completed: true });
      parent.end({ completed: true });
      expect((await there.shutdown()).ok).toBe(true);
      expect((await here.shutdown()).ok).toBe(true);

      const traceId = traceIdFromRunId('tp-parent');
      const parentSpan = receiver.spans.find((s) => s.spanId === spanIdFromRunId('tp-parent'))!;
      const remoteSpan = receiver.spans.find((s) => s.spanId === spanIdFromRunId('tp-remote'))!;
      expect(parentSpan).toMatchObject({ traceId, parentSpanId: '', name: 'rlm-run' });
      expect(remoteSpan).toMatchObject({
        traceId,
        parentSpanId: parentSpan.spanId,
        name: 'rlm-run tp-remote',
      });
      // A child observation: no trace name or input of its own that would rename the trace.
      expect(remoteSpan.attributes['langfuse.trace.name']).toBeUndefined();
      expect(remoteSpan.attributes['langfuse.trace.input']).toBeUndefined();
      const step = receiver.spans.find((s) => s.name === 'step-1')!;
      expect(step).toMatchObject({ traceId, parentSpanId: remoteSpan.spanId });
      // The remote run's scores: in the parent's trace, on the remote run's observation.
      expect(
        receiver.scores
          .filter((s) => s.observationId === remoteSpan.spanId)
          .map((s) => [s.name, s.traceId]),
      ).toEqual([
        ['reward', traceId],
        ['completed', traceId],
      ]);
    } finally {
      await receiver.close();
    }
  });

  it("a run's custom attributes are metadata of the run and of every span in it (steps, generations); a step's own win", async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({
        runId: 'custom',
        task: 't',
        attributes: { team: 'ml-platform', experiment_id: 'exp-123', 'cost.center': 42 },
      });
      run.step({
        observation: { success: true },
        attributes: { team: 'step-team', k: 'v' },
        usage: { model: 'gpt-4.1-mini', inputTokens: 1, outputTokens: 1 },
      });
      run.step({ observation: { success: true } });
      run.end({ completed: true });
      expect((await obs.shutdown()).ok).toBe(true);

      const meta = 'langfuse.observation.metadata';
      const root = receiver.spans.find((s) => s.spanId === spanIdFromRunId('custom'))!;
      expect(root.attributes).toMatchObject({
        [`${meta}.team`]: 'ml-platform',
        [`${meta}.experiment_id`]: 'exp-123',
        [`${meta}.cost.center`]: 42,
      });
      const step = (n: number) => receiver.spans.find((s) => s.name === `step-${n}`)!;
      expect(step(1).attributes).toMatchObject({
        [`${meta}.team`]: 'step-team',
        [`${meta}.k`]: 'v',
        [`${meta}.experiment_id`]: 'exp-123',
        [`${meta}.cost.center`]: 42,
        [`${meta}.step`]: '1',
        'langfuse.observation.type': 'span',
      });
      expect(step(2).attributes).toMatchObject({
        [`${meta}.team`]: 'ml-platform',
        [`${meta}.experiment_id`]: 'exp-123',
        [`${meta}.cost.center`]: 42,
        [`${meta}.step`]: '2',
      });
      const generation = receiver.spans.find((s) => s.parentSpanId === step(1).spanId)!;
      expect(generation.attributes).toMatchObject({
        'langfuse.observation.type': 'generation',
        [`${meta}.team`]: 'ml-platform',
        [`${meta}.experiment_id`]: 'exp-123',
      });
    } finally {
      await receiver.close();
    }
  });

  it("the end-of-run completed is a NUMERIC score, 1 or 0 (as the original sends it); a caller's boolean score or feedback stays BOOLEAN", async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const failed = obs.startRun({ runId: 'not-completed', task: 't' });
      failed.score('completed', true, { source: 'judge' });
      failed.end({ completed: false });
      const done = obs.startRun({ runId: 'completed', task: 't' });
      done.end({ completed: true });
      done.feedback('thumbs', false, { source: 'user' });
      expect((await obs.shutdown()).ok).toBe(true);
      const rows = receiver.scores.map((s) => [
        s.traceId,
        s.name,
        (s.metadata as { source?: string }).source,
        s.value,
        s.dataType,
      ]);
      expect(rows).toEqual(
        expect.arrayContaining([
          [traceIdFromRunId('not-completed'), 'completed', 'rlm-obs', 0, 'NUMERIC'],
          [traceIdFromRunId('completed'), 'completed', 'rlm-obs', 1, 'NUMERIC'],
          [traceIdFromRunId('not-completed'), 'completed', 'judge', 1, 'BOOLEAN'],
          [traceIdFromRunId('completed'), 'thumbs', 'user', 0, 'BOOLEAN'],
        ]),
      );
      expect(rows.filter((r) => r[1] === 'completed')).toHaveLength(3);
    } finally {
      await receiver.close();
    }
  });
});

describe('a Langfuse that never answers at setup', () => {
  it('createSink does not hold up the start: it returns while the key check goes on, and status says so', async () => {
    const hung = await hungServer();
    try {
      // The client's own timeout would take 60 s; the factory waits 5 s at most.
      const sink = await createSink({
        publicKey: 'pk-lf-hung',
        secretKey: 'sk-lf-hung',
        baseUrl: hung.url,
      });
      expect(sink.status()).toMatchObject({ available: true });
      expect(sink.status().detail).toMatch(/checking the keys/);
    } finally {
      await hung.close();
    }
  }, 20_000);
});

describe('a Langfuse that refuses, throttles, fails or hangs', () => {
  for (const mode of ['401', '429', '503', 'hang'] as const) {
    it(`${mode}: counted, the caller unaffected, the spans kept bounded by the export queue`, async () => {
      const receiver = await startLangfuseReceiver();
      try {
        const sink = await createSink({
          publicKey: receiver.publicKey,
          secretKey: receiver.secretKey,
          baseUrl: receiver.url,
          timeoutSeconds: 0.3,
          flushIntervalSeconds: 0.05,
        });
        receiver.mode = mode;
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const run = obs.startRun({ task: 'outage' });
        for (let i = 0; i < 5_000; i++)
          run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
        run.end();
        const report = await obs.shutdown({ timeoutMs: 30_000 });
        // The first events may wait in the coordinator's queue while the span queue is full
        // and no export has failed yet (backpressure); by the end every one was delivered.
        // 5,002 events and the two end-of-run scores.
        expect(obs.status()[0]!.counters).toMatchObject({
          delivered: 5_004,
          failed: 0,
          pending: 0,
        });
        expect(report.sinks[0]!.ok).toBe(false);
        const stats = sink.stats();
        expect(stats.spans_ended).toBe(5_001);
        expect(stats.spans_exported).toBe(0);
        expect(stats.spans_failed + stats.spans_dropped).toBe(5_001);
        // The bound: past the export queue (2,048 spans) spans are let go and counted as
        // dropped, never kept for later; a sink that kept every span (an unbounded queue) would
        // drop none and fail them all at the end.
        expect(stats.spans_dropped).toBeGreaterThan(0);
        expect(stats.spans_failed).toBeLessThan(5_001);
        expect(report.sinks[0]!.error).toContain('spans dropped (the export queue was full');
        // status() shows the losses too, not only stats().
        expect(sink.status()).toMatchObject({
          spans_ended: 5_001,
          spans_exported: 0,
          spans_failed: stats.spans_failed,
          spans_dropped: stats.spans_dropped,
          last_error: expect.any(String),
        });
      } finally {
        await receiver.close();
      }
    });
  }
});

// Spans into memory (to read them back), scores to a receiver that answers like Langfuse.
const scoreReceiver = await startLangfuseReceiver('pk-lf-c', 'sk-lf-conformance-secret');
afterAll(() => scoreReceiver.close());
/**
 * Keeps the spans it took after the sink shut it down: the conformance suite reads a run back
 * after `obs.shutdown()` (the in-memory exporter forgets everything at shutdown).
 */
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return this.forceFlush();
  }
}
const exporters = new WeakMap<LangfuseSink, InMemorySpanExporter>();
describeSinkConformance(
  () => {
    const exporter = new KeepingExporter();
    const sink = new LangfuseSink({
      publicKey: 'pk-lf-c',
      secretKey: 'sk-lf-conformance-secret',
      baseUrl: scoreReceiver.url,
      authCheck: false,
      spanExporter: exporter,
      flushIntervalSeconds: 0.01,
    });
    exporters.set(sink, exporter);
    return sink;
  },
  {
    title: 'langfuse conformance',
    secrets: ['sk-lf-conformance-secret'],
    readBack: (sink, runId) => {
      const spans = exporters.get(sink)?.getFinishedSpans() ?? [];
      const run = spans.find((s) => s.spanContext().spanId === spanIdFromRunId(runId));
      const steps = spans.filter(
        (s) =>
          run &&
          s.parentSpanContext?.spanId === run.spanContext().spanId &&
          s.name.startsWith('step-'),
      );
      return {
        steps: steps.map((s) => Number(s.attributes['langfuse.observation.metadata.step'])),
        ended: Boolean(run),
      };
    },
  },
);

describe('scores without an explicit flush', () => {
  it('go out within about a second of the run end, as the original flushes at the end', async () => {
    const receiver = await startLangfuseReceiver();
    try {
      const sink = await createSink({
        publicKey: receiver.publicKey,
        secretKey: receiver.secretKey,
        baseUrl: receiver.url,
      });
      // The end-of-run scores now come from the coordinator (onScore), not from onRunEnd.
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      obs.startRun({ runId: 'timer-run', task: 't', environment: 'e' }).end({
        completed: true,
        totalReward: 2,
      });
      const deadline = Date.now() + 5000;
      while (receiver.scores.length < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(receiver.scores.map((s) => [s.name, s.value, s.dataType])).toEqual([
        ['reward', 2, 'NUMERIC'],
        ['completed', 1, 'NUMERIC'],
      ]);
      // onRunEnd itself sends no scores (no duplicates of reward/completed).
      sink.onRunStart('direct-run', { task: 't', environment: 'e', params: {} });
      sink.onRunEnd('direct-run', { result: { completed: true, totalReward: 5 } });
      await sink.forceFlush();
      expect(receiver.scores).toHaveLength(2);
      await obs.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('langfuse open runs', () => {
  it('ends the oldest run (rlm.evicted) beyond maxOpenRuns and keeps the others open', async () => {
    const exporter = new InMemorySpanExporter();
    const sink = new LangfuseSink({
      publicKey: 'pk-lf-c',
      secretKey: 'sk-lf-conformance-secret',
      baseUrl: scoreReceiver.url,
      authCheck: false,
      spanExporter: exporter,
      maxOpenRuns: 2,
    });
    await sink.ready;
    for (const id of ['a', 'b', 'c'])
      sink.onRunStart(id, { task: id, environment: 'test', params: {} });
    await sink.forceFlush();
    const ended = () =>
      ['a', 'b', 'c'].filter((id) =>
        exporter.getFinishedSpans().some((s) => s.spanContext().spanId === spanIdFromRunId(id)),
      );
    const evicted = exporter.getFinishedSpans().filter((s) => s.attributes['rlm.evicted'] === true);
    expect(ended()).toEqual(['a']);
    expect(evicted.map((s) => s.spanContext().spanId)).toEqual([spanIdFromRunId('a')]);
    sink.onRunEnd('b', { result: { completed: true } });
    sink.onRunEnd('c', { result: { completed: true } });
    await sink.forceFlush();
    expect(ended()).toEqual(['a', 'b', 'c']);
    await sink.shutdown();
  });
});
