import { RLMObservability } from '@rlm/obs-core';
import { closedPort, describeSinkConformance } from '@rlm/obs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSink, fromEnv, WebhookSink } from '../src/index.js';
import { type Receiver, startReceiver } from './receiver.js';

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
});

describe('rlm-sink-webhook', () => {
  it('POSTs every event of a run, in order, in batches', async () => {
    const obs = RLMObservability.withSinks(
      [createSink({ url: receiver.url, maxBatchSize: 7, scheduledDelayMs: 5 })],
      { flushOnExit: false },
    );
    const run = obs.startRun({ runId: 'hook-run', task: 'send', environment: 'test' });
    for (let i = 1; i <= 20; i++) run.step({ action: { action: 'run_python' }, reward: 1 });
    run.end({ finalAnswer: 'ok' });
    const report = await obs.shutdown();
    expect(report.ok).toBe(true);
    const mine = receiver.events.filter((e) => e.run_id === 'hook-run');
    expect(mine.map((e) => e.type)).toEqual(['run_start', ...Array(20).fill('step'), 'run_end']);
    expect(mine.filter((e) => e.type === 'step').map((e) => e.payload.event.step)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(mine.at(-1)!.payload.result).toMatchObject({
      completed: true,
      steps: 20,
      totalReward: 20,
      finalAnswer: 'ok',
    });
    expect(obs.status()[0]).toMatchObject({ sent: 22, failed: 0, dropped: 0 });
  });

  it('retries 503 and 429 (honouring Retry-After), then delivers', async () => {
    receiver.failNext([503, 429, 502], '0');
    const sink = new WebhookSink({ url: receiver.url, scheduledDelayMs: 1 });
    sink.onStep('retry-run', { event: { step: 1 }, cumulativeReward: 0 });
    await sink.forceFlush();
    expect(receiver.events.filter((e) => e.run_id === 'retry-run')).toHaveLength(1);
    expect(sink.stats).toMatchObject({ sent: 1, failed: 0, retries: 3, requests: 4 });
  });

  it('gives up after maxAttempts and counts the batch as failed; 4xx is not retried', async () => {
    receiver.failNext([503, 503]);
    const sink = new WebhookSink({ url: receiver.url, maxAttempts: 2 });
    sink.onStep('lost-run', { event: { step: 1 }, cumulativeReward: 0 });
    await expect(sink.forceFlush()).rejects.toThrow(
      /1 events could not be delivered to http:\/\/127\.0\.0\.1:\d+\/hook \(HTTP 503\)/,
    );
    expect(sink.stats).toMatchObject({ sent: 0, failed: 1, retries: 1 });
    receiver.failNext([400]);
    const other = new WebhookSink({ url: receiver.url });
    other.onStep('bad-request', { event: {}, cumulativeReward: 0 });
    await expect(other.forceFlush()).rejects.toThrow('HTTP 400');
    expect(other.stats).toMatchObject({ failed: 1, retries: 0 });
    expect(other.status().last_error).toBe('HTTP 400');
  });

  it('an unreachable webhook never throws into the caller; the queue is bounded', async () => {
    const sink = new WebhookSink({
      url: `http://127.0.0.1:${await closedPort()}/unreachable`,
      maxAttempts: 1,
      maxQueueSize: 5,
      scheduledDelayMs: 60_000,
      maxBatchSize: 100,
    });
    for (let i = 0; i < 8; i++)
      expect(() => sink.onStep('r', { event: { step: i }, cumulativeReward: 0 })).not.toThrow();
    await expect(sink.forceFlush()).rejects.toThrow('5 events could not be delivered');
    expect(sink.stats).toMatchObject({ dropped: 3, failed: 5, sent: 0 });
  });

  it('shows the URL without credentials or query, and never the headers', () => {
    const sink = createSink({
      url: 'https://user:hunter2@hooks.example.com/in?token=abc123',
      headers: { authorization: 'Bearer sekrit-token' },
    });
    const text = JSON.stringify(sink.status());
    expect(sink.status().detail).toBe('https://hooks.example.com/in');
    for (const secret of ['hunter2', 'abc123', 'sekrit-token']) expect(text).not.toContain(secret);
  });

  it('sends credentials in the URL as Basic auth (fetch refuses such a URL) and never shows them', async () => {
    const port = new URL(receiver.url).port;
    const sink = createSink({
      url: `http://hook-user:s3cret%40pw@127.0.0.1:${port}/hook?k=v`,
      scheduledDelayMs: 1,
      maxAttempts: 2,
    }) as WebhookSink;
    sink.onStep('basic-run', { event: { step: 1 }, cumulativeReward: 0 });
    await sink.forceFlush();
    expect(sink.stats).toMatchObject({ sent: 1, failed: 0, retries: 0, requests: 1 });
    const request = receiver.requests.at(-1)!;
    expect(request.path).toBe('/hook?k=v');
    expect(request.headers.authorization).toBe(
      `Basic ${Buffer.from('hook-user:s3cret@pw').toString('base64')}`,
    );
    expect(receiver.events.filter((e) => e.run_id === 'basic-run')).toHaveLength(1);
    const text = JSON.stringify(sink.status());
    expect(sink.status().detail).toBe(`http://127.0.0.1:${port}/hook`);
    for (const secret of [
      's3cret',
      'hook-user',
      Buffer.from('hook-user:s3cret@pw').toString('base64'),
    ])
      expect(text).not.toContain(secret);
    // The doctor check goes the same way.
    await expect(sink.check()).resolves.toMatchObject({ ok: true });
    expect(receiver.requests.at(-1)!.headers.authorization).toMatch(/^Basic /);
  });

  it('an authorization header given explicitly wins over credentials in the URL', async () => {
    const port = new URL(receiver.url).port;
    const sink = new WebhookSink({
      url: `http://user:url-pass@127.0.0.1:${port}/hook`,
      headers: { Authorization: 'Bearer explicit-token-1' },
      scheduledDelayMs: 1,
    });
    sink.onStep('explicit-auth', { event: { step: 1 }, cumulativeReward: 0 });
    await sink.forceFlush();
    expect(receiver.requests.at(-1)!.headers.authorization).toBe('Bearer explicit-token-1');
  });

  it('does not retry a request that cannot be built, and shows no header value in the error', async () => {
    const sink = new WebhookSink({
      url: receiver.url,
      // A header value fetch refuses: a TypeError that is not a network error.
      headers: { 'x-api-key': 'bad-secret-value\nsecond line' },
      maxAttempts: 5,
    });
    const before = receiver.requests.length;
    sink.onStep('unbuildable', { event: { step: 1 }, cumulativeReward: 0 });
    await expect(sink.forceFlush()).rejects.toThrow(/1 events could not be delivered .*TypeError/);
    expect(sink.stats).toMatchObject({ sent: 0, failed: 1, retries: 0, requests: 1 });
    expect(receiver.requests.length).toBe(before);
    expect(JSON.stringify(sink.status())).not.toContain('bad-secret-value');
    expect(sink.status().last_error).toMatch(/^TypeError: /);
  });

  it('validates its options', () => {
    expect(() => createSink({} as never)).toThrow('rlm-sink-webhook: url: Expected a URL string');
    expect(() => createSink({ url: 'ftp://x' })).toThrow('url: Expected an http(s) URL');
    expect(() => createSink({ url: 'http://x', maxBatchSize: 0 })).toThrow(
      'maxBatchSize: Expected a positive number',
    );
    expect(() => createSink({}, { env: {} })).toThrow(
      'rlm-sink-webhook: url: Expected a URL string (the url option or RLM_SINK_WEBHOOK_URL)',
    );
    // Listed in a config without a url: the environment the config was loaded with gives it.
    const fromContext = createSink(
      { name: 'hook' },
      { env: { RLM_SINK_WEBHOOK_URL: 'http://127.0.0.1:1/from-env' } },
    );
    expect(fromContext.name).toBe('hook');
    expect(JSON.stringify(fromContext.status())).toContain('127.0.0.1:1');
    expect(fromEnv({})).toBeUndefined();
    expect(fromEnv({ RLM_SINK_WEBHOOK_URL: 'http://127.0.0.1:1/x' })?.name).toBe('webhook');
  });
});

describeSinkConformance(
  () =>
    createSink({
      url: receiver.url,
      scheduledDelayMs: 5,
      headers: { authorization: 'Bearer conformance-secret' },
    }),
  {
    title: 'rlm-sink-webhook conformance',
    secrets: ['conformance-secret'],
    readBack: (_sink, runId) => {
      const events = receiver.events.filter((e) => e.run_id === runId);
      return {
        steps: events.filter((e) => e.type === 'step').map((e) => e.payload.event.step),
        ended: events.some((e) => e.type === 'run_end'),
      };
    },
  },
);
