import { CliError, EXIT, type GlobalOptions, readableJsonlDir } from '../context.js';
import { type Io, printable } from '../output.js';
import { startViewServer } from '../view/server.js';

/** Options of `rlm-obs view`. */
export interface ViewOptions extends GlobalOptions {
  port?: string;
  host?: string;
}

/** `rlm-obs view`: serves the local viewer until Ctrl-C. */
export async function viewCommand(options: ViewOptions, io: Io): Promise<number> {
  const port = options.port === undefined ? 0 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new CliError('--port must be a whole number from 0 (any free port) to 65535', EXIT.usage);
  const host = options.host ?? '127.0.0.1';
  const { dir, exists } = await readableJsonlDir(options, { waitForIt: true });
  let server: Awaited<ReturnType<typeof startViewServer>>;
  try {
    server = await startViewServer({ dir, port, host });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new CliError(
        `port ${port} is in use; pick another with --port, or --port 0 for any`,
        EXIT.problem,
      );
    throw error;
  }
  if (options.json) io.out(JSON.stringify({ url: server.url, port: server.port, dir }));
  else {
    io.out(`rlm-obs viewer for ${printable(dir)}`);
    io.out(`  ${io.colors.bold(server.url)}`);
    io.out(io.colors.dim('new records appear as they are written; Ctrl-C to stop'));
  }
  if (!exists)
    io.err(
      io.colors.dim(`${printable(dir)} does not exist yet; its runs appear once it is written`),
    );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return EXIT.ok;
}
