/**
 * A local receiver that answers like LangSmith: `/info`, projects (`GET /sessions?name=` or
 * `name_contains=`, `POST /sessions?upsert=true`; ingesting a run creates its project),
 * `POST /runs` and `PATCH /runs/{id}` (the client's direct requests), the JSON `/runs/batch`,
 * `/runs/multipart` (with `feedback.<id>` parts) and `POST /feedback`. Creates and updates are
 * merged into one record per run id, as LangSmith does.
 *
 * Bodies are plain: the sink never compresses one (the client gzips only streamed multipart
 * bodies, and only when `/info` enables it; the sink buffers its multipart bodies and never
 * asks `/info`). A compressed body is refused (415) and its encoding kept in `encodings`, so
 * a sink that starts compressing fails the tests instead of passing through an untested path.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** A feedback record, as the SDK sends it (multipart part or `POST /feedback` body). */
export interface LangSmithFeedback {
  id: string;
  run_id: string | null;
  trace_id?: string;
  key: string;
  score?: number | boolean | null;
  value?: unknown;
  comment?: string;
  feedback_source?: { type?: string; metadata?: Record<string, unknown> };
  session_id?: string;
  start_time?: string | number;
  /** How it arrived. */
  via: 'multipart' | 'feedback';
  [key: string]: unknown;
}

export interface LangSmithProject {
  id: string;
  name: string;
}

export interface LangSmithReceiver {
  url: string;
  apiKey: string;
  runs: Map<string, LangSmithRun>;
  /** Feedback by id (a repeated id replaces the earlier one). */
  feedback: Map<string, LangSmithFeedback>;
  projects: Map<string, LangSmithProject>;
  posts: number;
  routes: string[];
  /** `<route> <content-encoding>` of each request that came with one (none expected). */
  encodings: string[];
  /** How long `POST /runs` takes to answer (then `created <id>` is added to `routes`). */
  createDelayMs: number;
  /** A deployment without the JSON `/runs/batch` endpoint: 404 there. */
  multipartOnly: boolean;
  /** `401`/`403` refuse everything but `/info` (as a refused key would); the others hit writes. */
  mode: 'ok' | 'hang' | 'reset' | '401' | '403' | '429' | '503';
  close(): Promise<void>;
}

function project(receiver: LangSmithReceiver, name: string): LangSmithProject {
  let found = receiver.projects.get(name);
  if (!found) {
    found = { id: randomUUID(), name };
    receiver.projects.set(name, found);
  }
  return found;
}

function merge(receiver: LangSmithReceiver, run: LangSmithRun): void {
  if (typeof run.session_name === 'string') project(receiver, run.session_name);
  const previous = receiver.runs.get(run.id) ?? {};
  receiver.runs.set(run.id, {
    ...previous,
    ...Object.fromEntries(Object.entries(run).filter(([, v]) => v !== undefined && v !== null)),
  } as LangSmithRun);
}

/** `port`: a given one (a LangSmith that comes back where it was), else a free one. */
export async function startLangSmithReceiver(
  apiKey = 'lsv2_test_key',
  port = 0,
): Promise<LangSmithReceiver> {
  const receiver = {
    apiKey,
    runs: new Map(),
    feedback: new Map(),
    projects: new Map(),
    posts: 0,
    routes: [],
    encodings: [],
    multipartOnly: false,
    createDelayMs: 0,
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
      const url = new URL(req.url ?? '/', 'http://receiver');
      const path = url.pathname;
      receiver.routes.push(`${req.method} ${path}`);
      if (req.headers['x-api-key'] !== receiver.apiKey)
        return send(401, { detail: 'Invalid token' });
      if (path === '/info') {
        return send(200, {});
      }
      if (receiver.mode === '401' || receiver.mode === '403')
        return send(Number(receiver.mode), { detail: 'nope' });
      if (path === '/sessions') {
        if (req.method === 'POST') {
          const { name } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string };
          return send(200, project(receiver, name));
        }
        const name = url.searchParams.get('name');
        const contains = url.searchParams.get('name_contains');
        return send(
          200,
          [...receiver.projects.values()].filter(
            (p) =>
              (name === null || p.name === name) &&
              (contains === null || p.name.includes(contains)),
          ),
        );
      }
      if (receiver.mode === 'hang') return;
      if (receiver.mode === 'reset') return req.socket.destroy();
      if (receiver.mode !== 'ok') return send(Number(receiver.mode), { detail: 'nope' });
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding !== 'identity') {
        receiver.encodings.push(`${req.method} ${path} ${encoding}`);
        return send(415, { detail: `unexpected content-encoding ${encoding}` });
      }
      const body = Buffer.concat(chunks);
      if (path === '/feedback' && req.method === 'POST') {
        const feedback = JSON.parse(body.toString('utf8')) as LangSmithFeedback;
        receiver.feedback.set(feedback.id, { ...feedback, via: 'feedback' });
        return send(200, feedback);
      }
      // The client's direct requests (no auto-batch queue): a run create, a run patch.
      if (path === '/runs' && req.method === 'POST') {
        const run = JSON.parse(body.toString('utf8')) as LangSmithRun;
        if (receiver.createDelayMs > 0)
          await new Promise((resolve) => setTimeout(resolve, receiver.createDelayMs));
        merge(receiver, run);
        receiver.posts++;
        receiver.routes.push(`created ${run.id}`);
        return send(200);
      }
      const patched = /^\/runs\/([0-9a-f-]{36})$/.exec(path);
      if (patched && req.method === 'PATCH') {
        merge(receiver, {
          ...(JSON.parse(body.toString('utf8')) as LangSmithRun),
          id: patched[1]!,
        });
        receiver.posts++;
        return send(200);
      }
      if (path === '/runs/batch') {
        if (receiver.multipartOnly) return send(404, { detail: 'Not Found' });
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
          if (name.startsWith('feedback.')) {
            const text = typeof value === 'string' ? value : await value.text();
            const feedback = JSON.parse(text) as LangSmithFeedback;
            receiver.feedback.set(feedback.id, { ...feedback, via: 'multipart' });
            continue;
          }
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
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
