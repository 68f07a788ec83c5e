/**
 * A run replayed into the directory that already has it: each step counts once, also when
 * the replay gave it the timing the recording implies (`startedAt`, `durationMs`).
 */
import { RLMObservability } from '@rlm/obs-core';
import { expect, it } from 'vitest';
import { LocalJSONLSink, openJsonlStore } from '../src/index.js';
import { quiet, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

it('a step repeated with only its timing new counts once; a step that differs otherwise stays', async () => {
  const dir = tempDir();
  const live = RLMObservability.withSinks([new LocalJSONLSink({ dir })], quiet);
  const run = live.startRun({ runId: 'r', task: 't' });
  for (let i = 1; i <= 3; i++) run.step({ action: { action: 'run' }, reward: 1 });
  run.end();
  await live.shutdown();

  // What `rlm-obs replay` sends back into the same directory.
  const store = openJsonlStore(dir);
  const recorded = await store.readRun('r');
  expect(recorded.steps).toHaveLength(3);
  const replay = RLMObservability.withSinks([new LocalJSONLSink({ dir })], quiet);
  replay.onRunStart('r', recorded.start!);
  recorded.steps.forEach((step, i) => {
    replay.onStep('r', {
      ...step,
      event: { ...step.event, startedAt: `2026-01-01T00:00:0${i}.000Z`, durationMs: 1000 },
    });
  });
  // One step that is not a repeat: another reward.
  replay.onStep('r', { ...recorded.steps[0]!, cumulativeReward: 99 });
  replay.onRunEnd('r', recorded.end!);
  await replay.shutdown();

  const again = await openJsonlStore(dir).readRun('r');
  expect(again.steps.map((s) => [s.event.step, s.cumulativeReward])).toEqual([
    [1, 1],
    [2, 2],
    [3, 3],
    [1, 99],
  ]);
  // The last of each repeat is kept: the replay's timing.
  expect(again.steps[0]!.event.startedAt).toBe('2026-01-01T00:00:00.000Z');
});
