/**
 * @rlm/obs-core/testing — test helpers for sink authors: the conformance suite (needs vitest,
 * an optional peer), an in-memory sink, a faulty sink with knobs. The sinks alone import
 * without vitest from `@rlm/obs-core/testing/sinks`.
 */

export type { ConformanceOptions, ReadBackRun } from './conformance.js';
export { BAD_RUN_IDS, badPayloads, describeSinkConformance } from './conformance.js';
export type { FaultMode, FaultySinkOptions, HungServer, RecordedEvent } from './sinks.js';
export { closedPort, FaultySink, hungServer, MemorySink } from './sinks.js';
