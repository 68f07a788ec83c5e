/**
 * @rlm/sink-jsonl — local JSONL files: the embedded default sink (`local-jsonl`) and a reader
 * for directories written by it or by the Python `rlm-code`.
 */
import type { SinkContext } from '@rlm/obs-core';
import type { JsonlSinkOptions, LocalJSONLSink } from './jsonl-sink.js';
import { createJsonlSink, createJsonlSinkFromEnv } from './jsonl-sink.js';

export { isPlainRunId, stepFileName } from './file-names.js';
export type { JsonlSinkOptions } from './jsonl-sink.js';
export {
  createJsonlSink,
  createJsonlSinkFromEnv,
  DEFAULT_JSONL_DIR,
  LocalJSONLSink,
} from './jsonl-sink.js';
export type { JsonlWriterStats } from './jsonl-writer.js';
export type { RunSummary, StoredRun } from './reader.js';
export { JsonlStore, openJsonlStore, readJsonLines } from './reader.js';
export type { RunLine, ScoreLine, StartLine, StepLine } from './records.js';
export type { RetentionOptions } from './retention.js';

/** The sink package contract: the factory the config loader calls. */
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
