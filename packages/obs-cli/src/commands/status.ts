import { EXIT, type GlobalOptions, loadContext } from '../context.js';
import { type Io, oneLine, printJson, table, wrapText } from '../output.js';

/** `rlm-obs status`: seed 001's table for the sinks that would load, with their counters. */
export async function statusCommand(options: GlobalOptions, io: Io): Promise<number> {
  const { obs, config } = await loadContext(options);
  const status = obs.status();
  await obs.shutdown({ timeoutMs: 2000 });
  if (options.json) {
    printJson(io, { config: config?.file ?? null, sinks: status });
    return EXIT.ok;
  }
  const c = io.colors;
  const source = config ? `config: ${config.file}` : 'config: none (seed environment variables)';
  io.out(c.dim(io.columns ? wrapText(source, io.columns) : source));
  if (status.length === 0) {
    io.out(
      'no sinks: observability is switched off (enabled: false or DSPY_RLM_OBS_ENABLED=false)',
    );
    return EXIT.ok;
  }
  const yes = (v: unknown) => (v ? c.green('True') : c.dim('False'));
  io.out(
    table(
      ['name', 'enabled', 'available', 'detail', 'delivered', 'failed', 'dropped', 'pending'],
      status.map((s) => [
        s.name,
        yes(s.enabled),
        s.enabled && !s.available ? c.red('False') : yes(s.available),
        oneLine(s.detail, 70),
        s.counters.delivered,
        s.counters.failed,
        s.counters.dropped,
        s.counters.pending,
      ]),
      // On a narrow terminal the detail wraps; the counters (pending, dropped, delivered,
      // failed), then enabled (a disabled sink's detail says so) are left out; a sink's name
      // is never split.
      {
        width: io.columns,
        min: [Infinity, undefined, undefined, 16],
        floor: [Infinity],
        optional: [7, 6, 4, 5, 1],
      },
    ),
  );
  return EXIT.ok;
}
