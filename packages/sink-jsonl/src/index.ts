/**
 * @rlm/sink-jsonl — local JSONL files: the embedded default sink (`local-jsonl`) and a reader
 * for directories written by it or by the Python `rlm-code`.
 */
import { defineOptionsSchema, type SinkContext } from '@rlm/obs-core';
import type { JsonlSinkOptions, LocalJSONLSink } from './jsonl-sink.js';
import { createJsonlSink, createJsonlSinkFromEnv } from './jsonl-sink.js';

export { isPlainRunId, stepFileName } from './file-names.js';
export type { JsonlSinkOptions, JsonlSinkSources } from './jsonl-sink.js';
export {
  createJsonlSink,
  createJsonlSinkFromEnv,
  DEFAULT_JSONL_DIR,
  LocalJSONLSink,
  resolveJsonlSinkOptions,
} from './jsonl-sink.js';
export type { JsonlWriterStats } from './jsonl-writer.js';
export type { RunSummary, StoredRun, StoredRunStart } from './reader.js';
export { JsonlStore, openJsonlStore, readJsonLines } from './reader.js';
export type { RunLine, ScoreLine, StartLine, StepLine } from './records.js';
export type { RetentionOptions } from './retention.js';

/**
 * The sink package contract: the config loader checks a config file's options with it, so an
 * unknown option or a wrong type (`retention: { maxAgeDays: '7' }`) is a config error naming
 * the key (`sinks[0].options.retention.maxAgeDays`).
 */
export const optionsSchema = defineOptionsSchema<JsonlSinkOptions>({
  dir: 'nonEmptyString',
  enabled: 'boolean',
  name: 'nonEmptyString',
  maxOpenFiles: 'positiveNumber',
  writeDelayMs: 'nonNegativeNumber',
  maxBufferedBytes: 'positiveNumber',
  maxTrackedRuns: 'positiveNumber',
  retention: {
    maxTotalBytes: 'nonNegativeNumber',
    maxAgeDays: 'nonNegativeNumber',
    maxStepFileBytes: 'nonNegativeNumber',
    checkIntervalMs: 'positiveNumber',
  },
});

/**
 * The sink package contract: the factory the config loader calls. The environment of its
 * `context` fills in what the options leave unset (`RLM_OBS_JSONL_DIR`, the retention env
 * vars, the switches); the options win.
 */
export function createSink(
  options: JsonlSinkOptions = {},
  context?: Partial<SinkContext>,
): LocalJSONLSink {
  return createJsonlSink(options, context);
}

/** The sink package contract: activation from the seed's environment variables. */
export function fromEnv(env: Record<string, string | undefined> = process.env): LocalJSONLSink {
  return createJsonlSinkFromEnv(env);
}

export default createSink;
