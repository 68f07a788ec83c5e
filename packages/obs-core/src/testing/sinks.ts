/**
 * @rlm/obs-core/testing/sinks — the test doubles without the conformance suite, so they import
 * where vitest is not installed: an in-memory sink, a faulty sink with knobs, and ports that
 * refuse or never answer.
 */

export type { FaultMode, FaultySinkOptions } from './faulty-sink.js';
export { FaultySink } from './faulty-sink.js';
export type { RecordedEvent } from './memory-sink.js';
export { MemorySink } from './memory-sink.js';
export type { HungServer } from './ports.js';
export { closedPort, hungServer } from './ports.js';
