/**
 * Scores and feedback in `scores.jsonl`, sessions/users/tags in `starts.jsonl` and
 * `runs.jsonl`, reading them back, and the sink being local (content switches don't apply).
 */
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { MemorySink } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import { createJsonlSink, LocalJSONLSink, openJsonlStore } from '../src/index.js';
import { quiet, readLines, useTempDirs } from './helpers.js';

const dir = useTempDirs();

async function record(base: string) {
  const memory = new MemorySink();
  const obs = RLMObservability.withSinks([createJsonlSink({ dir: base }), memory], quiet);
  const run = obs.startRun({
    runId: 'sess-run',
    task: 'answer the user',
    environment: 'chat',
    sessionId: 'conv-7',
    userId: 'user-42',
    tags: ['prod', 'beta'],
  });
  run.step({ action: { action: 'run_python', code: 'x = 1' }, reward: 0.25 });
  run.score('correctness', 0.8, { comment: 'one edge case missed', source: 'llm-judge', step: 1 });
  const child = run.child({ runId: 'sess-child', task: 'sub task', tags: ['child'] });
  child.step({ action: { action: 'submit' }, reward: 1 });
  child.end({ completed: true });
  run.end({ completed: false });
  // Late user feedback, after the run ended.
  run.feedback('thumbs', 'down', { comment: 'wrong answer' });
  await obs.shutdown();
  return memory;
}

describe('local-jsonl: scores, sessions, users and tags', () => {
  it('writes one scores.jsonl line per score, the end-of-run ones included, also after the end', async () => {
    const base = dir();
    await record(base);
    const lines = readLines(path.join(base, 'scores.jsonl'));
    const own = lines.filter((l) => l.run_id === 'sess-run');
    expect(own.map((l) => [l.name, l.value, l.kind, l.source])).toEqual([
      ['correctness', 0.8, 'score', 'llm-judge'],
      ['reward', 0.25, 'score', 'rlm-obs'],
      ['completed', false, 'score', 'rlm-obs'],
      ['thumbs', 'down', 'feedback', undefined],
    ]);
    expect(Object.keys(own[0]!)).toEqual([
      'timestamp',
      'run_id',
      'name',
      'value',
      'kind',
      'comment',
      'step',
      'source',
      'at',
    ]);
    expect(own[0]).toMatchObject({ comment: 'one edge case missed', step: 1 });
    expect(Object.keys(own[3]!)).toEqual([
      'timestamp',
      'run_id',
      'name',
      'value',
      'kind',
      'comment',
      'at',
    ]);
    for (const line of lines) {
      expect(Number.isNaN(Date.parse(line.at))).toBe(false);
      expect(Number.isNaN(Date.parse(line.timestamp))).toBe(false);
    }
    expect(lines.filter((l) => l.run_id === 'sess-child').map((l) => [l.name, l.value])).toEqual([
      ['reward', 1],
      ['completed', true],
    ]);
  });

  it('starts.jsonl and runs.jsonl carry session_id, user_id and tags; child runs inherit them', async () => {
    const base = dir();
    await record(base);
    const starts = new Map(readLines(path.join(base, 'starts.jsonl')).map((l) => [l.run_id, l]));
    expect(starts.get('sess-run')).toMatchObject({
      session_id: 'conv-7',
      user_id: 'user-42',
      tags: ['prod', 'beta'],
    });
    expect(starts.get('sess-child')).toMatchObject({
      session_id: 'conv-7',
      user_id: 'user-42',
      tags: ['prod', 'beta', 'child'],
      parent_run_id: 'sess-run',
    });
    const ends = new Map(readLines(path.join(base, 'runs.jsonl')).map((l) => [l.run_id, l]));
    // The Python fields keep their names and types; the new ones are extra.
    expect(ends.get('sess-run')).toMatchObject({
      completed: false,
      steps: 1,
      total_reward: 0.25,
      session_id: 'conv-7',
      user_id: 'user-42',
      tags: ['prod', 'beta'],
    });
    expect(typeof ends.get('sess-run')!.task).toBe('string');
    // A run without them has no such fields at all.
    const plain = dir();
    const obs = RLMObservability.withSinks([createJsonlSink({ dir: plain })], quiet);
    obs.startRun({ runId: 'plain' }).end();
    await obs.shutdown();
    for (const file of ['starts.jsonl', 'runs.jsonl']) {
      const [line] = readLines(path.join(plain, file));
      expect(line).not.toHaveProperty('session_id');
      expect(line).not.toHaveProperty('user_id');
      expect(line).not.toHaveProperty('tags');
    }
  });

  it('the reader gives session, user, tags and the scores back as they were delivered', async () => {
    const base = dir();
    const memory = await record(base);
    const store = openJsonlStore(base);
    const listed = new Map((await store.listRuns()).map((r) => [r.runId, r]));
    expect(listed.get('sess-run')).toMatchObject({
      sessionId: 'conv-7',
      userId: 'user-42',
      tags: ['prod', 'beta'],
    });
    expect(listed.get('sess-child')!.tags).toEqual(['prod', 'beta', 'child']);
    const run = await store.readRun('sess-run');
    expect(run.start).toEqual(memory.eventsOf('sess-run')[0]!.payload);
    expect(run.start).toMatchObject({ sessionId: 'conv-7', userId: 'user-42' });
    expect(run.scores).toEqual(
      memory.scores.filter((s) => s.runId === 'sess-run').map((s) => s.score),
    );
    expect(run.scores).toHaveLength(4);
  });

  it('is local: recordContent false withholds content from remote sinks only', async () => {
    const base = dir();
    const sink = createJsonlSink({ dir: base });
    expect(sink.local).toBe(true);
    const remote = new MemorySink('remote');
    const obs = RLMObservability.withSinks([sink, remote], { ...quiet, recordContent: false });
    const run = obs.startRun({ runId: 'private', task: 'the secret plan text' });
    run.step({ action: { action: 'run_python', code: 'plan()' }, observation: { output: 'ok!' } });
    run.end({ finalAnswer: 'done' });
    await obs.shutdown();
    const [start] = readLines(path.join(base, 'starts.jsonl'));
    expect(start!.task).toBe('the secret plan text');
    const [step] = readLines(path.join(base, 'steps', 'private.jsonl'));
    expect(step!.event.action.code).toBe('plan()');
    const remoteStart = remote.eventsOf('private')[0]!.payload as { task: string };
    expect(remoteStart.task).not.toContain('secret plan');
  });

  it('ignores scores without a name or with a value that is not a number, string or boolean', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({ dir: base });
    const at = new Date().toISOString();
    sink.onScore('r', { name: '', value: 1, kind: 'score', at });
    sink.onScore('r', { name: 'n', value: { nested: true } as never, kind: 'score', at });
    sink.onScore('r', { name: 'nan', value: Number.NaN, kind: 'score', at });
    sink.onScore('r', undefined as never);
    sink.onScore('r', { name: 'ok', value: true, kind: 'feedback', at });
    await sink.shutdown();
    expect(readLines(path.join(base, 'scores.jsonl')).map((l) => [l.name, l.kind])).toEqual([
      ['ok', 'feedback'],
    ]);
  });
});
