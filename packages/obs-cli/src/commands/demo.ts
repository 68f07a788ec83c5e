import { EXIT, type GlobalOptions, loadContext } from '../context.js';
import { runDemoAgent } from '../demo-agent.js';
import { type Io, printJson } from '../output.js';

/** Options of `rlm-obs demo`. */
export interface DemoCommandOptions extends GlobalOptions {
  seed?: string;
  runs?: string;
  steps?: string;
}

/**
 * `rlm-obs demo`: a simulated RLM agent (seeded, deterministic) through the configured sinks —
 * by default only the local files — then where the files are and what to try next.
 */
export async function demoCommand(options: DemoCommandOptions, io: Io): Promise<number> {
  const { obs } = await loadContext(options);
  const result = await runDemoAgent(obs, {
    ...(options.seed ? { seed: Number(options.seed) } : {}),
    ...(options.runs ? { runs: Number(options.runs) } : {}),
    ...(options.steps ? { steps: Number(options.steps) } : {}),
  });
  const report = await obs.shutdown({ timeoutMs: 10_000 });
  const jsonl = obs.getSink('local-jsonl') as ({ dir?: string } & object) | undefined;
  if (options.json) {
    printJson(io, { ...result, dir: jsonl?.dir ?? null, sinks: report.sinks });
    return report.ok ? EXIT.ok : EXIT.problem;
  }
  const c = io.colors;
  io.out(
    `${c.bold('rlm-obs demo')}: ${result.runIds.length} runs (${result.nestedRunIds.length} nested sub-runs, 1 that fails)`,
  );
  const enabled = new Set(
    obs
      .status()
      .filter((s) => s.enabled)
      .map((s) => s.name),
  );
  for (const s of report.sinks.filter((r) => enabled.has(r.name))) {
    const mark = s.ok && s.failed === 0 ? c.green('✓') : c.red('✗');
    io.out(
      `  ${mark} ${s.name}: ${s.delivered} events delivered, ${s.failed} failed, ${s.dropped} dropped`,
    );
  }
  if (jsonl?.dir) {
    io.out(`\nrecords: ${jsonl.dir}`);
    io.out(`  runs.jsonl, starts.jsonl, scores.jsonl, steps/<run_id>.jsonl`);
  }
  const dirFlag = options.dir ? ` --dir ${options.dir}` : '';
  io.out(`\nnext:`);
  io.out(`  rlm-obs runs${dirFlag}                      ${c.dim('# the runs as a table')}`);
  io.out(
    `  rlm-obs show ${result.runIds[0]!.slice(0, 13)}${dirFlag}   ${c.dim('# a run as a trace tree')}`,
  );
  io.out(
    `  rlm-obs show ${result.failedRunId.slice(0, 13)} --code${dirFlag}   ${c.dim('# the run that failed, with code')}`,
  );
  io.out(`  rlm-obs tail -f${dirFlag}                   ${c.dim('# watch new records')}`);
  io.out(
    `  rlm-obs view${dirFlag}                      ${c.dim('# the local viewer in a browser')}`,
  );
  io.out(
    `  rlm-obs query "SELECT model, sum(input_tokens), sum(cost_usd) FROM llm_calls GROUP BY 1"${dirFlag}`,
  );
  return report.ok ? EXIT.ok : EXIT.problem;
}
