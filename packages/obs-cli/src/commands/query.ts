import { readFileSync } from 'node:fs';
import { CliError, EXIT, type GlobalOptions, readableJsonlDir } from '../context.js';
import { type Io, oneLine, printJson, table } from '../output.js';
import { type JsonCell, QueryEngine, QueryError, type QueryResult } from '../query/engine.js';
import { VIEW_DOCS } from '../query/schema.js';

/** Options of `rlm-obs query`. */
export interface QueryOptions extends GlobalOptions {
  format?: string;
  file?: string;
  schema?: boolean;
  maxWidth?: string;
}

const FORMATS = ['table', 'csv', 'json'] as const;

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

/** The text of a cell for a table or CSV: JSON values as JSON, times as ISO. */
function cellText(value: JsonCell): string {
  if (value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** RFC 4180: quote fields with a comma, quote or line break; double the quotes. */
export function toCsv(result: QueryResult): string {
  const field = (text: string) =>
    /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  const lines = [result.columns.map((c) => field(c.name)).join(',')];
  for (const row of result.rows)
    lines.push(result.columns.map((c) => field(cellText(row[c.name] ?? null))).join(','));
  return lines.join('\n');
}

function printSchema(io: Io, json: boolean | undefined): void {
  if (json) {
    printJson(io, VIEW_DOCS);
    return;
  }
  for (const [view, columns] of Object.entries(VIEW_DOCS)) {
    io.out(io.colors.bold(view));
    io.out(
      table(
        ['column', 'type', 'meaning'],
        columns.map((c) => [c.name, c.type, c.doc]),
        { width: io.columns, min: [undefined, undefined, 20] },
      ),
    );
  }
}

/** `rlm-obs query "<SQL>"`: DuckDB over the local files, as a table, CSV or JSON. */
export async function queryCommand(
  sql: string | undefined,
  options: QueryOptions,
  io: Io,
): Promise<number> {
  const format = options.json ? 'json' : (options.format ?? 'table');
  if (!(FORMATS as readonly string[]).includes(format))
    throw new CliError(`--format must be one of ${FORMATS.join(', ')}`, EXIT.usage);
  if (options.schema) {
    printSchema(io, format === 'json');
    return EXIT.ok;
  }
  let text = sql;
  if (options.file) {
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new CliError(
        `cannot read --file ${options.file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
        EXIT.usage,
      );
    }
  } else if (text === '-') {
    text = readStdin();
  }
  if (!text || text.trim() === '')
    throw new CliError(
      'give the SQL to run, e.g. rlm-obs query "SELECT * FROM runs" (views: rlm-obs query --schema)',
      EXIT.usage,
    );
  const { dir } = await readableJsonlDir(options);
  const engine = await QueryEngine.open(dir);
  let result: QueryResult;
  try {
    result = await engine.query(text);
  } catch (error) {
    if (error instanceof QueryError) {
      io.err(error.message);
      io.err('');
      io.err(`The views over ${dir} (details: rlm-obs query --schema):`);
      io.err(error.hint);
      return EXIT.usage;
    }
    throw error;
  } finally {
    engine.close();
  }
  if (format === 'json') {
    io.out(JSON.stringify(result.rows, null, 2));
    return EXIT.ok;
  }
  if (format === 'csv') {
    io.out(toCsv(result));
    return EXIT.ok;
  }
  if (result.columns.length === 0) {
    io.out('ok');
    return EXIT.ok;
  }
  const width = Number(options.maxWidth ?? 60);
  io.out(
    table(
      result.columns.map((c) => c.name),
      result.rows.map((row) =>
        result.columns.map((c) => oneLine(cellText(row[c.name] ?? null), width > 0 ? width : 1e9)),
      ),
      { width: io.columns },
    ),
  );
  io.out(io.colors.dim(`${result.rows.length} row${result.rows.length === 1 ? '' : 's'}`));
  return EXIT.ok;
}
