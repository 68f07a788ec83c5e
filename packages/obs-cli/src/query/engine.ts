/**
 * DuckDB over the local JSONL files: opens an in-memory database, defines the views of
 * `schema.ts` over a directory and runs SQL. `@duckdb/node-api` is loaded on first use, so
 * the other commands never pay for it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { stepFileName } from '@rlm/sink-jsonl';
import {
  type ColumnDoc,
  knownRunsQuery,
  type SourceFiles,
  VIEW_DOCS,
  viewStatements,
} from './schema.js';

/** A query's result: column names and types, rows as plain JSON values. */
export interface QueryResult {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Record<string, JsonCell>>;
}

/** A cell: numbers (BIGINTs beyond 2^53 stay strings), strings, ISO times, booleans, JSON. */
export type JsonCell = string | number | boolean | null | JsonCell[] | { [key: string]: JsonCell };

/** A query DuckDB refused; `message` is DuckDB's own, `hint` lists the columns. */
export class QueryError extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'QueryError';
    this.hint = hint;
  }
}

/** The names of the steps files in `dir`'s `steps/` (none when it is missing). */
function stepFileNames(dir: string): string[] {
  try {
    return readdirSync(path.join(dir, 'steps')).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
}

/** Which source files exist in `dir` (a Python directory has no starts.jsonl or scores.jsonl). */
export function sourceFiles(dir: string, stepNames = stepFileNames(dir)): SourceFiles {
  return {
    starts: existsSync(path.join(dir, 'starts.jsonl')),
    ends: existsSync(path.join(dir, 'runs.jsonl')),
    steps: stepNames.length > 0,
    scores: existsSync(path.join(dir, 'scores.jsonl')),
  };
}

/** A rotated part's name, `<name>~<n>.jsonl`, gives its current file's `<name>.jsonl`. */
const PART_NAME = /^(.+)~[1-9][0-9]{0,8}\.jsonl$/;

/** What starts.jsonl and runs.jsonl say about the runs: taken again only when they change. */
interface KnownRuns {
  /** `size:mtime:inode` of both files. */
  stamp: string;
  /** The steps file names of the runs they name (`stepFileName`). */
  files: Set<string>;
  /** Some run is named on more than one line of starts.jsonl. */
  repeated: boolean;
}

const stampOf = (file: string): string => {
  try {
    const stat = statSync(file);
    return `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
  } catch {
    return '-';
  }
};

function toCell(value: unknown): JsonCell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(toCell);
  if (typeof value === 'object') {
    const out: Record<string, JsonCell> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCell(v);
    return out;
  }
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
    return value;
  return String(value);
}

/** The columns of every view, for `--schema` and for SQL errors. */
export function schemaHint(docs: Record<string, ColumnDoc[]> = VIEW_DOCS): string {
  return Object.entries(docs)
    .map(([view, cols]) => `${view}(${cols.map((c) => c.name).join(', ')})`)
    .join('\n');
}

/**
 * A DuckDB database with the views over one JSONL directory. Views read the files at query
 * time; call {@link QueryEngine.refresh} when files may have appeared (a first step file).
 */
export class QueryEngine {
  readonly dir: string;
  #instance: DuckDBInstance;
  #connection: DuckDBConnection;
  #files: SourceFiles | undefined;
  #known: KnownRuns | undefined;

  private constructor(dir: string, instance: DuckDBInstance, connection: DuckDBConnection) {
    this.dir = dir;
    this.#instance = instance;
    this.#connection = connection;
  }

  /** Opens DuckDB (in memory, UTC) and defines the views over `dir`. */
  static async open(dir: string): Promise<QueryEngine> {
    let duckdb: typeof import('@duckdb/node-api');
    try {
      duckdb = await import('@duckdb/node-api');
    } catch (error) {
      throw new Error(
        `rlm-obs query needs @duckdb/node-api (npm install @duckdb/node-api): ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    const instance = await duckdb.DuckDBInstance.create(':memory:', {
      // The local files are all a query may read; no extension is fetched from the network.
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const connection = await instance.connect();
    // Times print in UTC, whatever the machine's zone, so output is the same everywhere.
    await connection.run(`SET TimeZone = 'UTC'`);
    const engine = new QueryEngine(path.resolve(dir), instance, connection);
    await engine.refresh();
    return engine;
  }

  /**
   * Re-defines the views if files appeared or vanished since the last call, a run was
   * started again (a replay into this directory: see `SourceFiles.repeatedRuns`), or the steps
   * files of runs known only from their steps changed (`SourceFiles.stepOnlyFiles`).
   */
  async refresh(): Promise<void> {
    const stepNames = stepFileNames(this.dir);
    const files = sourceFiles(this.dir, stepNames);
    const known = files.starts || files.ends ? await this.#knownRuns(files) : undefined;
    files.repeatedRuns = files.starts && known?.repeated === true;
    // As the reader lists runs: a steps file (or a rotated part of one) that is no named
    // run's holds runs known only from their steps.
    files.stepOnlyFiles = stepNames
      .filter((name) => {
        if (known?.files.has(name)) return false;
        const part = PART_NAME.exec(name);
        return !(part && known?.files.has(`${part[1]}.jsonl`));
      })
      .sort();
    const before = this.#files;
    const same =
      before !== undefined &&
      before.starts === files.starts &&
      before.ends === files.ends &&
      before.steps === files.steps &&
      before.scores === files.scores &&
      before.repeatedRuns === files.repeatedRuns &&
      (before.stepOnlyFiles ?? []).join('/') === files.stepOnlyFiles.join('/');
    if (same) return;
    for (const statement of viewStatements(this.dir, files)) {
      await this.#connection.run(statement);
    }
    this.#files = files;
  }

  /** The runs starts.jsonl and runs.jsonl name; read again only when either file changed. */
  async #knownRuns(present: { starts: boolean; ends: boolean }): Promise<KnownRuns> {
    const stamp = `${stampOf(path.join(this.dir, 'starts.jsonl'))}|${stampOf(path.join(this.dir, 'runs.jsonl'))}`;
    if (this.#known?.stamp === stamp) return this.#known;
    const known: KnownRuns = { stamp, files: new Set(), repeated: false };
    try {
      const reader = await this.#connection.runAndReadAll(knownRunsQuery(this.dir, present));
      for (const [runId, starts] of reader.getRows()) {
        known.files.add(stepFileName(String(runId)));
        if (Number(starts) > 1) known.repeated = true;
      }
    } catch {
      // an unreadable file: the views say so when they are queried
    }
    this.#known = known;
    return known;
  }

  /** Runs one SQL statement (or several; the last one's rows are returned). */
  async query(sql: string): Promise<QueryResult> {
    await this.refresh();
    let reader: Awaited<ReturnType<DuckDBConnection['runAndReadAll']>>;
    try {
      reader = await this.#connection.runAndReadAll(sql);
    } catch (error) {
      let message = error instanceof Error ? error.message : String(error);
      // A file the views name went away since the refresh (a run pruned meanwhile): once more
      // over the files there are now.
      if (message.startsWith('IO Error: No files found')) {
        await this.refresh();
        try {
          reader = await this.#connection.runAndReadAll(sql);
        } catch (again) {
          message = again instanceof Error ? again.message : String(again);
          throw new QueryError(message, schemaHint());
        }
      } else throw new QueryError(message, schemaHint());
    }
    const names = reader.columnNames();
    // JSON is an alias of VARCHAR; the logical type keeps the alias.
    const types = reader
      .columnTypes()
      .map((t, i) => (reader.columnLogicalType(i).alias === 'JSON' ? 'JSON' : t.toString()));
    const rows = reader.getRowObjectsJS().map((row) => {
      const out: Record<string, JsonCell> = {};
      for (const name of names) {
        const type = types[names.indexOf(name)];
        const value = row[name];
        out[name] =
          type === 'JSON' && typeof value === 'string' ? parseJsonCell(value) : toCell(value);
      }
      return out;
    });
    return { columns: names.map((name, i) => ({ name, type: types[i] ?? 'UNKNOWN' })), rows };
  }

  /** Closes the database. */
  close(): void {
    this.#connection.closeSync();
    this.#instance.closeSync();
  }
}

function parseJsonCell(text: string): JsonCell {
  try {
    return JSON.parse(text) as JsonCell;
  } catch {
    return text;
  }
}
