#!/usr/bin/env node
/**
 * Config-driven: loadObservability() reads ./rlm-obs.config.mjs, loads the sinks it lists and
 * records the simulated agent through all of them.
 *
 *   pnpm --filter @rlm/example-config-driven start
 *   HOOK_URL=http://127.0.0.1:8080/hook pnpm --filter @rlm/example-config-driven start
 */
import { fileURLToPath } from 'node:url';
import { runDemoAgent } from '@rlm/obs-cli';
import { loadObservability } from '@rlm/obs-core';

const here = fileURLToPath(new URL('.', import.meta.url));
const obs = await loadObservability({ cwd: here });
console.log('sinks loaded from rlm-obs.config.mjs:');
for (const s of obs.status())
  console.log(`  ${s.name}: enabled=${s.enabled} available=${s.available} detail=${s.detail}`);

const { runIds } = await runDemoAgent(obs, { seed: 11, runs: 2, steps: 4 });
const report = await obs.shutdown();
for (const s of report.sinks)
  console.log(`${s.name}: ${s.delivered} delivered, ${s.failed} failed, ${s.dropped} dropped`);
console.log(
  `recorded ${runIds.length} runs; try: pnpm rlm-obs runs --config ${here}rlm-obs.config.mjs`,
);
if (!report.ok) process.exitCode = 1;
