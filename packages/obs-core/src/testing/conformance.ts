/**
 * `describeSinkConformance`: the suite every sink package runs — ours and third parties'.
 * It checks the contract's shape, that hooks never throw on bad input, never block the caller
 * and never change their payload, delivery and order per run, flush and idempotent shutdown,
 * and that `status()` never throws and shows no secret.
 *
 * vitest is an optional peer needed by this suite only: `MemorySink` and `FaultySink` import
 * without it from `@rlm/obs-core/testing/sinks`.
 */

import * as vitest from 'vitest';
import type { RLMObservabilitySink, SinkHook } from '../contract.js';
import { SINK_SPECIFICATION_VERSION } from '../contract.js';
import { RLMObservability } from '../coordinator.js';
import { ConformanceError, HookWatch, leakInStatus, MAX_MEDIAN_HOOK_MS } from './checks.js';

/** vitest's API (imported statically: a top-level await would stop CommonJS `require()`). */
function useVitest(): typeof vitest {
  return vitest;
}

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
  /**
   * Values that must never appear in `status()` (for example the API key given to the sink).
   * Without it the suite still fails on anything credential-shaped in `status()`: a password
   * in a URL, `api_key=…`/`token=…`, `Bearer …`/`Basic …`, `sk-…` and other vendor keys.
   */
  secrets?: string[];
  /**
   * Reads one run back from where the sink put it (your backend, your file, your receiver),
   * after the coordinator's flush: the steps in stored order, and whether the end was stored.
   * It is what checks that the sink delivers every event and keeps the order of steps.
   * Without it, that test is reported as skipped: a sink that loses or reorders events would
   * pass. Called after the coordinator's flush, before its shutdown.
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

/** One test of the suite, runnable without a test runner (the suite's own tests use it). */
export interface ConformanceCheck {
  name: string;
  /** Why the test is skipped, when it is. */
  skip?: string;
  run(): Promise<void>;
}

/** The title of the delivery test, and what its title says when it is skipped. */
export const ORDER_TEST = 'keeps every run and the order of its steps (read back)';
export const ORDER_TEST_SKIPPED = `${ORDER_TEST}: NOT CHECKED — pass the readBack option to read runs back from your backend; without it a sink that loses or reorders events passes`;

function assertNoLeak(status: unknown, secrets: readonly string[], when: string): void {
  const leak = leakInStatus(status, secrets);
  if (leak !== undefined)
    throw new ConformanceError(
      `status() ${when}: ${leak}. status() must never show a secret: show URLs with safeUrl(), mask values with createRedactor().`,
    );
}

function realisticStep(step: number): { event: Record<string, unknown>; cumulativeReward: number } {
  return {
    event: {
      step,
      action: { action: 'run_python', code: `# step ${step}\n${'x = 1\n'.repeat(300)}` },
      observation: { success: true, output: `${step}\n${'line of output\n'.repeat(150)}` },
      reward: 0.1,
      usage: { inputTokens: 1200, outputTokens: 300, model: 'gpt-4o-mini' },
    },
    cumulativeReward: step / 10,
  };
}

/**
 * The suite's tests as plain functions: {@link describeSinkConformance} declares one vitest
 * test per entry.
 */
export function conformanceChecks<S extends RLMObservabilitySink>(
  createSink: () => S | Promise<S>,
  options: ConformanceOptions<S> = {},
): ConformanceCheck[] {
  const timeout = options.timeoutMs ?? 20_000;
  const secrets = options.secrets ?? [];
  const { expect } = useVitest();
  const withSink = async (fn: (sink: S, watch: HookWatch) => Promise<void>): Promise<void> => {
    const sink = await createSink();
    const watch = new HookWatch();
    try {
      await fn(sink, watch);
    } finally {
      try {
        await sink.shutdown?.();
      } catch {
        // the shutdown test checks shutdown itself
      }
      await options.cleanup?.(sink);
    }
  };
  /** Calls a hook, expecting neither a throw nor a rejection; then checks the payload. */
  const call = async (
    sink: S,
    watch: HookWatch,
    hook: SinkHook,
    runId: unknown,
    payload: unknown,
  ): Promise<void> => {
    let result: unknown;
    expect(() => {
      result = watch.invoke(sink, hook, runId, payload);
    }, `${hook} threw`).not.toThrow();
    await expect(settle(result), `${hook} rejected`).resolves.not.toThrow();
    watch.assertUnchanged(`after ${hook} returned`, true);
  };

  const checks: ConformanceCheck[] = [
    {
      name: 'has the contract shape',
      run: () =>
        withSink(async (sink) => {
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
        }),
    },
    {
      name: 'status() never throws, is JSON and shows no secret',
      run: () =>
        withSink(async (sink, watch) => {
          for (let i = 0; i < 3; i++) {
            const status = sink.status();
            expect(typeof status.name).toBe('string');
            expect(status.name, 'status().name is the sink name').toBe(sink.name);
            expect(typeof status.enabled).toBe('boolean');
            expect(typeof status.available).toBe('boolean');
            expect(typeof status.detail).toBe('string');
            assertNoLeak(JSON.parse(JSON.stringify(status)), secrets, 'as created');
            await call(sink, watch, 'onRunStart', 'status-run', {
              task: 't',
              environment: 'e',
              params: {},
            });
          }
          if (sink.forceFlush) await sink.forceFlush().catch(() => undefined);
          assertNoLeak(JSON.parse(JSON.stringify(sink.status())), secrets, 'after a flush');
        }),
    },
    {
      name: 'hooks never throw, reject or change their payload on bad input',
      run: () =>
        withSink(async (sink, watch) => {
          const bad = badPayloads();
          for (const runId of BAD_RUN_IDS) {
            await call(sink, watch, 'onRunStart', runId, {
              task: 't',
              environment: 'e',
              params: {},
            });
            await call(sink, watch, 'onStep', runId, { event: { step: 1 }, cumulativeReward: 0 });
            await call(sink, watch, 'onRunEnd', runId, { result: { completed: true } });
          }
          for (const payload of bad.start)
            await call(sink, watch, 'onRunStart', 'bad-run', payload);
          for (const payload of bad.step) await call(sink, watch, 'onStep', 'bad-run', payload);
          for (const payload of bad.end) await call(sink, watch, 'onRunEnd', 'bad-run', payload);
          await call(sink, watch, 'onStep', 'never-started', {
            event: { step: 1 },
            cumulativeReward: 1,
          });
          await call(sink, watch, 'onRunEnd', 'never-started-2', { result: { completed: false } });
          if (typeof sink.onScore === 'function') {
            const at = new Date().toISOString();
            for (const score of [
              undefined,
              null,
              {},
              { name: 'n', value: { nested: true }, kind: 'score', at },
              { name: 'x'.repeat(100_000), value: 'y'.repeat(100_000), kind: 'feedback', at },
              { name: 'late', value: 1, kind: 'score', step: -3, at: 'not a date' },
            ])
              await call(sink, watch, 'onScore', 'bad-run', score);
            for (const runId of BAD_RUN_IDS)
              await call(sink, watch, 'onScore', runId, {
                name: 's',
                value: true,
                kind: 'score',
                at,
              });
            await call(sink, watch, 'onScore', 'never-started-3', {
              name: 'late',
              value: 0.5,
              kind: 'feedback',
              at,
            });
          }
          if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
          watch.assertUnchanged('after forceFlush()');
          expect(() => sink.status()).not.toThrow();
          assertNoLeak(JSON.parse(JSON.stringify(sink.status())), secrets, 'after bad input');
        }),
    },
    {
      name: `hooks return at once: they do not block the caller (median ≤ ${MAX_MEDIAN_HOOK_MS} ms)`,
      run: () =>
        withSink(async (sink, watch) => {
          const at = new Date().toISOString();
          for (let r = 0; r < 2; r++) {
            const runId = `conformance-fast-${r}-${Date.now()}`;
            await settle(
              watch.invoke(sink, 'onRunStart', runId, {
                task: 'a task',
                environment: 'conformance',
                params: { model: 'gpt-4o-mini' },
                startedAt: at,
              }),
            );
            for (let step = 1; step <= 30; step++)
              await settle(watch.invoke(sink, 'onStep', runId, realisticStep(step)));
            if (typeof sink.onScore === 'function')
              await settle(
                watch.invoke(sink, 'onScore', runId, {
                  name: 'reward',
                  value: 3,
                  kind: 'score',
                  at,
                }),
              );
            await settle(
              watch.invoke(sink, 'onRunEnd', runId, {
                result: { completed: true, steps: 30, totalReward: 3, finalAnswer: 'done' },
              }),
            );
          }
          watch.assertFast();
          if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
          watch.assertUnchanged('after forceFlush()');
        }),
    },
  ];

  /**
   * Three interleaved runs through a coordinator; after its flush, `afterFlush` gets their
   * ids (before the coordinator shuts the sink down: an in-memory exporter forgets then).
   */
  const throughCoordinator = async (
    sink: S,
    watch: HookWatch,
    afterFlush: (runIds: string[]) => Promise<void> = async () => {},
  ): Promise<void> => {
    const obs = RLMObservability.withSinks([watch.wrap(sink)], {
      flushOnExit: false,
      logger: false,
    });
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
    expect(counters!.failed, 'events the sink failed on').toBe(0);
    expect(counters!.dropped, 'events dropped').toBe(0);
    // 27 events per run, and the end-of-run scores (reward, completed) where kept.
    expect(counters!.delivered).toBe(3 * (typeof sink.onScore === 'function' ? 29 : 27));
    expect(report.sinks[0]!.ok, `flush: ${report.sinks[0]!.error ?? ''}`).toBe(true);
    watch.assertUnchanged('after the coordinator flushed');
    assertNoLeak(JSON.parse(JSON.stringify(sink.status())), secrets, 'after a flush');
    try {
      await afterFlush(runs.map((run) => run.id));
    } finally {
      await obs.shutdown({ timeoutMs: timeout / 2 });
    }
  };

  const readBack = options.readBack;
  if (readBack) {
    checks.push({
      name: ORDER_TEST,
      run: () =>
        withSink((sink, watch) =>
          throughCoordinator(sink, watch, async (runIds) => {
            for (const runId of runIds) {
              const back = await readBack(sink, runId);
              expect(back.steps, `steps of run ${runId} read back`).toEqual(
                Array.from({ length: 25 }, (_, i) => i + 1),
              );
              expect(back.ended, `end of run ${runId} read back`).toBe(true);
            }
          }),
        ),
    });
  } else {
    checks.push(
      {
        name: 'delivers every event through a coordinator (counters only)',
        run: () => withSink((sink, watch) => throughCoordinator(sink, watch)),
      },
      {
        name: ORDER_TEST_SKIPPED,
        skip: 'no readBack option: delivery and order of steps are not checked',
        run: async () => {},
      },
    );
  }

  checks.push({
    name: 'flushes, and shuts down idempotently',
    run: async () => {
      const sink = await createSink();
      const watch = new HookWatch();
      try {
        await call(sink, watch, 'onRunStart', 'flush-run', {
          task: 't',
          environment: 'e',
          params: {},
        });
        await call(sink, watch, 'onStep', 'flush-run', {
          event: { step: 1, reward: 1 },
          cumulativeReward: 1,
        });
        await call(sink, watch, 'onRunEnd', 'flush-run', {
          result: { completed: true, steps: 1, totalReward: 1 },
        });
        if (sink.forceFlush) await expect(sink.forceFlush()).resolves.toBeUndefined();
        watch.assertUnchanged('after forceFlush()');
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
        assertNoLeak(JSON.parse(JSON.stringify(sink.status())), secrets, 'after shutdown');
      } finally {
        await options.cleanup?.(sink);
      }
    },
  });
  return checks;
}

/**
 * Declares the conformance suite for a sink. Call it at the top level of a vitest test file.
 * Give `readBack` (how to read a run back from where your sink put it): without it, the test
 * of delivery and order is reported as skipped. Give `secrets` (the credentials you pass to
 * the sink) so that `status()` is checked for them, besides anything credential-shaped.
 *
 * @example
 * ```ts
 * import { describeSinkConformance } from '@rlm/obs-core/testing';
 * // `receiver`: a local HTTP server started in beforeAll, recording what it receives.
 * describeSinkConformance(
 *   () => createWebhookSink({ url: receiver.url, headers: { authorization: 'Bearer hook-secret-123' } }),
 *   {
 *     secrets: ['hook-secret-123'],
 *     readBack: (_sink, runId) => {
 *       const mine = receiver.events.filter((e) => e.run_id === runId);
 *       return {
 *         steps: mine.filter((e) => e.type === 'step').map((e) => e.payload.event.step),
 *         ended: mine.some((e) => e.type === 'run_end'),
 *       };
 *     },
 *   },
 * );
 * ```
 */
export function describeSinkConformance<S extends RLMObservabilitySink>(
  createSink: () => S | Promise<S>,
  options: ConformanceOptions<S> = {},
): void {
  const { describe, it } = useVitest();
  const timeout = options.timeoutMs ?? 20_000;
  const title = options.title ?? 'sink conformance';
  describe(title, () => {
    for (const check of conformanceChecks(createSink, options)) {
      if (check.skip !== undefined) it.skip(check.name, check.run);
      else it(check.name, check.run, timeout);
    }
  });
  if (!options.readBack)
    console.warn(
      `[rlm-obs conformance] "${title}": no readBack option, so delivery and the order of steps are NOT checked (the test is reported as skipped). Pass readBack: (sink, runId) => ({ steps, ended }) reading the run back from your backend.`,
    );
}
