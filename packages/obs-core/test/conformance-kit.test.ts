/**
 * The conformance kit itself: it must fail the sinks that break the contract (the reviewer's
 * broken sinks) and pass the correct ones (MemorySink, the jsonl sink, the webhook example —
 * the latter in its own package's tests).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createJsonlSink, openJsonlStore } from '../../sink-jsonl/src/index.js';
import type { RLMObservabilitySink, SinkStatus, StepRecord } from '../src/contract.js';
import { changeIn, HookWatch, leakInStatus, median } from '../src/testing/checks.js';
import {
  type ConformanceCheck,
  type ConformanceOptions,
  conformanceChecks,
  describeSinkConformance,
  ORDER_TEST,
  ORDER_TEST_SKIPPED,
} from '../src/testing/conformance.js';
import { MemorySink } from '../src/testing/memory-sink.js';

const status =
  (name: string, detail = 'x') =>
  (): SinkStatus => ({ name, enabled: true, available: true, detail });

/** A sink that stores what it "sent" where `readBack` can see it. */
interface Stored extends RLMObservabilitySink {
  sent: Array<{ runId: string; step?: number; end?: boolean }>;
}

const storedReadBack: ConformanceOptions<Stored>['readBack'] = (sink, runId) => {
  const mine = sink.sent.filter((e) => e.runId === runId);
  return {
    steps: mine.filter((e) => e.step !== undefined).map((e) => e.step!),
    ended: mine.some((e) => e.end),
  };
};

const stepOf = (step: StepRecord): number | undefined =>
  typeof step?.event?.step === 'number' ? step.event.step : undefined;

/** 1. Drops every event. */
const dropper = (): Stored => ({
  name: 'drops-everything',
  sent: [],
  status: status('drops-everything'),
  onRunStart() {},
  onStep() {},
  onRunEnd() {},
  async forceFlush() {},
  async shutdown() {},
});

/** 2. Sends the steps of a flush in reverse order. */
function reorderer(): Stored {
  let buffer: Stored['sent'] = [];
  const sink: Stored = {
    name: 'reorders',
    sent: [],
    status: status('reorders'),
    onRunStart() {},
    onStep(runId, step) {
      buffer.unshift({ runId, step: stepOf(step) });
    },
    onRunEnd(runId) {
      buffer.push({ runId, end: true });
    },
    async forceFlush() {
      sink.sent.push(...buffer);
      buffer = [];
    },
    async shutdown() {},
  };
  return sink;
}

/** 4. forceFlush() resolves but throws the buffer away. */
function flushLoses(): Stored {
  let queue: unknown[] = [];
  return {
    name: 'flush-loses',
    sent: [],
    status: status('flush-loses'),
    onRunStart: (_id, s) => void queue.push(s),
    onStep: (_id, s) => void queue.push(s),
    onRunEnd: (_id, e) => void queue.push(e),
    async forceFlush() {
      queue = [];
    },
    async shutdown() {
      queue = [];
    },
  };
}

/** 3. Mutates its input (the reviewer's mutator, swallowing the TypeErrors of bad input). */
const mutator = (): RLMObservabilitySink => ({
  name: 'mutator',
  status: status('mutator'),
  onRunStart(_id, s) {
    try {
      (s as { task: unknown }).task = 'HIJACKED';
      (s as { params: unknown }).params = null;
    } catch {}
  },
  onStep(_id, s) {
    try {
      s.event.reward = 999;
      delete s.event.action;
      s.cumulativeReward = -1;
    } catch {}
  },
  onRunEnd(_id, e) {
    try {
      e.result.completed = false;
    } catch {}
  },
  async forceFlush() {},
  async shutdown() {},
});

/** Changes only the steps, and only later, in forceFlush(): "normalizes" the action away. */
function lateMutator(): RLMObservabilitySink {
  const held: StepRecord[] = [];
  return {
    name: 'late-mutator',
    status: status('late-mutator'),
    onRunStart() {},
    onStep(_id, s) {
      if (s && typeof s === 'object') held.push(s);
    },
    onRunEnd() {},
    async forceFlush() {
      for (const s of held.splice(0)) {
        try {
          if (s.event && typeof s.event === 'object' && 'action' in s.event) delete s.event.action;
        } catch {}
      }
    },
  };
}

/** 3 (blocking). Busy-waits in every hook. */
function blocking(ms = 50): RLMObservabilitySink {
  const block = () => {
    const end = Date.now() + ms;
    while (Date.now() < end) {}
  };
  return {
    name: 'blocks',
    status: status('blocks'),
    onRunStart: block,
    onStep: block,
    onRunEnd: block,
  };
}

const leaky =
  (detail: string, extra: Record<string, unknown> = {}) =>
  (): RLMObservabilitySink => ({
    name: 'leaky',
    status: () => ({ name: 'leaky', enabled: true, available: true, detail, ...extra }),
    onRunStart() {},
    onStep() {},
    onRunEnd() {},
    async forceFlush() {},
    async shutdown() {},
  });

function check(checks: ConformanceCheck[], name: string | RegExp): ConformanceCheck {
  const found = checks.find((c) =>
    typeof name === 'string' ? c.name === name : name.test(c.name),
  );
  if (!found) throw new Error(`no check ${name}: ${checks.map((c) => c.name).join(', ')}`);
  return found;
}

/** Runs every check that is not skipped; returns the names of those that failed, with why. */
async function failures(checks: ConformanceCheck[]): Promise<Record<string, string>> {
  const failed: Record<string, string> = {};
  for (const c of checks) {
    if (c.skip !== undefined) continue;
    try {
      await c.run();
    } catch (error) {
      failed[c.name] = error instanceof Error ? error.message : String(error);
    }
  }
  return failed;
}

describe('the kit fails broken sinks', () => {
  it('without readBack, delivery and order are a reported skip, not a pass', async () => {
    const checks = conformanceChecks(dropper);
    const order = check(checks, ORDER_TEST_SKIPPED);
    expect(order.skip).toMatch(/no readBack option: delivery and order of steps are not checked/);
    expect(order.name).toMatch(/NOT CHECKED — pass the readBack option/);
    expect(checks.some((c) => c.name === ORDER_TEST)).toBe(false);
  });

  it('with readBack, fails a sink that drops every event, one that reverses steps, and one whose forceFlush discards the buffer', async () => {
    for (const [create, why] of [
      [dropper, /steps of run conformance-order-0-\d+ read back/],
      [reorderer, /steps of run conformance-order-0-\d+ read back/],
      [flushLoses, /steps of run conformance-order-0-\d+ read back/],
    ] as const) {
      const checks = conformanceChecks(create, { readBack: storedReadBack });
      await expect(check(checks, ORDER_TEST).run(), create.name).rejects.toThrow(why);
    }
    // and a sink doing it right passes the same test
    const right = (): Stored => {
      const sink: Stored = {
        name: 'keeps-order',
        sent: [],
        status: status('keeps-order'),
        onRunStart() {},
        onStep: (runId, step) => void sink.sent.push({ runId, step: stepOf(step) }),
        onRunEnd: (runId) => void sink.sent.push({ runId, end: true }),
      };
      return sink;
    };
    expect(await failures(conformanceChecks(right, { readBack: storedReadBack }))).toEqual({});
  });

  it('fails a sink that mutates its input, naming the hook and the path', async () => {
    const failed = await failures(conformanceChecks(mutator));
    expect(failed['status() never throws, is JSON and shows no secret']).toMatch(
      /^onRunStart changed its payload \(task is "HIJACKED", was "t"\), seen after onRunStart returned\. Payloads are shared by every sink/,
    );
    expect(failed['hooks never throw, reject or change their payload on bad input']).toMatch(
      /^onRunStart changed its payload \(task is "HIJACKED"/,
    );
    expect(failed['delivers every event through a coordinator (counters only)']).toMatch(
      /^onRunStart changed its payload \(task is "HIJACKED", was "task 0"\), seen after the coordinator flushed/,
    );
    expect(failed['flushes, and shuts down idempotently']).toMatch(
      /^onRunStart changed its payload/,
    );

    const late = await failures(conformanceChecks(lateMutator));
    expect(late['delivers every event through a coordinator (counters only)']).toMatch(
      /^onStep changed its payload \(event\.action was deleted\), seen after the coordinator flushed/,
    );
    expect(late['hooks return at once: they do not block the caller (median ≤ 10 ms)']).toMatch(
      /^onStep changed its payload \(event\.action was deleted\), seen after forceFlush\(\)/,
    );
  });

  it('fails a sink whose hooks block the caller, stating the bound', async () => {
    const checks = conformanceChecks(() => blocking(50));
    await expect(check(checks, /^hooks return at once/).run()).rejects.toThrow(
      /^hooks block the caller: the median hook call took \d+\.\d ms over 64 calls \(bound: 10 ms\)/,
    );
  });

  it('fails a status() that shows a credential, even without the secrets option', async () => {
    const statusCheck = 'status() never throws, is JSON and shows no secret';
    for (const [sink, why] of [
      [
        leaky('https://user:hunter2@host/?api_key=sk-live-123'),
        /"status\(\)\.detail" shows a password in a URL/,
      ],
      [
        leaky('posting', { last_error: 'HTTP 401 for Bearer sekrit-123456' }),
        /"status\(\)\.last_error" shows an Authorization credential/,
      ],
      [
        leaky('posting', { lastError: 'GET /v1?api_key=abcdef' }),
        /"status\(\)\.lastError" shows a secret value \(api_key=…\)/,
      ],
      [leaky('key sk-proj-abcdef123456'), /"status\(\)\.detail" shows an API key \(sk-…\)/],
      [
        leaky('ok', { auth: { token: 'tok_12345678' } }),
        /"status\(\)\.auth\.token" shows a credential under the secret-named key "token"/,
      ],
    ] as const) {
      await expect(check(conformanceChecks(sink), statusCheck).run()).rejects.toThrow(why);
    }
    // The given secrets are still found wherever they are.
    await expect(
      check(
        conformanceChecks(leaky('ok', { note: 'plain-words' }), { secrets: ['plain-words'] }),
        statusCheck,
      ).run(),
    ).rejects.toThrow(/"status\(\)\.note" shows one of the given secrets/);
    // The message never repeats the secret.
    await check(conformanceChecks(leaky('https://user:hunter2@host/')), statusCheck)
      .run()
      .catch((error: Error) => expect(error.message).not.toContain('hunter2'));
  });

  it('fails a status() whose name is not the sink name', async () => {
    const sink = (): RLMObservabilitySink => ({
      name: 'a',
      status: status('totally-different'),
      onRunStart() {},
      onStep() {},
      onRunEnd() {},
    });
    await expect(
      check(conformanceChecks(sink), 'status() never throws, is JSON and shows no secret').run(),
    ).rejects.toThrow(/status\(\)\.name is the sink name/);
  });
});

describe('the checks', () => {
  it('leaves masked credentials, counts and prose alone', () => {
    expect(
      leakInStatus({
        name: 'ok',
        enabled: true,
        available: true,
        detail: 'https://[REDACTED]@host/in and https://user:***@host/ and https://host/x',
        last_error: 'HTTP 401: check the Bearer token (Authorization: Bearer [REDACTED])',
        note: 'api_key=*** token=[REDACTED]; uses Basic authentication',
        tokens: 1234,
        input_tokens: 5,
        token_source: 'env:LANGSMITH_API_KEY',
        auth: 'basic',
        public_key: 'pk-lf-1234567890',
        task: 'a task with a disk-space question',
      }),
    ).toBeUndefined();
  });

  it('finds a change anywhere in a payload, and none in an equal one', () => {
    const before = { a: [1, { b: 'x' }], c: { d: new Date(0) } };
    expect(changeIn(structuredClone(before), before)).toBeUndefined();
    expect(changeIn(structuredClone(before), { ...before, e: 1 })).toBe('e was added');
    expect(changeIn(structuredClone(before), { a: [1, { b: 'y' }], c: before.c })).toBe(
      'a[1].b is "y", was "x"',
    );
    expect(changeIn({ 'odd key': 1 }, {})).toBe('["odd key"] was deleted');
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    expect(changeIn(structuredClone(cyclic), cyclic)).toBeUndefined();
  });

  it('times hooks and takes the median', () => {
    expect(median([5, 1, 100])).toBe(5);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    const watch = new HookWatch();
    const memory = new MemorySink();
    watch.invoke(memory, 'onStep', 'r', { event: { step: 1 }, cumulativeReward: 0 });
    expect(watch.timings).toHaveLength(1);
    expect(() => watch.assertFast()).not.toThrow();
    // The watch sees the sink's own state through its wrapper.
    const wrapped = watch.wrap(memory);
    wrapped.onStep('r', { event: { step: 2 }, cumulativeReward: 0 });
    expect(wrapped.stepsOf('r').map((s) => s.event.step)).toEqual([1, 2]);
    expect(wrapped.name).toBe(memory.name);
  });
});

// The correct sinks pass: MemorySink (also in composite-and-conformance.test.ts) and the jsonl
// sink, each with readBack. The webhook example runs the kit in its own tests.
describeSinkConformance(() => new MemorySink('kit-memory'), {
  title: 'MemorySink passes the kit',
  readBack: (sink, runId) => ({
    steps: sink.stepsOf(runId).map((s) => s.event.step as number),
    ended: sink.eventsOf(runId).some((e) => e.hook === 'onRunEnd'),
  }),
});

const jsonlDirs: string[] = [];
afterAll(() => {
  for (const dir of jsonlDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describeSinkConformance(
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-kit-jsonl-'));
    jsonlDirs.push(dir);
    return createJsonlSink({ dir });
  },
  {
    title: 'the jsonl sink passes the kit',
    readBack: async (sink, runId) => {
      const run = await openJsonlStore(sink.dir).readRun(runId);
      return { steps: run.steps.map((s) => s.event.step as number), ended: run.end !== undefined };
    },
  },
);
