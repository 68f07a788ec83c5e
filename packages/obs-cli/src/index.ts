/**
 * @rlm/obs-cli — the `rlm-obs` command, and its parts for programmatic use.
 */

export { EXIT } from './context.js';
export type { DemoOptions, DemoResult } from './demo-agent.js';
export { runDemoAgent } from './demo-agent.js';
export { main } from './program.js';
export type { ReplayProgress, ReplayReport } from './replay.js';
export { replayRuns } from './replay.js';
