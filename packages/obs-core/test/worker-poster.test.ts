import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventPoster, type PostTarget } from '../src/worker/worker-sinks.js';

/** A worker thread as the poster sees it: the batches it was sent, decoded. */
class FakeWorker implements PostTarget {
  constructor(readonly bits = 0x3fffffff) {}
  stopped = false;
  acked = 0;
  lost = 0;
  busy = 0;
  #free: (() => void) | undefined;
  whenFree(): Promise<void> {
    return new Promise((resolve) => {
      this.#free = resolve;
    });
  }
  /** The worker reports which sinks are busy. */
  report(busy: number): void {
    this.busy = busy;
    this.#free?.();
  }
  readonly batches: unknown[][] = [];
  readonly urgent: boolean[] = [];
  postEvents(text: string, urgent: boolean): void {
    this.batches.push(JSON.parse(text) as unknown[]);
    this.urgent.push(urgent);
  }
  /** Takes everything it was sent. */
  takeAll(): void {
    this.acked = this.batches.reduce((n, b) => n + b.length / 4, 0);
  }
  /** The entries of every batch as [code, runId, payload, mask]. */
  entries(): [number, string, unknown, number][] {
    const out: [number, string, unknown, number][] = [];
    for (const b of this.batches)
      for (let i = 0; i < b.length; i += 4)
        out.push([b[i] as number, b[i + 1] as string, b[i + 2], b[i + 3] as number]);
    return out;
  }
  /** What the sink with `bit` receives: the payloads of the entries whose mask has it. */
  receivedBy(bit: number): unknown[] {
    return this.entries()
      .filter(([, , , mask]) => mask & bit)
      .map(([, , payload]) => payload);
  }
}

function poster(targets: PostTarget[], options = {}): EventPoster {
  const p = new EventPoster({ postDelayMs: 60_000, ...options });
  p.links = targets;
  return p;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('EventPoster: the batch the sink workers are sent', () => {
  it('one entry per event for all the sinks that take it, in any thread, also when their calls come apart', () => {
    const [a, b] = [new FakeWorker(), new FakeWorker()];
    const p = poster([a, b]);
    const events = Array.from({ length: 5 }, (_, i) => ({ event: { step: i + 1 } }));
    // Three sinks (bits 1, 2: thread a; bit 4: thread b). The first takes the five events as
    // they come; the other two lanes were held back and catch up one after the other.
    for (const e of events) p.push(a, 1, 'r', e, 1);
    for (const e of events) p.push(a, 1, 'r', e, 2);
    for (const e of events) p.push(b, 1, 'r', e, 4);
    p.post();
    expect(a.batches).toHaveLength(1);
    expect(b.batches).toEqual(a.batches);
    expect(a.entries().map(([code, runId, payload, mask]) => [code, runId, payload, mask])).toEqual(
      events.map((e) => [1, 'r', e, 7]),
    );
  });

  it('never joins an entry that would put a sink’s event before one it already has', () => {
    const w = new FakeWorker();
    const p = poster([w]);
    const [p1, p2, q] = [{ step: 1 }, { step: 2 }, { score: 'q' }];
    // Sink 1 takes p1, p2. Sink 2 takes q (a score sink 1 does not take), then p1 and p2:
    // joining p1's entry would deliver p1 to sink 2 before q.
    p.push(w, 1, 'r', p1, 1);
    p.push(w, 1, 'r', p2, 1);
    p.push(w, 3, 'r', q, 2);
    p.push(w, 1, 'r', p1, 2);
    p.push(w, 1, 'r', p2, 2);
    p.post();
    expect(w.receivedBy(1)).toEqual([p1, p2]);
    expect(w.receivedBy(2)).toEqual([q, p1, p2]);
    // once sink 2 has a later entry, its next events get entries of their own
    expect(w.entries()).toHaveLength(5);
  });

  it('the same payload for another run, another hook or a second time for a sink is a new entry', () => {
    const w = new FakeWorker();
    const p = poster([w]);
    const same = { step: 1 };
    p.push(w, 1, 'r1', same, 1);
    p.push(w, 1, 'r2', same, 2);
    p.push(w, 2, 'r1', same, 4);
    p.push(w, 1, 'r1', same, 1);
    p.post();
    expect(w.entries().map(([code, runId, , mask]) => [code, runId, mask])).toEqual([
      [1, 'r1', 1],
      [1, 'r2', 2],
      [2, 'r1', 4],
      [1, 'r1', 1],
    ]);
  });

  it('holds trickling events for postDelayMs, posts at once when the workers are behind, and pushes back past maxInFlight', async () => {
    vi.useFakeTimers();
    const [a, b] = [new FakeWorker(), new FakeWorker()];
    const p = poster([a, b], { postDelayMs: 50, maxInFlight: 4 });
    expect(p.push(a, 1, 'r', { step: 1 }, 1)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(49);
    expect(a.batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.batches).toHaveLength(1);
    expect(b.batches).toHaveLength(1);
    // Neither worker has taken it: 1 in flight. Four more: past the bound of 4.
    for (let i = 2; i <= 4; i++) expect(p.push(a, 1, 'r', { step: i }, 1)).toBeUndefined();
    const pressure = p.push(a, 1, 'r', { step: 5 }, 1);
    expect(pressure).toBeInstanceOf(Promise);
    // posted on the next turn, not after the delay; the workers are asked to ack at once
    await vi.advanceTimersByTimeAsync(0);
    expect(a.batches).toHaveLength(2);
    expect(a.urgent.at(-1)).toBe(true);
    let lifted = false;
    void pressure?.then(() => {
      lifted = true;
    });
    // One worker took everything: the other is still behind, the pressure stays.
    a.takeAll();
    p.taken();
    await vi.advanceTimersByTimeAsync(0);
    expect(lifted).toBe(false);
    b.takeAll();
    p.taken();
    await vi.advanceTimersByTimeAsync(0);
    expect(lifted).toBe(true);
  });

  it('takes the event of a sink the worker reports busy and holds its next ones until it is free', async () => {
    const w = new FakeWorker();
    const p = poster([w]);
    w.report(2);
    const event = { step: 1 };
    expect(p.push(w, 1, 'r', event, 1)).toBeUndefined();
    const held = p.push(w, 1, 'r', event, 2);
    expect(held).toBeInstanceOf(Promise);
    let free = false;
    void held?.then(() => {
      free = true;
    });
    p.post();
    // the busy sink's event went with the others
    expect(w.entries().map(([, , , mask]) => mask)).toEqual([3]);
    await Promise.resolve();
    expect(free).toBe(false);
    w.report(0);
    await Promise.resolve();
    expect(free).toBe(true);
  });

  it('counts the events of a stopped worker as lost and posts to the others', () => {
    // sinks 1 and 2 in thread a, sinks 4 and 8 in thread b
    const [a, b] = [new FakeWorker(0b0011), new FakeWorker(0b1100)];
    const p = poster([a, b]);
    const [e1, e2] = [{ step: 1 }, { step: 2 }];
    for (const bit of [1, 2, 4, 8]) p.push(bit < 4 ? a : b, 1, 'r', e1, bit);
    // b stops with e1 in the batch: its two sinks lose it
    b.stopped = true;
    for (const bit of [1, 2, 4, 8]) p.push(bit < 4 ? a : b, 1, 'r', e2, bit);
    expect(b.lost).toBe(2);
    p.post();
    expect(b.lost).toBe(4);
    expect(b.batches).toHaveLength(0);
    expect(a.entries().map(([, , payload, mask]) => [payload, mask])).toEqual([
      [e1, 0b1111],
      [e2, 0b0011],
    ]);
  });
});
