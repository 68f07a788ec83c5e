/**
 * End to end against a real Arize Phoenix: a run with a nested run in this process and a
 * child run in another process (joined by traceparent) arrives complete, with the right
 * parentage, over both OTLP transports. CI installs Phoenix (scripts/setup-phoenix.sh) and
 * sets RLM_OBS_PHOENIX, and then this test must run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RLMObservability } from '@rlm/obs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenTelemetrySink } from '../src/index.js';
import { type Phoenix, type PhoenixSpan, phoenixCommand, startPhoenix } from './phoenix.js';

const command = phoenixCommand();
if (!command && process.env.RLM_OBS_REQUIRE_PHOENIX)
  throw new Error('Phoenix is required here: run scripts/setup-phoenix.sh');

describe.skipIf(!command)('opentelemetry sink → Arize Phoenix', () => {
  let phoenix: Phoenix;
  beforeAll(async () => {
    phoenix = await startPhoenix(command!);
  }, 150_000);
  afterAll(async () => {
    await phoenix?.stop();
  });

  it('a nested, cross-process run arrives complete with correct parentage', async () => {
    const project = `rlm-obs-e2e-${Date.now()}`;
    const sink = new OpenTelemetrySink({
      endpoint: phoenix.grpcUrl,
      resourceAttributes: { 'openinference.project.name': project },
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const root = obs.startRun({
      task: 'orchestrate',
      environment: 'dspy',
      params: { max_steps: 3, model: 'gpt-4.1-mini' },
    });
    root.step({
      action: { action: 'plan', code: 'split()' },
      observation: { success: true, output: 'two parts' },
      reward: 0.5,
    });
    const nested = root.child({ task: 'nested part', environment: 'dspy' });
    nested.step({
      action: { action: 'run_python' },
      observation: { success: false, error: 'ZeroDivisionError' },
      reward: 0,
    });
    nested.end({ completed: false });
    const { stdout: remoteId } = await promisify(execFile)(
      process.execPath,
      [
        fileURLToPath(new URL('./fixtures/remote-run.mjs', import.meta.url)),
        phoenix.httpUrl,
        project,
      ],
      {
        env: { ...process.env, TRACEPARENT: root.traceparent(), PARENT_RUN_ID: root.id },
      },
    );
    root.step({ action: { action: 'submit' }, observation: { success: true }, reward: 1 });
    root.end({ finalAnswer: 'done' });
    const report = await obs.shutdown({ timeoutMs: 30_000 });
    expect(report.ok).toBe(true);

    let spans: PhoenixSpan[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      spans = await phoenix.spans(project);
      if (spans.length >= 7) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(spans).toHaveLength(7);
    const runSpan = (runId: string) =>
      spans.find((s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === runId)!;
    const rootSpan = runSpan(root.id);
    const nestedSpan = runSpan(nested.id);
    const remoteSpan = runSpan(remoteId.trim());
    expect(new Set(spans.map((s) => s.context.trace_id))).toEqual(new Set([root.traceId]));
    expect(rootSpan.parent_id).toBeNull();
    expect(nestedSpan.parent_id).toBe(rootSpan.context.span_id);
    expect(remoteSpan.parent_id).toBe(rootSpan.context.span_id);
    const stepsOf = (run: PhoenixSpan) =>
      spans.filter((s) => s.name === 'rlm.step' && s.parent_id === run.context.span_id);
    expect(stepsOf(rootSpan).map((s) => s.attributes['rlm.step'])).toEqual(
      expect.arrayContaining([1, 2]),
    );
    expect(stepsOf(nestedSpan)).toHaveLength(1);
    expect(stepsOf(remoteSpan)).toHaveLength(1);
    expect(rootSpan.status_code).toBe('OK');
    expect(nestedSpan.status_code).toBe('ERROR');
    expect(stepsOf(nestedSpan)[0]!.status_code).toBe('ERROR');
    expect(rootSpan.attributes).toMatchObject({
      'rlm.environment': 'dspy',
      'rlm.total_steps': 2,
      'rlm.completed': true,
      'rlm.model': 'gpt-4.1-mini',
    });
    expect(rootSpan.events.map((e) => e.name)).toContain('final_answer');
    expect(stepsOf(remoteSpan)[0]!.events.map((e) => e.name)).toEqual(['code_execution', 'output']);
  }, 180_000);

  it("doctor's check(): Phoenix takes the empty trace export, over both transports", async () => {
    const transports = [
      ['grpc', phoenix.grpcUrl],
      ['http/protobuf', phoenix.httpUrl],
    ] as const;
    for (const [protocol, endpoint] of transports) {
      const sink = new OpenTelemetrySink({ endpoint, protocol, metricsEnabled: false });
      const check = await sink.check();
      await sink.shutdown();
      expect(check).toEqual({
        ok: true,
        problems: [],
        detail: `${endpoint} accepts trace exports with these credentials (${protocol})`,
      });
    }
  }, 60_000);
});
