/**
 * A local receiver that answers like LangSmith: `/info`, the project listing of the
 * connection check, `/runs/multipart` (gzip or not) and the JSON `/runs/batch` fallback.
 * Creates and updates are merged into one record per run id, as LangSmith does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface LangSmithRun {
  id: string;
  name?: string;
  run_type?: string;
  parent_run_id?: string;
  trace_id?: string;
  dotted_order?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  error?: string;
  extra?: { metadata?: Record<string, unknown> };
  end_time?: unknown;
  session_name?: string;
  [key: string]: unknown;
}

export interface LangSmithReceiver {
  url: string;
  apiKey: string;
  runs: Map<string, LangSmithRun>;
  posts: number;
  routes: string[];
  /** Answer `/info` so the client falls back to JSON `/runs/batch`. */
  jsonBatch: boolean;
  /** Answer `/info` so the client gzips its multipart bodies. */
  gzip: boolean;
  /** The content-encoding of each upload ('' for none). */
  encodings: string[];
  mode: 'ok' | 'hang' | '401' | '429' | '503';
  close(): Promise<void>;
}

function merge(receiver: LangSmithReceiver, run: LangSmithRun): void {
  const previous = receiver.runs.get(run.id) ?? {};
  receiver.runs.set(run.id, {
    ...previous,
    ...Object.fromEntries(Object.entries(run).filter(([, v]) => v !== undefined && v !== null)),
  } as LangSmithRun);
}

export async function startLangSmithReceiver(apiKey = 'lsv2_test_key'): Promise<LangSmithReceiver> {
  const receiver = {
    apiKey,
    runs: new Map(),
    posts: 0,
    routes: [],
    jsonBatch: false,
    gzip: false,
    encodings: [],
    mode: 'ok',
  } as unknown as LangSmithReceiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const send = (status: number, body: unknown = {}) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const path = (req.url ?? '').split('?')[0]!;
      receiver.routes.push(`${req.method} ${path}`);
      if (req.headers['x-api-key'] !== receiver.apiKey)
        return send(401, { detail: 'Invalid token' });
      if (path === '/info') {
        if (receiver.jsonBatch)
          return send(200, { batch_ingest_config: { use_multipart_endpoint: false } });
        return send(200, receiver.gzip ? { instance_flags: { gzip_body_enabled: true } } : {});
      }
      if (path === '/sessions') return send(200, []);
      if (receiver.mode === 'hang') return;
      if (receiver.mode !== 'ok') return send(Number(receiver.mode), { detail: 'nope' });
      let body = Buffer.concat(chunks);
      receiver.encodings.push(String(req.headers['content-encoding'] ?? ''));
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (path === '/runs/batch') {
        const batch = JSON.parse(body.toString('utf8')) as {
          post?: LangSmithRun[];
          patch?: LangSmithRun[];
        };
        for (const run of [...(batch.post ?? []), ...(batch.patch ?? [])]) merge(receiver, run);
        receiver.posts++;
        return send(200);
      }
      if (path === '/runs/multipart') {
        const form = await new Response(body, {
          headers: { 'content-type': String(req.headers['content-type']) },
        }).formData();
        const parts = new Map<string, LangSmithRun>();
        for (const [name, value] of form.entries()) {
          const [, id, field] = /^(?:post|patch)\.([^.]+)(?:\.(.+))?$/.exec(name) ?? [];
          if (!id) continue;
          const text = typeof value === 'string' ? value : await value.text();
          const run = parts.get(id) ?? ({ id } as LangSmithRun);
          if (field === undefined) Object.assign(run, JSON.parse(text));
          else if (
            field === 'inputs' ||
            field === 'outputs' ||
            field === 'extra' ||
            field === 'events'
          )
            run[field] = JSON.parse(text);
          else if (field === 'error') run.error = JSON.parse(text);
          parts.set(id, run);
        }
        for (const run of parts.values()) merge(receiver, run);
        receiver.posts++;
        return send(200);
      }
      return send(404, { detail: `no route ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
