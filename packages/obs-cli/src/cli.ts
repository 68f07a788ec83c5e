#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { main } from './program.js';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };
const code = await main(process.argv.slice(2), undefined, version);
// Let pending writes finish; the exit code is set, nothing is cut off.
process.exitCode = code;
