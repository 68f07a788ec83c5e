#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { main } from './program.js';

// `rlm-obs show … | head`: the reader went away; stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };
const code = await main(process.argv.slice(2), undefined, version);
// Let pending writes finish; the exit code is set, nothing is cut off.
process.exitCode = code;
// The command is done (`view` and `tail -f` return only when stopped). What may still hold
// the process is a sink's network work that its shutdown deadline already gave up on (a
// backend that never answers, retried by its SDK): let output drain, then leave.
setTimeout(() => process.exit(code), 500).unref();
