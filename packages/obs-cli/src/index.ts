/**
 * @rlm/obs-cli — the `rlm-obs` command, and its parts for programmatic use.
 */

export { EXIT } from './context.js';
export type { DemoOptions, DemoResult } from './demo-agent.js';
export { runDemoAgent } from './demo-agent.js';
export { main } from './program.js';
export type { JsonCell, QueryResult } from './query/engine.js';
export { QueryEngine, QueryError } from './query/engine.js';
export type { ColumnDoc } from './query/schema.js';
export { VIEW_DOCS } from './query/schema.js';
export type { ReplayProgress, ReplayReport } from './replay.js';
export { replayRuns } from './replay.js';
