/**
 * `mkdir -p` without Node's `{ recursive: true }`, which never returns under some pseudo
 * file systems (`/proc`: each `mkdir` there fails with ENOENT, and Node's recursive mkdir
 * retries it forever). Here each missing level is made once, from the nearest existing
 * ancestor down; the first level that cannot be made fails with its own error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Makes `dir` and its missing parents (synchronously); an existing directory is fine. */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    let stats: fs.Stats | undefined;
    try {
      stats = fs.statSync(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (stats !== undefined) {
      if (!stats.isDirectory())
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {
          code: 'ENOTDIR',
          path: current,
        });
      break;
    }
    missing.push(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fs.mkdirSync(missing[i]!);
    } catch (error) {
      // Another process (or writer) made it meanwhile.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
