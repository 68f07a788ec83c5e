/**
 * A run's content policy on its start line: the local files keep the content, and replay
 * must withhold from remote sinks what the run withheld live, so the line says what that was.
 */
import * as path from 'node:path';
import type { RunStart } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { createJsonlSink, openJsonlStore } from '../src/index.js';
import { readLines, useTempDirs } from './helpers.js';

const dir = useTempDirs();

const start = (task: string, recordContent?: unknown): RunStart =>
  ({
    task,
    environment: 'env',
    params: {},
    ...(recordContent !== undefined ? { recordContent } : {}),
  }) as RunStart;

describe('local-jsonl: what a run withheld from remote sinks', () => {
  it('is kept on the start line (only when something was withheld) and read back as recordContent', async () => {
    const base = dir();
    const sink = createJsonlSink({ dir: base });
    sink.onRunStart('closed', start('PRIVATE TASK', false));
    sink.onRunStart('outputs', start('task', { outputs: false }));
    sink.onRunStart('resolved', start('task', { inputs: false, outputs: true }));
    sink.onRunStart('open', start('open task', true));
    sink.onRunStart('plain', start('plain task'));
    for (const id of ['closed', 'outputs', 'resolved', 'open', 'plain'])
      sink.onRunEnd(id, { result: { completed: true, steps: 0, totalReward: 0 } });
    await sink.shutdown();

    const lines = new Map(
      readLines(path.join(base, 'starts.jsonl')).map((l) => [l.run_id as string, l]),
    );
    expect(lines.get('closed')).toMatchObject({
      task: 'PRIVATE TASK', // the local files keep the content
      record_content: { inputs: false, outputs: false },
    });
    expect(lines.get('outputs')?.record_content).toEqual({ inputs: true, outputs: false });
    expect(lines.get('resolved')?.record_content).toEqual({ inputs: false, outputs: true });
    // Nothing withheld: no extra field (small lines; the Python fields untouched).
    expect(lines.get('open')).not.toHaveProperty('record_content');
    expect(lines.get('plain')).not.toHaveProperty('record_content');

    const store = openJsonlStore(base);
    expect((await store.readRun('closed')).start?.recordContent).toEqual({
      inputs: false,
      outputs: false,
    });
    expect((await store.readRun('outputs')).start?.recordContent).toEqual({
      inputs: true,
      outputs: false,
    });
    expect((await store.readRun('plain')).start).not.toHaveProperty('recordContent');
    expect((await store.readRun('open')).start).not.toHaveProperty('recordContent');
  });
});
