import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RlmObsConfigError } from '../src/config/config-error.js';
import { loadObservability } from '../src/config/load-observability.js';
import type { RLMObservabilitySink } from '../src/contract.js';
import { RLMObservability } from '../src/coordinator.js';
import { describeSinkConformance } from '../src/testing/conformance.js';
import { MemorySink } from '../src/testing/memory-sink.js';
import { createWorkerSinks } from '../src/worker/worker-sinks.js';
import { makeProject } from './config/project.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const quiet = { flushOnExit: false, logger: false } as const;
const silent = { warn() {} };

interface Line {
  sink: string;
  hook: string;
  tid?: number;
  /** The worker heap's young generation bound (`resourceLimits`). */
  youngMb?: number;
  runId?: string;
  payload?: Record<string, unknown>;
}

let dir: string;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function tmpFile(name: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-worker-'));
  if (!fs.existsSync(dir)) dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-worker-'));
  return path.join(dir, name);
}

function lines(file: string): Line[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

function stepOf(line: Line): number | undefined {
  return (line.payload?.event as { step?: number } | undefined)?.step;
}

function step(n: number, extra: Record<string, unknown> = {}) {
  return {
    event: {
      step: n,
      action: { action: 'run_python', code: `print(${n})` },
      observation: { success: true, output: String(n) },
      reward: 1,
      ...extra,
    },
    cumulativeReward: n,
  };
}

describe('createWorkerSinks', () => {
  it('delivers every event, in order, to sinks in a worker thread, one copy for several sinks', async () => {
    const a = tmpFile('a.jsonl');
    const b = tmpFile('b.jsonl');
    const remote = await createWorkerSinks(
      [
        { use: './recording-sink.mjs', options: { file: a, name: 'rec-a' } },
        { use: './recording-sink.mjs', options: { file: b, name: 'rec-b' } },
      ],
      { configDir: fixtures, logger: silent },
    );
    expect(remote.map((s) => s.name)).toEqual(['rec-a', 'rec-b']);
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory, ...remote], quiet);
    cleanups.push(() => obs.shutdown());
    for (const runId of ['r1', 'r2']) {
      obs.onRunStart(runId, { task: 'sum', environment: 'test', params: { api_key: 'sk-live-1' } });
      for (let i = 1; i <= 500; i++) obs.onStep(runId, step(i));
      obs.onRunEnd(runId, { result: { completed: true, steps: 500, totalReward: 500 } });
    }
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(true);
    for (const file of [a, b]) {
      const got = lines(file).filter((l) => l.hook !== 'forceFlush');
      // 2 starts + 1000 steps + 2 ends + 4 end-of-run scores, each exactly once
      expect(got).toHaveLength(1008);
      for (const runId of ['r1', 'r2']) {
        const steps = got.filter((l) => l.runId === runId && l.hook === 'onStep');
        expect(steps.map((l) => stepOf(l))).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
        const hooks = got.filter((l) => l.runId === runId).map((l) => l.hook);
        expect(hooks[0]).toBe('onRunStart');
        expect(hooks.at(-1)).toBe('onRunEnd');
        expect(hooks.filter((h) => h === 'onScore')).toHaveLength(2);
      }
      // the payloads are the coordinator's prepared ones: redacted, same as in this thread
      const start = got.find((l) => l.hook === 'onRunStart' && l.runId === 'r1');
      expect(JSON.stringify(start)).not.toContain('sk-live-1');
      const mine = memory.eventsOf('r1').find((e) => e.hook === 'onRunStart');
      expect(start?.payload).toEqual(JSON.parse(JSON.stringify(mine?.payload)));
      const step7 = got.find((l) => l.runId === 'r2' && l.hook === 'onStep' && stepOf(l) === 7);
      expect(step7?.payload).toEqual(JSON.parse(JSON.stringify(memory.stepsOf('r2')[6])));
    }
    const status = obs.status().find((s) => s.name === 'rec-b') as Record<string, unknown>;
    expect(status.thread).toBe('worker');
    expect((status.worker as { delivered: number }).delivered).toBe(1008);
  });

  it('threads: 2 puts consecutive sinks on two worker threads; each gets its events in order', async () => {
    const files = ['t0.jsonl', 't1.jsonl', 't2.jsonl'].map(tmpFile);
    const remote = await createWorkerSinks(
      files.map((file, i) => ({
        use: './recording-sink.mjs',
        // The middle one takes no scores: the scores' entries are for one sink in each thread.
        options: { file, name: `rec-${i}`, ...(i === 1 ? { scores: false } : {}) },
      })),
      { configDir: fixtures, logger: silent, threads: 2 },
    );
    expect(remote.map((s) => s.name)).toEqual(['rec-0', 'rec-1', 'rec-2']);
    const obs = RLMObservability.withSinks(remote, quiet);
    let shutDown = false;
    cleanups.push(() => (shutDown ? Promise.resolve() : obs.shutdown()));
    for (const runId of ['r1', 'r2']) {
      obs.onRunStart(runId, { task: 'sum', environment: 'test', params: {} });
      for (let i = 1; i <= 300; i++) obs.onStep(runId, step(i));
      obs.onRunEnd(runId, { result: { completed: true, steps: 300, totalReward: 300 } });
    }
    expect((await obs.flush({ timeoutMs: 10_000 })).ok).toBe(true);
    const got = files.map((file) => lines(file).filter((l) => l.hook !== 'forceFlush'));
    got.forEach((sinkLines, i) => {
      const scores = sinkLines.filter((l) => l.hook === 'onScore');
      // the end-of-run reward and completed, per run
      expect(scores).toHaveLength(i === 1 ? 0 : 4);
      expect(sinkLines).toHaveLength(2 + 600 + 2 + scores.length);
      for (const runId of ['r1', 'r2']) {
        expect(
          sinkLines.filter((l) => l.runId === runId && l.hook === 'onStep').map(stepOf),
        ).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
        expect(sinkLines.filter((l) => l.runId === runId).map((l) => l.hook)[0]).toBe('onRunStart');
      }
      for (const s of scores) expect(s.sink).toBe(`rec-${i}`);
    });
    // the 1st and 2nd sink share a worker thread, the 3rd has the other; neither is this one
    const tids = got.map((sinkLines) => new Set(sinkLines.map((l) => l.tid)));
    for (const set of tids) expect(set.size).toBe(1);
    const [t0, t1, t2] = tids.map((set) => [...set][0]);
    expect(t0).toBe(t1);
    expect(t2).not.toBe(t0);
    expect([t0, t2]).not.toContain(0);
    for (const status of obs.status()) {
      expect((status as { thread?: string }).thread).toBe('worker');
      const counters = (status as { worker?: { delivered: number; failed: number } }).worker;
      expect(counters?.failed).toBe(0);
    }
    const report = await obs.shutdown({ timeoutMs: 10_000 });
    shutDown = true;
    expect(report.ok).toBe(true);
    for (const file of files) expect(lines(file).at(-1)?.hook).toBe('shutdown');
  });

  it('a slow sink in the worker has its backlog held here, not in the worker; the others keep pace', async () => {
    const slowFile = tmpFile('slow.jsonl');
    const fastFile = tmpFile('fast.jsonl');
    const maxInFlight = 20;
    const remote = await createWorkerSinks(
      [
        { use: './recording-sink.mjs', options: { file: slowFile, name: 'slow', delayMs: 4 } },
        { use: './recording-sink.mjs', options: { file: fastFile, name: 'fast' } },
      ],
      { configDir: fixtures, logger: silent, maxInFlight, postDelayMs: 5, statusIntervalMs: 50 },
    );
    const obs = RLMObservability.withSinks(remote, quiet);
    cleanups.push(() => obs.shutdown());
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    for (let i = 1; i <= 300; i++) obs.onStep('r', step(i));
    // The fast sink has every step long before the slow one (4 ms each) is done...
    await vi.waitFor(() => expect(lines(fastFile)).toHaveLength(301), { timeout: 10_000 });
    let heldHere = 0;
    let worstInWorker = 0;
    for (;;) {
      const slow = obs.status().find((s) => s.name === 'slow') as unknown as {
        counters: { pending: number };
        worker?: { pending: number };
      };
      heldHere = Math.max(heldHere, slow.counters.pending);
      worstInWorker = Math.max(worstInWorker, slow.worker?.pending ?? 0);
      if (lines(slowFile).length === 301) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // ...whose backlog waited in this thread's lane; in the worker it stayed near the bound
    // (the busy threshold, plus what was on its way when the worker said so).
    expect(heldHere).toBeGreaterThan(100);
    expect(worstInWorker).toBeGreaterThan(0);
    expect(worstInWorker).toBeLessThanOrEqual(3 * maxInFlight);
    expect(lines(slowFile).slice(1).map(stepOf)).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(true);
    for (const s of obs.status()) expect(s.counters.dropped).toBe(0);
  });

  it('a sink that stays busy in the worker never makes the application’s coordinator time a call out', async () => {
    const file = tmpFile('busy-long.jsonl');
    const [sink] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, name: 'slow', delayMs: 500 } }],
      { configDir: fixtures, logger: silent, maxInFlight: 2, postDelayMs: 5 },
    );
    // Each event takes the sink longer than this coordinator lets a call take.
    const obs = RLMObservability.withSinks([sink!], { ...quiet, callTimeoutMs: 400 });
    cleanups.push(() => obs.shutdown());
    for (let i = 1; i <= 8; i++) obs.onStep('r', step(i));
    await vi.waitFor(() => expect(lines(file)).toHaveLength(8), { timeout: 15_000 });
    const status = obs.status()[0] as unknown as {
      counters: { delivered: number; failed: number; timedOut?: number };
    };
    // every hand-over counted as delivered: none timed out waiting for the busy sink
    expect(status.counters.failed).toBe(0);
    expect(status.counters.delivered).toBe(8);
    expect(lines(file).map(stepOf)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('counts failures in the worker, reports them in status and flush, and never leaks secrets', async () => {
    const file = tmpFile('fail.jsonl');
    const [sink] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, throwOnStep: 3, apiKey: 'sk-xyz-999' } }],
      { configDir: fixtures, logger: silent },
    );
    const obs = RLMObservability.withSinks([sink!], quiet);
    cleanups.push(() => obs.shutdown());
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    for (let i = 1; i <= 5; i++) obs.onStep('r', step(i));
    // as for a sink in this thread: the flush itself worked; the failed event is counted
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(true);
    const status = obs.status()[0] as unknown as Record<string, unknown>;
    const worker = status.worker as { delivered: number; failed: number; lastError: string };
    expect(worker.failed).toBe(1);
    expect(worker.delivered).toBe(5);
    // the sink echoes its key in its detail and in an error: the worker knows its options' secrets
    expect(worker.lastError).toContain('refused for key [REDACTED]');
    expect(status.detail).toBe('recording to a file (key=[REDACTED])');
    expect(JSON.stringify(status)).not.toContain('sk-xyz-999');
    expect(
      lines(file)
        .filter((l) => l.hook === 'onStep')
        .map((l) => stepOf(l)),
    ).toEqual([1, 2, 4, 5]);
  });

  it('keeps the caller unblocked by a slow worker sink: backpressure becomes the coordinator queue', async () => {
    const file = tmpFile('slow.jsonl');
    const [sink] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, delayMs: 2 } }],
      { configDir: fixtures, logger: silent, maxInFlight: 50, postDelayMs: 1 },
    );
    const obs = RLMObservability.withSinks([sink!], quiet);
    cleanups.push(() => obs.shutdown());
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    for (let i = 1; i <= 300; i++) {
      obs.onStep('r', step(i));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const report = await obs.flush({ timeoutMs: 20_000 });
    expect(report.ok).toBe(true);
    const steps = lines(file).filter((l) => l.hook === 'onStep');
    expect(steps.map((l) => stepOf(l))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(obs.status()[0]?.counters.dropped).toBe(0);
  });

  it('gives flush the caller deadline: a hung sink in the worker costs the deadline, not more', async () => {
    const file = tmpFile('hang.jsonl');
    const [sink] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, hangOnFlush: true } }],
      { configDir: fixtures, logger: silent },
    );
    const obs = RLMObservability.withSinks([sink!], quiet);
    cleanups.push(() => obs.shutdown({ timeoutMs: 500 }));
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    const started = performance.now();
    const report = await obs.flush({ timeoutMs: 400 });
    expect(report.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('answers check() from the worker and mirrors the sink contract', async () => {
    const file = tmpFile('check.jsonl');
    const [withCheck, plain] = await createWorkerSinks(
      [
        { use: './recording-sink.mjs', options: { file, name: 'c1', withCheck: true } },
        { use: './recording-sink.mjs', options: { file, name: 'c2', scores: false } },
      ],
      { configDir: fixtures, logger: silent },
    );
    cleanups.push(async () => {
      await withCheck!.shutdown?.();
      await plain!.shutdown?.();
    });
    expect(await withCheck!.check?.()).toEqual({ ok: true, problems: [], detail: 'checked c1' });
    expect(plain!.check).toBeUndefined();
    expect(plain!.onScore).toBeUndefined();
    expect(typeof withCheck!.onScore).toBe('function');
  });

  it('rejects with a config error naming the key when a sink cannot be created', async () => {
    const error = await createWorkerSinks([{ use: './recording-sink.mjs', options: {} }], {
      configDir: fixtures,
      configFile: '/x/rlm-obs.config.json',
      keys: ['sinks[3]'],
      logger: silent,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RlmObsConfigError);
    expect((error as Error).message).toBe(
      "invalid options for sink './recording-sink.mjs': file is required (/x/rlm-obs.config.json, sinks[3].options.file)",
    );
    const missing = await createWorkerSinks([{ use: 'no-such-sink-here' }], {
      configDir: fixtures,
      logger: silent,
    }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/sink 'no-such-sink-here' is not installed/);
  });

  it('shuts the worker down with the last sink; events after shutdown are counted, not sent', async () => {
    const file = tmpFile('end.jsonl');
    const [sink] = await createWorkerSinks([{ use: './recording-sink.mjs', options: { file } }], {
      configDir: fixtures,
      logger: silent,
    });
    const obs = RLMObservability.withSinks([sink!], quiet);
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', step(1));
    const report = await obs.shutdown({ timeoutMs: 5_000 });
    expect(report.ok).toBe(true);
    expect(lines(file).map((l) => l.hook)).toEqual(['onRunStart', 'onStep', 'shutdown']);
    obs.onStep('r', step(2));
    expect(obs.stats.afterShutdown).toBe(1);
    expect(obs.status()[0]?.counters.dropped).toBe(1);
  });

  it('flushes once, warmUpMs after the first events, unless the application flushed first', async () => {
    const hooksOf = (file: string) => lines(file).map((l) => l.hook);
    const start = async (file: string, warmUpMs: number) => {
      const [sink] = await createWorkerSinks([{ use: './recording-sink.mjs', options: { file } }], {
        configDir: fixtures,
        logger: silent,
        warmUpMs,
      });
      const obs = RLMObservability.withSinks([sink!], quiet);
      cleanups.push(() => obs.shutdown());
      return obs;
    };
    const warm = tmpFile('warm.jsonl');
    const off = tmpFile('warm-off.jsonl');
    const early = tmpFile('warm-early.jsonl');
    const [a, b, c] = await Promise.all([start(warm, 100), start(off, 0), start(early, 300)]);
    const started = performance.now();
    for (const obs of [a, b, c]) {
      obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
      obs.onStep('r', step(1));
    }
    await c.flush({ timeoutMs: 5_000 });
    await vi.waitFor(() => expect(hooksOf(warm)).toContain('forceFlush'), { timeout: 5_000 });
    // no earlier than asked: warmUpMs after the worker took the first events
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    expect(hooksOf(warm)).toEqual(['onRunStart', 'onStep', 'forceFlush']);
    // the worker posts a status after it, and it keeps taking events
    a.onStep('r', step(2));
    await a.flush({ timeoutMs: 5_000 });
    expect(hooksOf(warm)).toEqual(['onRunStart', 'onStep', 'forceFlush', 'onStep', 'forceFlush']);
    // past the others' warm-up times: off never flushes, early flushed once (its own flush)
    await new Promise((resolve) => setTimeout(resolve, 400 - (performance.now() - started)));
    expect(hooksOf(off)).toEqual(['onRunStart', 'onStep']);
    expect(hooksOf(early)).toEqual(['onRunStart', 'onStep', 'forceFlush']);
  });

  it('delivers everything when the process ends without a flush, and the process exits by itself', () => {
    const file = tmpFile('exit.jsonl');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      import { RLMObservability, createWorkerSinks } from ${JSON.stringify(core)};
      const remote = await createWorkerSinks(
        [
          { use: './recording-sink.mjs', options: { file: ${JSON.stringify(file)} } },
          { use: './recording-sink.mjs', options: { file: ${JSON.stringify(file)}, name: 'second' } },
        ],
        { configDir: ${JSON.stringify(fixtures)}, threads: Number(process.env.THREADS) },
      );
      const obs = RLMObservability.withSinks(remote);
      obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
      for (let i = 1; i <= 50; i++) obs.onStep('r', { event: { step: i, reward: 1 }, cumulativeReward: i });
      obs.onRunEnd('r', { result: { completed: true, steps: 50, totalReward: 50 } });
    `;
    const scriptFile = tmpFile('exit-script.mjs');
    fs.writeFileSync(scriptFile, script);
    // Run as a file and as `node -e` (whose --input-type the worker must not inherit), with
    // and without a V8 flag (which a worker may not be given explicitly).
    const ways = [
      [scriptFile],
      ['--input-type=module', '-e', script],
      ['--expose-gc', scriptFile],
      ['--expose-gc', '--input-type=module', '-e', script],
    ];
    // Two sinks, in one worker thread and in two.
    for (let round = 0; round < 8; round++) {
      fs.rmSync(file, { force: true });
      execFileSync(process.execPath, ways[round % ways.length]!, {
        timeout: 20_000,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, THREADS: String(round < 4 ? 1 : 2) },
      });
      const got = lines(file);
      for (const sink of ['recording', 'second']) {
        const mine = got.filter((l) => l.sink === sink);
        expect(mine.filter((l) => l.hook === 'onStep')).toHaveLength(50);
        expect(mine.filter((l) => l.hook === 'onRunEnd')).toHaveLength(1);
      }
      expect(new Set(got.filter((l) => l.hook === 'onStep').map((l) => l.tid)).size).toBe(
        round < 4 ? 1 : 2,
      );
    }
  });
});

describe('the config file: worker', () => {
  const recordingSink = fs.readFileSync(path.join(fixtures, 'recording-sink.mjs'), 'utf8');
  function fakePackage(name: string): Record<string, string> {
    return {
      [`node_modules/${name}/package.json`]: JSON.stringify({
        name,
        version: '1.0.0',
        type: 'module',
        exports: { '.': './index.js' },
      }),
      [`node_modules/${name}/index.js`]: recordingSink,
    };
  }

  async function load(config: Record<string, unknown>) {
    const p = makeProject({
      ...fakePackage('@rlm/sink-rec'),
      ...fakePackage('@rlm/sink-jsonl'),
      'rlm-obs.config.json': JSON.stringify(config),
    });
    cleanups.push(async () => p.remove());
    const obs = await loadObservability({ cwd: p.dir, logger: silent, overrides: quiet });
    cleanups.push(() => obs.shutdown());
    return { obs, dir: p.dir };
  }

  const threads = (obs: RLMObservability) =>
    Object.fromEntries(
      obs.status().map((s) => [s.name, (s as Record<string, unknown>).thread ?? 'main']),
    );

  it('worker: true moves every named sink but the local files, keeping the delivery order', async () => {
    const file = tmpFile('cfg.jsonl');
    const { obs } = await load({
      worker: true,
      sinks: [
        ['rec', { file, name: 'first' }],
        ['jsonl', { file, name: 'local-jsonl' }],
        { use: 'rec', options: { file, name: 'kept-here' }, worker: false },
        { use: 'rec', options: { file, name: 'last' } },
      ],
    });
    expect(obs.status().map((s) => s.name)).toEqual(['first', 'local-jsonl', 'kept-here', 'last']);
    expect(threads(obs)).toEqual({
      first: 'worker',
      'local-jsonl': 'main',
      'kept-here': 'main',
      last: 'worker',
    });
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', step(1));
    expect((await obs.flush({ timeoutMs: 5_000 })).ok).toBe(true);
    const got = lines(file).filter((l) => l.hook === 'onStep');
    expect(got.map((l) => l.sink).sort()).toEqual(['first', 'kept-here', 'last', 'local-jsonl']);
  });

  it('worker.threads: 2 puts the worker sinks on two threads, keeping the delivery order', async () => {
    const file = tmpFile('cfg-threads.jsonl');
    const { obs } = await load({
      worker: { threads: 2 },
      sinks: [
        ['rec', { file, name: 'first' }],
        ['jsonl', { file, name: 'local-jsonl' }],
        { use: 'rec', options: { file, name: 'second' } },
        { use: 'rec', options: { file, name: 'third' } },
      ],
    });
    expect(obs.status().map((s) => s.name)).toEqual(['first', 'local-jsonl', 'second', 'third']);
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', step(1));
    expect((await obs.flush({ timeoutMs: 5_000 })).ok).toBe(true);
    const got = lines(file).filter((l) => l.hook === 'onStep');
    const tid = Object.fromEntries(got.map((l) => [l.sink, l.tid]));
    expect(Object.keys(tid).sort()).toEqual(['first', 'local-jsonl', 'second', 'third']);
    // consecutive worker sinks share a thread: first and second, then third
    expect(tid.first).toBe(tid.second);
    expect(tid.third).not.toBe(tid.first);
    expect(tid['local-jsonl']).toBe(0);
  });

  it('gives the worker heap a 96 MB young generation by default; worker.youngGenerationMb sets it, 0 keeps V8 default', async () => {
    const file = tmpFile('young.jsonl');
    const youngOf = async (worker: Record<string, unknown>) => {
      fs.rmSync(file, { force: true });
      const { obs } = await load({ worker, sinks: [['rec', { file, name: 'rec' }]] });
      obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
      obs.onStep('r', step(1));
      expect((await obs.flush({ timeoutMs: 5_000 })).ok).toBe(true);
      await obs.shutdown();
      return lines(file).find((l) => l.hook === 'onStep')?.youngMb;
    };
    expect(await youngOf({ sinks: ['rec'] })).toBe(96);
    expect(await youngOf({ sinks: ['rec'], youngGenerationMb: 64 })).toBe(64);
    const v8Default = await youngOf({ sinks: ['rec'], youngGenerationMb: 0 });
    expect(v8Default).toBeGreaterThan(0);
    expect(v8Default).not.toBe(96);
  });

  it('a list names the sinks that go; an entry can ask for the worker itself', async () => {
    const file = tmpFile('cfg2.jsonl');
    const { obs } = await load({
      worker: { sinks: ['jsonl'], postDelayMs: 5 },
      sinks: [
        ['rec', { file, name: 'a' }],
        ['jsonl', { file, name: 'b' }],
        { use: 'rec', options: { file, name: 'c' }, worker: true },
      ],
    });
    expect(threads(obs)).toEqual({ a: 'main', b: 'worker', c: 'worker' });
  });

  it('without a config file, RLM_OBS_WORKER=1 builds the enabled remote sinks in the worker by their fromEnv', async () => {
    const file = tmpFile('env.jsonl');
    const p = makeProject({ ...fakePackage('@rlm/sink-otel'), ...fakePackage('@rlm/sink-jsonl') });
    cleanups.push(async () => p.remove());
    const env = {
      RLM_OBS_WORKER: '1',
      DSPY_RLM_OTEL_ENABLED: 'true',
      REC_FILE: file,
      REC_API_KEY: 'sk-env-worker-31337',
    };
    const obs = await loadObservability({ cwd: p.dir, env, logger: silent, overrides: quiet });
    cleanups.push(() => obs.shutdown());
    const byName = Object.fromEntries(obs.status().map((s) => [s.name, s]));
    expect(byName['local-jsonl']).toMatchObject({ available: true });
    expect((byName['local-jsonl'] as Record<string, unknown>).thread).toBeUndefined();
    expect(byName.opentelemetry).toMatchObject({ available: true, thread: 'worker' });
    // the seed sinks that are not installed are shown as before
    expect(byName.langsmith).toMatchObject({ available: false });
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', step(1));
    expect((await obs.flush({ timeoutMs: 5_000 })).ok).toBe(true);
    expect(
      lines(file)
        .filter((l) => l.hook === 'onStep')
        .map((l) => l.sink)
        .sort(),
    ).toEqual(['local-jsonl', 'opentelemetry']);
    // the env secret the sink echoes in its detail is scrubbed by the worker's redactor
    expect(JSON.stringify(obs.status())).not.toContain('sk-env-worker-31337');
  });

  it('refuses bad worker settings and duplicate names across threads, naming the key', async () => {
    await expect(load({ worker: 'yes', sinks: [] })).rejects.toThrow(
      /must be true, false, a list of sink names .*worker\)$/,
    );
    await expect(load({ worker: { sinks: ['rec'], speed: 1 }, sinks: [] })).rejects.toThrow(
      /unknown key 'speed'.*worker\.speed\)$/,
    );
    await expect(load({ worker: { warmUpMs: -1 }, sinks: [] })).rejects.toThrow(
      /must be a number >= 0 \(got -1\).*worker\.warmUpMs\)$/,
    );
    await expect(load({ worker: { youngGenerationMb: 'big' }, sinks: [] })).rejects.toThrow(
      /must be a number >= 0 \(got "big"\).*worker\.youngGenerationMb\)$/,
    );
    for (const threads of [0, 1.5, '2'])
      await expect(load({ worker: { threads }, sinks: [] })).rejects.toThrow(
        /must be a whole number >= 1 .*worker\.threads\)$/,
      );
    const file = tmpFile('dup.jsonl');
    await expect(
      load({
        worker: ['rec'],
        sinks: [
          ['jsonl', { file, name: 'same' }],
          ['rec', { file, name: 'same' }],
        ],
      }),
    ).rejects.toThrow(/two sinks are named 'same' \(sinks\[0\] and sinks\[1\]\)/);
  });
});

// A stand-in is a sink like any other: the conformance suite every sink package runs.
const conformanceFiles = new Map<RLMObservabilitySink, string>();
describeSinkConformance(
  async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-worker-conf-')), 'rec.jsonl');
    const [sink] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, apiKey: 'sk-conformance-4242' } }],
      { configDir: fixtures, logger: silent },
    );
    conformanceFiles.set(sink!, file);
    return sink!;
  },
  {
    title: 'a sink in the worker thread: conformance',
    secrets: ['sk-conformance-4242'],
    readBack: (sink, runId) => {
      const got = lines(conformanceFiles.get(sink)!).filter((l) => l.runId === runId);
      return {
        steps: got.filter((l) => l.hook === 'onStep').map((l) => stepOf(l) ?? -1),
        ended: got.some((l) => l.hook === 'onRunEnd'),
      };
    },
    cleanup: (sink) => {
      const file = conformanceFiles.get(sink);
      if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
      conformanceFiles.delete(sink);
    },
  },
);
