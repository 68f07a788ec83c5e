import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import { makeEvent } from './event.mjs';
if (process.env.SIX) await import('./all-sinks.mjs');
const mode = process.argv[2];
function burn(ms) { const end = performance.now() + ms; let x = 0; while (performance.now() < end) x++; return x; }
const y = () => new Promise((r) => setImmediate(r));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c1-'));
const obs = mode === 'none' ? undefined : RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
const events = Array.from({ length: 100 }, (_, i) => makeEvent(i));
const W = +(process.env.W ?? 5000);
obs?.onRunStart('w', { task: 'a', environment: 'b', params: {} });
for (let i = 0; i < W; i++) { if (process.env.WB) burn(1); obs?.onStep('w', { event: events[i % 100], cumulativeReward: i }); await y(); }
obs?.onRunEnd('w', { result: {} });
await obs?.flush();
const t0 = performance.now();
obs?.onRunStart('r', { task: 'a', environment: 'b', params: {} });
let c = 0;
for (let i = 0; i < 3000; i++) { burn(1); c += 0.5; const e = events[i % 100]; e.step = i; obs?.onStep('r', { event: e, cumulativeReward: c }); await y(); }
obs?.onRunEnd('r', { result: { completed: true } });
const loop = performance.now() - t0;
await obs?.shutdown();
fs.rmSync(dir, { recursive: true });
console.log(loop.toFixed(1));
process.exit(0);
