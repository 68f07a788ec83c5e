import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { closedPort, describeSinkConformance } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import { type ReceiverMode, startHttpReceiver } from '../../otel-common/test/receivers.js';
import {
  baseUrlForToken,
  createLogfireSinkFromEnv,
  createSink,
  LogfireSink,
} from '../src/index.js';

const TOKEN = 'pylf_v1_us_testtokenvalue0123456789';

describe('logfire sink: seed 000 on Logfire conventions', () => {
  it('sends the run span and the five logs with their levels, attributes and parentage', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new LogfireSink({
        token: TOKEN,
        baseUrl: receiver.url,
        projectName: 'my-rlm-project',
      });
      expect(sink.status()).toEqual({
        name: 'logfire',
        enabled: true,
        available: true,
        detail: 'project: my-rlm-project',
        project_name: 'my-rlm-project',
        // The export counters (status shows losses; nothing ended yet).
        spans_ended: 0,
        spans_exported: 0,
        spans_failed: 0,
        spans_dropped: 0,
        spans_skipped: 0,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({
        runId: 'lf-run',
        task: `T${'a'.repeat(300)}`,
        environment: 'pure_rlm',
        params: { max_steps: 4 },
      });
      run.step({
        action: { action: 'run_python', code: 'x' },
        observation: { success: true, output: 'ok' },
        reward: 0.5,
        usage: { model: 'gpt-4.1', inputTokens: 10, outputTokens: 2 },
      });
      run.step({
        action: { action: 'run_python' },
        observation: { success: false, error: `E${'r'.repeat(400)}` },
        reward: -0.1,
      });
      const child = run.child({ runId: 'lf-child', task: 'nested', environment: 'pure_rlm' });
      child.end({ completed: false });
      run.end({ finalAnswer: 'done' });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);
      expect(receiver.paths.every((p) => p === '/v1/traces')).toBe(true);
      expect(receiver.headers[0]!.authorization).toBe(TOKEN);
      expect(receiver.headers[0]!['content-type']).toBe('application/x-protobuf');

      const spans = receiver.spans;
      const byName = (name: string, runId = 'lf-run') =>
        spans.filter((s) => s.name === name && s.attributes.run_id === runId);
      const root = byName('rlm.run {run_id}')[0]!;
      expect(root.traceId).toBe(traceIdFromRunId('lf-run'));
      expect(root.spanId).toBe(spanIdFromRunId('lf-run'));
      expect(root.parentSpanId).toBe('');
      expect(root.resource['service.name']).toBe('my-rlm-project');
      expect(root.attributes).toMatchObject({
        run_id: 'lf-run',
        environment: 'pure_rlm',
        max_steps: 4,
        'logfire.msg_template': 'rlm.run {run_id}',
        'logfire.msg': 'rlm.run lf-run',
        'logfire.span_type': 'span',
        'logfire.level_num': 9,
        'logfire.tags': ['rlm'],
      });
      expect(String(root.attributes.task).indexOf('…')).toBe(200);
      expect(JSON.parse(String(root.attributes['logfire.json_schema']))).toEqual({
        type: 'object',
        properties: { run_id: {}, task: {}, environment: {}, max_steps: {} },
      });

      const logs = spans.filter(
        (s) => s.attributes['logfire.span_type'] === 'log' && s.parentSpanId === root.spanId,
      );
      expect(
        logs.map((s) => [s.name, s.attributes['logfire.msg'], s.attributes['logfire.level_num']]),
      ).toEqual([
        ['RLM run started', 'RLM run started', 9],
        ['RLM step {step} completed', 'RLM step 1 completed', 9],
        ['RLM step {step} failed', 'RLM step 2 failed', 13],
        // The coordinator's end-of-run scores, through onScore, just before the run ends.
        ['RLM score {name} = {value}', 'RLM score reward = 0.4', 9],
        ['RLM score {name} = {value}', 'RLM score completed = true', 9],
        ['RLM run completed', 'RLM run completed', 9],
      ]);
      expect(logs[0]!.attributes).toMatchObject({ run_id: 'lf-run', environment: 'pure_rlm' });
      expect(logs[1]!.attributes).toMatchObject({
        step: 1,
        run_id: 'lf-run',
        action: 'run_python',
        reward: 0.5,
        cumulative_reward: 0.5,
        'gen_ai.request.model': 'gpt-4.1',
        'gen_ai.usage.input_tokens': 10,
      });
      expect(logs[2]!.attributes).toMatchObject({
        step: 2,
        run_id: 'lf-run',
        action: 'run_python',
        reward: -0.1,
        // Cut at 200 and marked (it was a bare cut).
        error: `E${'r'.repeat(199)}…[truncated 201 chars]`,
      });
      expect(logs[3]!.attributes).toMatchObject({
        name: 'reward',
        value: 0.4,
        kind: 'score',
        source: 'rlm-obs',
        run_id: 'lf-run',
      });
      expect(logs[4]!.attributes).toMatchObject({ name: 'completed', value: true });
      expect(logs[5]!.attributes).toMatchObject({ run_id: 'lf-run', steps: 2, total_reward: 0.4 });
      for (const log of logs) expect(log.endNs).toBe(log.startNs);

      const childSpan = byName('rlm.run {run_id}', 'lf-child')[0]!;
      expect(childSpan.parentSpanId).toBe(root.spanId);
      expect(childSpan.attributes['logfire.level_num']).toBe(13);
      const childLogs = spans.filter((s) => s.parentSpanId === childSpan.spanId).map((s) => s.name);
      expect(childLogs).toEqual([
        'RLM run started',
        'RLM score {name} = {value}',
        'RLM score {name} = {value}',
        'RLM run did not complete',
      ]);
      expect(sink.stats()).toMatchObject({
        spans_exported: spans.length,
        spans_failed: 0,
        spans_dropped: 0,
      });
    } finally {
      await receiver.close();
    }
  });

  it('picks the region from the token, or LOGFIRE_BASE_URL', () => {
    expect(baseUrlForToken('pylf_v1_eu_abc')).toBe('https://logfire-eu.pydantic.dev');
    expect(baseUrlForToken('pylf_v2_us_abc')).toBe('https://logfire-us.pydantic.dev');
    expect(baseUrlForToken('legacy-token')).toBe('https://logfire-us.pydantic.dev');
    // The official SDKs' region table: staging regions have their own hosts; a region they do
    // not know (or a token of another shape) is the US region, never a made-up host.
    expect(baseUrlForToken('pylf_v1_stagingus_abc123')).toBe('https://logfire-us.pydantic.info');
    expect(baseUrlForToken('pylf_v1_stagingeu_abc123')).toBe('https://logfire-eu.pydantic.info');
    expect(baseUrlForToken('pylf_v1_ap_abc123')).toBe('https://logfire-us.pydantic.dev');
    expect(baseUrlForToken('pylf_v1_xyz_abc123')).toBe('https://logfire-us.pydantic.dev');
    expect(baseUrlForToken('pylf_v2_eu_12345678-1234-1234-1234-123456789abc_abc123')).toBe(
      'https://logfire-eu.pydantic.dev',
    );
    expect(baseUrlForToken(undefined)).toBe('https://logfire-us.pydantic.dev');
    expect(new LogfireSink({ token: 'pylf_v1_mars_zzz' }).baseUrl).toBe(
      'https://logfire-us.pydantic.dev',
    );
    expect(new LogfireSink({ token: 'pylf_v1_eu_zzz' }).baseUrl).toBe(
      'https://logfire-eu.pydantic.dev',
    );
    expect(
      createLogfireSinkFromEnv({
        DSPY_RLM_LOGFIRE_ENABLED: 'true',
        LOGFIRE_TOKEN: 'pylf_v1_eu_zzz',
        LOGFIRE_BASE_URL: 'http://127.0.0.1:1/',
      }).baseUrl,
    ).toBe('http://127.0.0.1:1');
  });

  it("shows the seed's troubleshooting cases as status details, never the token", () => {
    expect(createLogfireSinkFromEnv({}).status()).toEqual({
      name: 'logfire',
      enabled: false,
      available: false,
      detail: 'disabled',
      project_name: 'rlm-code',
    });
    const noToken = createLogfireSinkFromEnv({
      DSPY_RLM_LOGFIRE_ENABLED: 'true',
      LOGFIRE_PROJECT_NAME: 'p',
    });
    expect(noToken.status()).toMatchObject({ enabled: true, available: false, project_name: 'p' });
    expect(noToken.status().detail).toMatch(/^unavailable: no token \(set LOGFIRE_TOKEN/);
    const on = createSink({ token: TOKEN });
    expect(JSON.stringify(on.status())).not.toContain(TOKEN);
    void on.shutdown();
  });

  it('never reads .logfire/ unless asked; credentialsDir reads it (token, project name, base URL)', async () => {
    // A project whose .logfire/ holds credentials, used as the config's directory and as cwd.
    const dir = mkdtempSync(path.join(tmpdir(), 'lf-creds-'));
    const cwd = process.cwd();
    const sinks: LogfireSink[] = [];
    try {
      mkdirSync(path.join(dir, '.logfire'));
      writeFileSync(
        path.join(dir, '.logfire', 'logfire_credentials.json'),
        JSON.stringify({
          token: 'pylf_v1_us_fromthefile0123',
          project_name: 'file-project',
          logfire_api_url: 'http://127.0.0.1:9/',
        }),
      );
      process.chdir(dir);
      const notAsked = createSink({}, { env: {}, configDir: dir });
      sinks.push(notAsked);
      expect(notAsked.status()).toMatchObject({ available: false, project_name: 'rlm-code' });
      expect(notAsked.status().detail).toMatch(/^unavailable: no token/);
      expect(notAsked.baseUrl).toBe('https://logfire-us.pydantic.dev');
      // No configDir: the cwd holds the folder, still not read.
      const noDir = createSink({}, { env: {} });
      sinks.push(noDir);
      expect(noDir.status().available).toBe(false);

      const asked = createSink({ credentialsDir: '.' }, { env: {}, configDir: dir });
      sinks.push(asked);
      expect(asked.status()).toMatchObject({
        available: true,
        detail: 'project: file-project',
        project_name: 'file-project',
      });
      expect(asked.baseUrl).toBe('http://127.0.0.1:9');
      expect(JSON.stringify(asked.status())).not.toContain('fromthefile');
      // Options and then the file win over the environment.
      const options = createSink(
        { credentialsDir: '.', projectName: 'opt' },
        { env: { LOGFIRE_PROJECT_NAME: 'env' }, configDir: dir },
      );
      sinks.push(options);
      expect(options.projectName).toBe('opt');
    } finally {
      process.chdir(cwd);
      for (const sink of sinks) await sink.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('useGlobalProvider emits through the application’s global tracer provider without a token', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    try {
      const sink = new LogfireSink({ useGlobalProvider: true });
      expect(sink.status()).toMatchObject({ available: true, detail: 'project: rlm-code' });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ runId: 'global-run', task: 't', environment: 'e' });
      run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
      run.end({ completed: true });
      expect((await obs.shutdown()).ok).toBe(true);
      await provider.forceFlush();
      const spans = exporter.getFinishedSpans();
      const root = spans.find((s) => s.name === 'rlm.run {run_id}')!;
      expect(root.attributes).toMatchObject({ run_id: 'global-run', 'logfire.span_type': 'span' });
      expect(root.instrumentationScope.name).toBe('rlm-obs');
      const logs = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
      expect(logs.map((s) => s.attributes['logfire.msg'])).toEqual([
        'RLM run started',
        'RLM step 1 completed',
        'RLM score reward = 1',
        'RLM score completed = true',
        'RLM run completed',
      ]);
      for (const log of logs) expect(log.spanContext().traceId).toBe(root.spanContext().traceId);
    } finally {
      trace.disable();
      await provider.shutdown();
    }
  });
});

describe('logfire scores, feedback, sessions', () => {
  it('a score log per score under the run span (late ones too), session/user and Logfire tags', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({
        runId: 'lf-scored',
        task: 't',
        environment: 'eval',
        sessionId: 'sess-9',
        userId: 'user-3',
        tags: ['nightly', 'rlm'],
      });
      run.step({
        observation: { success: true },
        reward: 1,
        usage: { model: 'gpt-4.1', inputTokens: 1000, outputTokens: 10, costUsd: 0.0042 },
      });
      run.score('correctness', 0.8, { comment: 'one edge case', source: 'llm-judge', step: 1 });
      const child = run.child({ runId: 'lf-scored-child', task: 'nested' });
      child.end({ completed: true });
      run.end({ completed: true });
      run.feedback('thumbs', 'down', { comment: 'too slow', source: 'user' });
      child.feedback('helpful', true);
      obs.onScore('lf-never-seen', { name: 'late', value: 2 });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);

      const root = receiver.spans.find(
        (s) => s.name === 'rlm.run {run_id}' && s.attributes.run_id === 'lf-scored',
      )!;
      expect(root.attributes).toMatchObject({
        'session.id': 'sess-9',
        'user.id': 'user-3',
        'logfire.tags': ['rlm', 'nightly'],
      });
      const stepLog = receiver.spans.find((s) => s.name === 'RLM step {step} completed')!;
      expect(stepLog.attributes).toMatchObject({
        'session.id': 'sess-9',
        'user.id': 'user-3',
        'logfire.tags': ['rlm', 'nightly'],
        // Logfire's name for the cost of an LLM call.
        'operation.cost': 0.0042,
      });
      const scores = receiver.spans.filter((s) => s.name === 'RLM score {name} = {value}');
      const byName = (name: string) => scores.find((s) => s.attributes.name === name)!;
      const correctness = byName('correctness');
      expect(correctness.parentSpanId).toBe(root.spanId);
      expect(correctness.traceId).toBe(root.traceId);
      expect(correctness.endNs).toBe(correctness.startNs);
      expect(correctness.attributes).toMatchObject({
        name: 'correctness',
        value: 0.8,
        kind: 'score',
        step: 1,
        comment: 'one edge case',
        source: 'llm-judge',
        run_id: 'lf-scored',
        'logfire.msg_template': 'RLM score {name} = {value}',
        'logfire.msg': 'RLM score correctness = 0.8',
        'logfire.level_num': 9,
        'logfire.span_type': 'log',
        'logfire.tags': ['rlm', 'nightly'],
        'session.id': 'sess-9',
      });
      expect(JSON.parse(String(correctness.attributes['logfire.json_schema']))).toEqual({
        type: 'object',
        properties: {
          name: {},
          value: {},
          kind: {},
          run_id: {},
          step: {},
          comment: {},
          source: {},
        },
      });
      // Late feedback: still in the run's trace, under the run's span.
      const thumbs = byName('thumbs');
      expect(thumbs.parentSpanId).toBe(root.spanId);
      expect(thumbs.traceId).toBe(traceIdFromRunId('lf-scored'));
      expect(thumbs.attributes).toMatchObject({
        'logfire.msg': 'RLM score thumbs = down',
        kind: 'feedback',
        comment: 'too slow',
        source: 'user',
        'logfire.tags': ['rlm', 'nightly'],
      });
      const childSpan = receiver.spans.find(
        (s) => s.attributes.run_id === 'lf-scored-child' && s.name === 'rlm.run {run_id}',
      )!;
      const helpful = byName('helpful');
      expect(helpful.traceId).toBe(root.traceId);
      expect(helpful.parentSpanId).toBe(childSpan.spanId);
      expect(helpful.attributes['logfire.msg']).toBe('RLM score helpful = true');
      const unseen = byName('late');
      expect(unseen.traceId).toBe(traceIdFromRunId('lf-never-seen'));
      expect(unseen.parentSpanId).toBe(spanIdFromRunId('lf-never-seen'));
      expect(scores.map((s) => s.attributes.name).sort()).toEqual([
        'completed',
        'completed',
        'correctness',
        'helpful',
        'late',
        'reward',
        'reward',
        'thumbs',
      ]);
    } finally {
      await receiver.close();
    }
  });
});

describe('logfire auth cooldown', () => {
  it('a refused token (401) pauses exports: skipped and counted, shown in status and check, resumed after the pause', async () => {
    const receiver = await startHttpReceiver();
    const clock = { now: 1_700_000_000_000 };
    try {
      const sink = new LogfireSink({
        token: TOKEN,
        baseUrl: receiver.url,
        projectName: 'p',
        authCooldown: { now: () => clock.now, random: () => 0.5 },
      });
      const record = (runId: string) => {
        sink.onRunStart(runId, { task: 't', environment: 'e', params: {} });
        sink.onRunEnd(runId, { result: { completed: true } });
      };
      receiver.mode = '401';
      record('refused'); // the run span and two logs
      await expect(sink.forceFlush()).rejects.toThrow(/3 spans could not be exported.*HTTP 401/);
      expect(receiver.paths).toHaveLength(1);
      expect(sink.status()).toEqual({
        name: 'logfire',
        enabled: true,
        available: true,
        detail:
          'project: p; auth failed (HTTP 401): paused for 60s, 0 events skipped; check the credentials',
        project_name: 'p',
        // The losses show in the status too.
        spans_ended: 3,
        spans_exported: 0,
        spans_failed: 3,
        spans_dropped: 0,
        spans_skipped: 0,
        last_error: 'Unauthorized',
      });
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.fix).toContain('LOGFIRE_TOKEN');
      expect(receiver.paths).toHaveLength(1); // the check did not knock either

      record('skipped');
      await expect(sink.forceFlush()).rejects.toThrow(/3 spans could not be exported/);
      expect(receiver.paths).toHaveLength(1);
      expect(sink.stats()).toMatchObject({
        spans_ended: 6,
        spans_exported: 0,
        spans_failed: 6,
        spans_skipped: 3,
        authFailures: 1,
        authSkipped: 3,
        authPausedUntil: new Date(clock.now + 60_000).toISOString(),
      });

      clock.now += 60_001;
      receiver.mode = 'ok';
      record('resumed');
      await expect(sink.forceFlush()).resolves.toBeUndefined();
      expect(new Set(receiver.spans.map((s) => s.attributes.run_id))).toEqual(new Set(['resumed']));
      expect(sink.status().detail).toBe('project: p');
      expect(sink.stats()).toMatchObject({ spans_exported: 3, authPausedUntil: null });
      expect((await sink.check()).ok).toBe(true);
      expect(JSON.stringify([sink.status(), sink.stats()])).not.toContain(TOKEN);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('a Logfire API that refuses, throttles, fails or hangs', () => {
  for (const mode of ['401', '429', '503', 'hang', 'down'] as const) {
    it(`${mode}: counted, the caller unaffected, memory bounded`, async () => {
      const receiver = await startHttpReceiver();
      const url = mode === 'down' ? `http://127.0.0.1:${await closedPort()}` : receiver.url;
      if (mode !== 'down') receiver.mode = mode as ReceiverMode;
      try {
        const sink = new LogfireSink({
          token: TOKEN,
          baseUrl: url,
          exportTimeoutMs: 300,
          maxQueueSize: 500,
          scheduledDelayMs: 20,
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const before = process.memoryUsage().heapUsed;
        const run = obs.startRun({ task: 'outage' });
        for (let i = 0; i < 5_000; i++)
          run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
        run.end();
        // While the spans are still held (before shutdown lets them go).
        const heldBytes = process.memoryUsage().heapUsed - before;
        const report = await obs.shutdown({ timeoutMs: 20_000 });
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
        expect(stats.spans_exported).toBe(0);
        expect(stats.spans_failed + stats.spans_dropped).toBe(stats.spans_ended);
        // The run span, its start and end logs, 5,000 step logs and two score logs.
        expect(stats.spans_ended).toBe(5_005);
        // Memory stays bounded: beyond the span queue (500) and the exports under way (at most
        // two batches of 375, three quarters of the queue) every span was dropped and counted,
        // none held.
        expect(stats.spans_failed).toBeLessThanOrEqual(500 + 2 * 375);
        expect(stats.spans_dropped).toBeGreaterThan(0);
        expect(stats.spans_dropped).toBeGreaterThanOrEqual(5_005 - (500 + 2 * 375));
        expect(heldBytes).toBeLessThan(64 * 1024 * 1024);
        if (mode === '401') expect(report.sinks[0]!.error).toMatch(/401|Unauthorized/i);
      } finally {
        await receiver.close();
      }
    });
  }
});

/**
 * Keeps the spans it took after the sink shut it down: the conformance suite reads a run back
 * after `obs.shutdown()` (the in-memory exporter forgets everything at shutdown).
 */
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return this.forceFlush();
  }
}
const exporters = new WeakMap<LogfireSink, InMemorySpanExporter>();
describeSinkConformance(
  () => {
    const exporter = new KeepingExporter();
    const sink = new LogfireSink({
      spanExporter: exporter,
      token: 'pylf_v1_us_conformance-secret-token',
    });
    exporters.set(sink, exporter);
    return sink;
  },
  {
    title: 'logfire conformance',
    secrets: ['conformance-secret-token'],
    readBack: (sink, runId) => {
      const mine = (exporters.get(sink)?.getFinishedSpans() ?? []).filter(
        (s) => s.attributes.run_id === runId,
      );
      return {
        steps: mine
          .filter((s) => String(s.name).startsWith('RLM step'))
          .map((s) => Number(s.attributes.step)),
        ended: mine.some((s) => s.name === 'rlm.run {run_id}'),
      };
    },
  },
);

describe('logfire open runs', () => {
  it('ends the oldest run (rlm.evicted) beyond maxOpenRuns and keeps the others open', async () => {
    const exporter = new InMemorySpanExporter();
    const sink = new LogfireSink({ spanExporter: exporter, token: TOKEN, maxOpenRuns: 2 });
    for (const id of ['a', 'b', 'c'])
      sink.onRunStart(id, { task: id, environment: 'test', params: {} });
    await sink.forceFlush();
    const runSpans = () => exporter.getFinishedSpans().filter((s) => s.name === 'rlm.run {run_id}');
    expect(runSpans().map((s) => [s.attributes.run_id, s.attributes['rlm.evicted']])).toEqual([
      ['a', true],
    ]);
    sink.onRunEnd('b', { result: { completed: true } });
    sink.onRunEnd('c', { result: { completed: true } });
    await sink.forceFlush();
    expect(
      runSpans()
        .map((s) => s.attributes.run_id)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(sink.stats().spans_ended).toBe(sink.stats().spans_exported);
    await sink.shutdown();
  });
});

describe('check() asks Logfire itself', () => {
  it('with nothing to export: an unreachable Logfire, a refused token and an accepting one', async () => {
    const closed = await closedPort();
    const down = new LogfireSink({ token: TOKEN, baseUrl: `http://127.0.0.1:${closed}` });
    const unreachable = await down.check();
    expect(unreachable.ok).toBe(false);
    expect(unreachable.problems[0]!.problem).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+: /);
    await down.shutdown();

    const receiver = await startHttpReceiver();
    try {
      const sink = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      receiver.mode = '401';
      const refused = await sink.check();
      expect(refused.ok).toBe(false);
      expect(refused.problems[0]).toMatchObject({
        problem: 'Logfire refused the token (HTTP 401)',
        fix: expect.stringContaining('LOGFIRE_TOKEN'),
      });
      receiver.mode = 'ok';
      expect(await sink.check()).toMatchObject({ ok: true, problems: [] });
      expect(JSON.stringify([refused, sink.status()])).not.toContain(TOKEN);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
