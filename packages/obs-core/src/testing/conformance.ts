/**
 * `describeSinkConformance`: the suite every sink package runs — ours and third parties'.
 * It checks the contract's shape, that hooks never throw on bad input, order per run, flush
 * and idempotent shutdown, and that `status()` never throws and shows no secret.
 */
import { describe, expect, it } from 'vitest';
import type {
  RLMObservabilitySink,
  RunEnd,
  RunStart,
  ScoreRecord,
  StepRecord,
} from '../contract.js';
import { SINK_SPECIFICATION_VERSION } from '../contract.js';
import { RLMObservability } from '../coordinator.js';

/** What a sink recorded, read back by the sink author's own reader. */
export interface ReadBackRun {
  /** Step numbers in the order the backend or file holds them. */
  steps: number[];
  /** Whether the end of the run was recorded. */
  ended: boolean;
}

/** Options of {@link describeSinkConformance}. */
export interface ConformanceOptions<S extends RLMObservabilitySink> {
  /** The suite's title. @defaultValue `sink conformance` */
  title?: string;
  /** Values that must never appear in `status()` (for example the API key given to the sink). */
  secrets?: string[];
  /**
   * Reads one run back after `forceFlush()`, to check that steps are kept in order. Without
   * it, the suite checks delivery through a coordinator only.
   */
  readBack?: (sink: S, runId: string) => ReadBackRun | Promise<ReadBackRun>;
  /** Called after each test with the sink, to clean up. */
  cleanup?: (sink: S) => void | Promise<void>;
  /** Per-test timeout in ms. @defaultValue `20000` */
  timeoutMs?: number;
}

function cyclic(): Record<string, unknown> {
  const a: Record<string, unknown> = { name: 'a' };
  a.self = a;
  return a;
}

function throwingGetter(): Record<string, unknown> {
  return Object.defineProperty({}, 'boom', {
    enumerable: true,
    get() {
      throw new Error('getter exploded');
    },
  });
}

const throwingProxy = (): object =>
  new Proxy(
    {},
    {
      get() {
        throw new Error('proxy get');
      },
      ownKeys() {
        throw new Error('proxy keys');
      },
    },
  );

/** Run ids a sink must survive. */
export const BAD_RUN_IDS: unknown[] = [
  '',
  'x'.repeat(10_000),
  'nul\u0000byte',
  '../../etc/passwd',
  '..',
  '/abs/path',
  'a/b\\c',
  ' spaced id ',
  '\ud800lone',
  42,
  null,
  undefined,
  {},
  ['a'],
];

/** Payloads a sink must survive, per hook. */
export function badPayloads(): { start: unknown[]; step: unknown[]; end: unknown[] } {
  const huge = 'z'.repeat(2_000_000);
  return {
    start: [
      undefined,
      null,
      'not an object',
      {},
      { task: 42, environment: null, params: 'nope' },
      { task: huge, environment: 'env', params: cyclic() },
      {
        task: 't',
        environment: 'e',
        params: { big: 10n, fn: () => 1, sym: Symbol('s'), nan: Number.NaN },
      },
      { task: 't', environment: 'e', params: throwingGetter() },
      { task: 't', environment: 'e', params: throwingProxy() },
    ],
    step: [
      undefined,
      null,
      {},
      { event: null, cumulativeReward: 'x' },
      { event: 'string event', cumulativeReward: Number.NaN },
      {
        event: { step: 'one', action: 'not-an-object', observation: 7, reward: '0.5' },
        cumulativeReward: 1,
      },
      {
        event: {
          step: 1,
          action: { action: 'run', code: huge },
          observation: { success: true, output: huge },
        },
        cumulativeReward: 0,
      },
      { event: cyclic(), cumulativeReward: 0 },
      { event: throwingGetter(), cumulativeReward: 0 },
      {
        event: {
          step: 2,
          reward: Number.POSITIVE_INFINITY,
          observation: { success: false, error: new Error('x', { cause: new Error('y') }) },
        },
        cumulativeReward: Number.NEGATIVE_INFINITY,
      },
    ],
    end: [
      undefined,
      null,
      {},
      { result: null },
      { result: 'done' },
      {
        result: { completed: 'yes', steps: 'many', totalReward: {}, finalAnswer: huge },
        runPath: 42,
      },
      { result: cyclic(), runPath: '/tmp/../../etc' },
      { result: throwingGetter() },
    ],
  };
}

async function settle(value: unknown): Promise<unknown> {
  if (value && typeof (value as Promise<unknown>).then === 'function')
    return await (value as Promise<unknown>);
  return value;
}

/**
 * Declares the conformance suite for a sink. Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * import { describeSinkConformance } from '@rlm/obs-core/testing';
 * describeSinkConformance(() => createWebhookSink({ url: receiver.url }), {
 *   secrets: ['hook-secret-123'],
 * });
 * ```
 */
export function describeSinkConformance<S extends RLMObservabilitySink>(
  createSink: () => S | Promise<S>,
  options: ConformanceOptions<S> = {},
): void {
  const timeout = options.timeoutMs ?? 20_000;
  const withSink = async (fn: (sink: S) => Promise<void>): Promise<void> => {
    const sink = await createSink();
    try {
      await fn(sink);
    } finally {
      try {
        await sink.shutdown?.();
      } catch {
        // the shutdown test checks shutdown itself
      }
      await options.cleanup?.(sink);
    }
  };

  describe(options.title ?? 'sink conformance', () => {
    it(
      'has the contract shape',
      async () => {
        await withSink(async (sink) => {
          expect(typeof sink.name).toBe('string');
          expect(sink.name.length).toBeGreaterThan(0);
          for (const hook of ['status', 'onRunStart', 'onStep', 'onRunEnd'] as const) {
            expect(typeof sink[hook], hook).toBe('function');
          }
          for (const hook of ['forceFlush', 'shutdown'] as const) {
            if (sink[hook] !== undefined) expect(typeof sink[hook], hook).toBe('function');
          }
          if (sink.specificationVersion !== undefined) {
            expect(sink.specificationVersion).toBe(SINK_SPECIFICATION_VERSION);
          }
        });
      },
      timeout,
    );

    it(
      'status() never throws, is JSON and shows no secret',
      async () => {
        await withSink(async (sink) => {
          for (let i = 0; i < 3; i++) {
            const status = sink.status();
            expect(typeof status.name).toBe('string');
            expect(typeof status.enabled).toBe('boolean');
            expect(typeof status.available).toBe('boolean');
            expect(typeof status.detail).toBe('string');
            const json = JSON.stringify(status);
            for (const secret of options.secrets ?? []) expect(json).not.toContain(secret);
            sink.onRunStart('status-run', { task: 't', environment: 'e', params: {} });
          }
        });
      },
      timeout,
    );

    it(
      'hooks never throw or reject on bad input',
      async () => {
        await withSink(async (sink) => {
          const bad = badPayloads();
          const call = async (fn: () => unknown): Promise<void> => {
            let result: unknown;
            expect(() => {
              result = fn();
            }).not.toThrow();
            await expect(settle(result)).resolves.not.toThrow();
          };
          for (const runId of BAD_RUN_IDS) {
            await call(() =>
              sink.onRunStart(runId as string, { task: 't', environment: 'e', params: {} }),
            );
            await call(() =>
              sink.onStep(runId as string, { event: { step: 1 }, cumulativeReward: 0 }),
            );
            await call(() => sink.onRunEnd(runId as string, { result: { completed: true } }));
          }
          for (const payload of bad.start)
            await call(() => sink.onRunStart('bad-run', payload as RunStart));
          for (const payload of bad.step)
            await call(() => sink.onStep('bad-run', payload as StepRecord));
          for (const payload of bad.end)
            await call(() => sink.onRunEnd('bad-run', payload as RunEnd));
          await call(() =>
            sink.onStep('never-started', { event: { step: 1 }, cumulativeReward: 1 }),
          );
          await call(() => sink.onRunEnd('never-started-2', { result: { completed: false } }));
          if (typeof sink.onScore === 'function') {
            const onScore = sink.onScore.bind(sink);
            const at = new Date().toISOString();
            for (const score of [
              undefined,
              null,
              {},
              { name: 'n', value: { nested: true }, kind: 'score', at },
              { name: 'x'.repeat(100_000), value: 'y'.repeat(100_000), kind: 'feedback', at },
              { name: 'late', value: 1, kind: 'score', step: -3, at: 'not a date' },
            ])
              await call(() => onScore('bad-run', score as ScoreRecord));
            for (const runId of BAD_RUN_IDS)
              await call(() =>
                onScore(runId as string, { name: 's', value: true, kind: 'score', at }),
              );
            await call(() =>
              onScore('never-started-3', { name: 'late', value: 0.5, kind: 'feedback', at }),
            );
          }
          if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
          expect(() => sink.status()).not.toThrow();
        });
      },
      timeout,
    );

    it(
      'keeps every run and the order of its steps',
      async () => {
        await withSink(async (sink) => {
          const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
          const runs = Array.from({ length: 3 }, (_, i) =>
            obs.startRun({
              runId: `conformance-order-${i}-${Date.now()}`,
              task: `task ${i}`,
              environment: 'conformance',
            }),
          );
          for (let step = 1; step <= 25; step++) {
            for (const run of runs) {
              run.step({
                step,
                action: { action: 'run_python', code: `print(${step})` },
                observation: {
                  success: step % 5 !== 0,
                  output: String(step),
                  ...(step % 5 === 0 ? { error: 'boom' } : {}),
                },
                reward: 0.1,
              });
            }
          }
          for (const run of runs) run.end({ completed: true, finalAnswer: 'done' });
          const report = await obs.flush({ timeoutMs: timeout / 2 });
          const [counters] = obs.status().map((s) => s.counters);
          expect(counters!.failed).toBe(0);
          expect(counters!.dropped).toBe(0);
          // 27 events per run, and the end-of-run scores (reward, completed) where kept.
          expect(counters!.delivered).toBe(3 * (typeof sink.onScore === 'function' ? 29 : 27));
          expect(report.sinks[0]!.ok).toBe(true);
          if (options.readBack) {
            for (const run of runs) {
              const back = await options.readBack(sink, run.id);
              expect(back.steps).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
              expect(back.ended).toBe(true);
            }
          }
          await obs.shutdown({ timeoutMs: timeout / 2 });
        });
      },
      timeout,
    );

    it(
      'flushes, and shuts down idempotently',
      async () => {
        const sink = await createSink();
        try {
          sink.onRunStart('flush-run', { task: 't', environment: 'e', params: {} });
          sink.onStep('flush-run', { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
          sink.onRunEnd('flush-run', { result: { completed: true, steps: 1, totalReward: 1 } });
          if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
          if (sink.shutdown) {
            await expect(sink.shutdown()).resolves.toBeUndefined();
            await expect(sink.shutdown()).resolves.toBeUndefined();
          }
          // After shutdown, hooks and status still never throw.
          expect(() =>
            sink.onStep('flush-run', { event: { step: 2 }, cumulativeReward: 1 }),
          ).not.toThrow();
          expect(() => sink.status()).not.toThrow();
          if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
        } finally {
          await options.cleanup?.(sink);
        }
      },
      timeout,
    );
  });
}
