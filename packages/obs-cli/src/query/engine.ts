/**
 * DuckDB over the local JSONL files: opens an in-memory database, defines the views of
 * `schema.ts` over a directory and runs SQL. `@duckdb/node-api` is loaded on first use, so
 * the other commands never pay for it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  type ColumnDoc,
  repeatedRunsQuery,
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

/** Which source files exist in `dir` (a Python directory has no starts.jsonl or scores.jsonl). */
export function sourceFiles(dir: string): SourceFiles {
  let steps = false;
  try {
    steps = readdirSync(path.join(dir, 'steps')).some((f) => f.endsWith('.jsonl'));
  } catch {
    steps = false;
  }
  return {
    starts: existsSync(path.join(dir, 'starts.jsonl')),
    ends: existsSync(path.join(dir, 'runs.jsonl')),
    steps,
    scores: existsSync(path.join(dir, 'scores.jsonl')),
  };
}

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
  #startsStamp: string | undefined;

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
   * Re-defines the views if files appeared or vanished since the last call, or a run was
   * started again (a replay into this directory: see `SourceFiles.repeatedRuns`).
   */
  async refresh(): Promise<void> {
    const files = sourceFiles(this.dir);
    files.repeatedRuns = files.starts && (await this.#repeatedRuns());
    const same =
      this.#files !== undefined &&
      this.#files.starts === files.starts &&
      this.#files.ends === files.ends &&
      this.#files.steps === files.steps &&
      this.#files.scores === files.scores &&
      this.#files.repeatedRuns === files.repeatedRuns;
    if (same) return;
    for (const statement of viewStatements(this.dir, files)) {
      await this.#connection.run(statement);
    }
    this.#files = files;
  }

  /** Whether starts.jsonl names a run twice; asked again only when the file changed. */
  async #repeatedRuns(): Promise<boolean> {
    let stamp: string;
    try {
      const stat = statSync(path.join(this.dir, 'starts.jsonl'));
      stamp = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
    } catch {
      return false;
    }
    if (stamp === this.#startsStamp) return this.#files?.repeatedRuns === true;
    let repeated = false;
    try {
      const reader = await this.#connection.runAndReadAll(repeatedRunsQuery(this.dir));
      repeated = Number(reader.getRows()[0]?.[0] ?? 0) > 0;
    } catch {
      // an unreadable starts.jsonl: the views say so when they are queried
    }
    this.#startsStamp = stamp;
    return repeated;
  }

  /** Runs one SQL statement (or several; the last one's rows are returned). */
  async query(sql: string): Promise<QueryResult> {
    await this.refresh();
    let reader: Awaited<ReturnType<DuckDBConnection['runAndReadAll']>>;
    try {
      reader = await this.#connection.runAndReadAll(sql);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new QueryError(message, schemaHint());
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
