/**
 * @rlm/obs-core/testing — test helpers for sink authors: an in-memory sink, a faulty sink
 * with knobs, and the conformance suite (needs vitest).
 */

export type { ConformanceOptions, ReadBackRun } from './conformance.js';
export { BAD_RUN_IDS, badPayloads, describeSinkConformance } from './conformance.js';
export type { FaultMode, FaultySinkOptions } from './faulty-sink.js';
export { FaultySink } from './faulty-sink.js';
export type { RecordedEvent } from './memory-sink.js';
export { MemorySink } from './memory-sink.js';
export type { HungServer } from './ports.js';
export { closedPort, hungServer } from './ports.js';
