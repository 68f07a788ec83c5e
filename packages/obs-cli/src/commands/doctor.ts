import type { SinkCheckResult } from '@rlm/obs-core';
import { checkSink } from '../check-sink.js';
import { EXIT, type GlobalOptions, loadContext } from '../context.js';
import { type Io, printable, printJson } from '../output.js';

interface Finding {
  name: string;
  enabled: boolean;
  ok: boolean;
  detail: string;
  problems: Array<{ problem: string; fix: string }>;
}

/**
 * `rlm-obs doctor`: actively checks each enabled sink's backend (reachable, authenticated,
 * writable) and prints one fix per problem. Exits 1 when an enabled sink is unusable.
 */
export async function doctorCommand(options: GlobalOptions, io: Io): Promise<number> {
  const { obs, config } = await loadContext(options);
  const findings: Finding[] = [];
  for (const status of obs.status()) {
    const sink = obs.getSink(status.name);
    if (!status.enabled) {
      findings.push({
        name: status.name,
        enabled: false,
        ok: true,
        detail: 'disabled',
        problems: [],
      });
      continue;
    }
    let result: SinkCheckResult;
    let hasCheck: boolean;
    try {
      hasCheck = typeof sink?.check === 'function';
    } catch {
      // A `check` getter that throws: checkSink() calls it again and reports what it threw.
      hasCheck = sink !== undefined;
    }
    if (sink && hasCheck) {
      result = await checkSink(
        sink as Parameters<typeof checkSink>[0],
        'see the sink package README',
      );
    } else if (status.available) {
      result = {
        ok: true,
        problems: [],
        detail: status.detail
          ? `${status.detail} (no active check; setup succeeded)`
          : 'no active check; setup succeeded',
      };
    } else {
      const install = /(pnpm add|npm install|yarn add|bun add) \S+/.exec(status.detail)?.[0];
      result = {
        ok: false,
        problems: [
          {
            problem: status.detail || 'unavailable',
            fix: install ? `run: ${install}` : 'see the sink package README for its settings',
          },
        ],
      };
    }
    findings.push({
      name: status.name,
      enabled: true,
      ok: result.ok,
      detail: obs.redactor.scrub(result.detail ?? status.detail),
      problems: result.problems.map((p) => ({
        problem: obs.redactor.scrub(p.problem),
        fix: obs.redactor.scrub(p.fix),
      })),
    });
  }
  await obs.shutdown({ timeoutMs: 2000 });
  const unusable = findings.filter((f) => f.enabled && !f.ok);
  if (options.json) {
    printJson(io, { config: config?.file ?? null, ok: unusable.length === 0, sinks: findings });
    return unusable.length === 0 ? EXIT.ok : EXIT.problem;
  }
  const c = io.colors;
  io.out(c.dim(config ? `config: ${config.file}` : 'config: none (seed environment variables)'));
  for (const f of findings) {
    if (!f.enabled) {
      io.out(`${c.dim('-')} ${printable(f.name)}: ${c.dim('disabled')}`);
    } else if (f.ok) {
      io.out(`${c.green('✓')} ${printable(f.name)}${f.detail ? `: ${printable(f.detail)}` : ''}`);
    } else {
      io.out(`${c.red('✗')} ${printable(f.name)}`);
      for (const p of f.problems) {
        io.out(`    problem: ${printable(p.problem)}`);
        io.out(`    fix:     ${c.cyan(printable(p.fix))}`);
      }
    }
  }
  if (findings.length === 0) io.out('no sinks configured');
  io.out(
    unusable.length === 0
      ? c.green('\nall enabled sinks are usable')
      : c.red(`\n${unusable.length} enabled sink(s) unusable`),
  );
  return unusable.length === 0 ? EXIT.ok : EXIT.problem;
}
