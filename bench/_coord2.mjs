import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import { makeEvent } from './event.mjs';

const N = 300000,
  CHUNK = 1000;
const delay = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
const y = () => new Promise((r) => setImmediate(r));
for (let round = 0; round < 3; round++) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'co-'));
  const events = Array.from({ length: CHUNK }, (_, i) => makeEvent(i));
  const obs = RLMObservability.withSinks(
    [createJsonlSink({ dir, ...(delay !== undefined ? { writeDelayMs: delay } : {}) })],
    { flushOnExit: false },
  );
  obs.onRunStart('r', { task: 'b', environment: 'b', params: {} });
  let c = 0;
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    c += 0.5;
    obs.onStep('r', { event: events[i % CHUNK], cumulativeReward: c });
    if (i % CHUNK === CHUNK - 1) await y();
  }
  obs.onRunEnd('r', { result: { completed: true } });
  await obs.shutdown({ timeoutMs: 60000 });
  const s = (performance.now() - start) / 1000;
  console.log(Math.round(N / s), JSON.stringify(globalThis.__al)); globalThis.__al = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
}
