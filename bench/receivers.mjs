#!/usr/bin/env node
/**
 * Small, fast local receivers for the all-sinks bench (bench/all-sinks.mjs): they answer what
 * each sink's SDK calls and count what arrives, without decoding more than they must — the
 * machine has 2 cores and the bench measures the sinks, not the receivers.
 *
 * - `otlp` (the otel sink's http/protobuf endpoint when no Phoenix can be started) and
 *   `logfire`: `POST /v1/traces` (protobuf; spans and step spans counted by walking the
 *   protobuf), `POST /v1/metrics`.
 * - `langfuse`: `GET /api/public/projects` (the auth check), `POST /api/public/otel/v1/traces`
 *   (OTLP JSON), `POST /api/public/ingestion` (scores; answers 207 like Langfuse).
 * - `langsmith`: `GET /info`, projects (`/sessions`), `POST /runs`, `PATCH /runs/{id}`,
 *   `POST /runs/multipart` (or gzip), `/runs/batch`, `POST /feedback`; counts run creates,
 *   patches and `step-<n>` runs.
 * - `mlflow` (a stand-in when no real MLflow server can be started): experiments, runs
 *   create/update/search/get, `runs/log-batch` (metrics counted), artifact uploads.
 *
 * Run as a child process (`node bench/receivers.mjs`): it prints one JSON line
 * `{ "urls": {...}, "control": url }`; `GET <control>/counts` answers the counts (with
 * `?stepsAtLeast=N`, once N steps arrived at every receiver: see {@link stepsArrived}),
 * `POST <control>/reset` zeroes them. Kept in a separate process so that receiving does not
 * share the bench's event loop.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** Reads a protobuf varint at `pos`: [value, next position]. */
function varint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, pos];
    shift += 7;
  }
}

/** Calls `fn(field, start, end)` for each length-delimited field in buf[start, end). */
function eachLen(buf, start, end, fn) {
  let pos = start;
  while (pos < end) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      fn(field, pos, pos + len);
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
}

/**
 * Counts the spans of an OTLP ExportTraceServiceRequest (protobuf) and those whose name
 * starts with `prefix`, walking resource_spans(1) → scope_spans(2) → spans(2) → name(5).
 */
export function countOtlpSpans(buf, prefix) {
  const want = Buffer.from(prefix);
  let spans = 0;
  let matching = 0;
  eachLen(buf, 0, buf.length, (f1, s1, e1) => {
    if (f1 !== 1) return;
    eachLen(buf, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachLen(buf, s2, e2, (f3, s3, e3) => {
        if (f3 !== 2) return;
        spans++;
        eachLen(buf, s3, e3, (f4, s4, e4) => {
          if (
            f4 === 5 &&
            e4 - s4 >= want.length &&
            buf.compare(want, 0, want.length, s4, s4 + want.length) === 0
          )
            matching++;
        });
      });
    });
  });
  return { spans, matching };
}

/** Occurrences of `needle` in `buf`. */
function occurrences(buf, needle) {
  const n = Buffer.from(needle);
  let count = 0;
  let at = buf.indexOf(n);
  while (at !== -1) {
    count++;
    at = buf.indexOf(n, at + n.length);
  }
  return count;
}

function newCounts() {
  return {
    otlp: { requests: 0, spans: 0, stepSpans: 0, metricRequests: 0, bytes: 0 },
    logfire: { requests: 0, spans: 0, stepSpans: 0, bytes: 0 },
    langfuse: { requests: 0, spans: 0, stepSpans: 0, ingestionRequests: 0, scores: 0, bytes: 0 },
    langsmith: { requests: 0, posts: 0, patches: 0, stepRuns: 0, feedback: 0, bytes: 0 },
    mlflow: { requests: 0, logBatches: 0, stepMetrics: 0, runsCreated: 0, artifacts: 0 },
  };
}

/** A server on 127.0.0.1 that reads each body whole and passes it to `handle`. */
function serve(handle) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      try {
        handle(req, res, body);
      } catch (error) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(error) }));
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${server.address().port}` }),
    ),
  );
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function protoOk(res) {
  res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
  res.end();
}

/** Starts every receiver in this process; `counts` is live. */
export async function startReceivers() {
  let counts = newCounts();
  const otlp = (name, prefix) => (req, res, body) => {
    const c = counts[name];
    c.requests++;
    c.bytes += body.length;
    const path = (req.url ?? '').split('?')[0];
    if (path.endsWith('/v1/traces')) {
      const { spans, matching } = countOtlpSpans(body, prefix);
      c.spans += spans;
      c.stepSpans += matching;
      return protoOk(res);
    }
    if (path.endsWith('/v1/metrics')) {
      c.metricRequests = (c.metricRequests ?? 0) + 1;
      return protoOk(res);
    }
    json(res, 404, { message: `no route ${path}` });
  };

  const langfuse = (req, res, body) => {
    const c = counts.langfuse;
    c.requests++;
    c.bytes += body.length;
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/api/public/projects')
      return json(res, 200, { data: [{ id: 'project-1', name: 'rlm' }] });
    if (req.method === 'POST' && path === '/api/public/otel/v1/traces') {
      // OTLP JSON: one `"spanId":` per span (`parentSpanId` has a capital S).
      c.spans += occurrences(body, '"spanId":');
      c.stepSpans += occurrences(body, '"name":"step-');
      return json(res, 200, {});
    }
    if (req.method === 'POST' && path === '/api/public/ingestion') {
      c.ingestionRequests++;
      const batch = JSON.parse(body.toString('utf8')).batch ?? [];
      c.scores += batch.filter((e) => e.type === 'score-create').length;
      return json(res, 207, {
        successes: batch.map((e) => ({ id: e.id, status: 201 })),
        errors: [],
      });
    }
    json(res, 404, { message: `no route ${req.method} ${path}` });
  };

  const projects = new Map();
  const project = (name) => {
    if (!projects.has(name)) projects.set(name, { id: randomUUID(), name });
    return projects.get(name);
  };
  const langsmith = (req, res, body) => {
    const c = counts.langsmith;
    c.requests++;
    c.bytes += body.length;
    const url = new URL(req.url ?? '/', 'http://receiver');
    const path = url.pathname;
    if (path === '/info') return json(res, 200, {});
    if (path === '/sessions') {
      if (req.method === 'POST') return json(res, 200, project(JSON.parse(body.toString()).name));
      const name = url.searchParams.get('name');
      const contains = url.searchParams.get('name_contains');
      project('rlm-bench');
      return json(
        res,
        200,
        [...projects.values()].filter(
          (p) =>
            (name === null || p.name === name) && (contains === null || p.name.includes(contains)),
        ),
      );
    }
    if (path === '/runs/multipart') {
      // One part per run operation named `post.<id>` / `patch.<id>`, fields as `post.<id>.inputs`.
      c.posts += occurrences(body, 'name="post.') - countFieldParts(body, 'post.');
      c.patches += occurrences(body, 'name="patch.') - countFieldParts(body, 'patch.');
      c.feedback += occurrences(body, 'name="feedback.') - countFieldParts(body, 'feedback.');
      c.stepRuns += occurrences(body, '"name":"step-');
      return json(res, 200, {});
    }
    if (path === '/runs/batch') {
      const batch = JSON.parse(body.toString('utf8'));
      c.posts += batch.post?.length ?? 0;
      c.patches += batch.patch?.length ?? 0;
      c.stepRuns += (batch.post ?? []).filter((r) => String(r.name).startsWith('step-')).length;
      return json(res, 200, {});
    }
    // The client's direct requests (the root runs): a create, a patch.
    if (path === '/runs' && req.method === 'POST') {
      c.posts++;
      return json(res, 200, {});
    }
    if (req.method === 'PATCH' && path.startsWith('/runs/')) {
      c.patches++;
      return json(res, 200, {});
    }
    if (path === '/feedback' && req.method === 'POST') {
      c.feedback++;
      return json(res, 200, JSON.parse(body.toString('utf8')));
    }
    json(res, 404, { detail: `no route ${path}` });
  };

  const experiments = new Map();
  const mlruns = new Map();
  const mlflow = (req, res, body) => {
    const c = counts.mlflow;
    c.requests++;
    const url = new URL(req.url ?? '/', 'http://receiver');
    const path = url.pathname;
    if (path.startsWith('/api/2.0/mlflow-artifacts/artifacts/')) {
      c.artifacts++;
      return json(res, 200, {});
    }
    const op = path.replace('/api/2.0/mlflow/', '');
    const input = body.length > 0 ? JSON.parse(body.toString('utf8')) : {};
    switch (op) {
      case 'experiments/get-by-name': {
        const name = url.searchParams.get('experiment_name');
        const id = experiments.get(name);
        if (!id)
          return json(res, 404, {
            error_code: 'RESOURCE_DOES_NOT_EXIST',
            message: 'no such experiment',
          });
        return json(res, 200, { experiment: { experiment_id: id, name } });
      }
      case 'experiments/create': {
        const id = String(experiments.size + 1);
        experiments.set(input.name, id);
        return json(res, 200, { experiment_id: id });
      }
      case 'runs/create': {
        c.runsCreated++;
        const runId = randomUUID().replace(/-/g, '');
        const run = {
          info: {
            run_id: runId,
            experiment_id: input.experiment_id,
            run_name: input.run_name,
            status: 'RUNNING',
            start_time: input.start_time,
            artifact_uri: `mlflow-artifacts:/${input.experiment_id}/${runId}/artifacts`,
          },
          data: { tags: input.tags ?? [], metrics: [], params: [] },
        };
        mlruns.set(runId, run);
        return json(res, 200, { run });
      }
      case 'runs/log-batch': {
        c.logBatches++;
        for (const m of input.metrics ?? []) if (m.key === 'step_reward') c.stepMetrics++;
        return json(res, 200, {});
      }
      case 'runs/update': {
        const run = mlruns.get(input.run_id);
        if (run) run.info.status = input.status ?? run.info.status;
        return json(res, 200, { run_info: run?.info ?? {} });
      }
      case 'runs/get': {
        const run = mlruns.get(url.searchParams.get('run_id'));
        if (!run)
          return json(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no run' });
        return json(res, 200, { run });
      }
      case 'runs/search':
        return json(res, 200, { runs: [] });
      default:
        return json(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: `no route ${op}` });
    }
  };

  const servers = {
    otlp: await serve(otlp('otlp', 'rlm.step')),
    logfire: await serve(otlp('logfire', 'RLM step ')),
    langfuse: await serve(langfuse),
    langsmith: await serve(langsmith),
    mlflow: await serve(mlflow),
  };
  const urls = Object.fromEntries(Object.entries(servers).map(([k, v]) => [k, v.url]));
  return {
    urls,
    get counts() {
      return counts;
    },
    reset() {
      counts = newCounts();
    },
    close: () =>
      Promise.all(
        Object.values(servers).map(
          ({ server }) =>
            new Promise((resolve) => {
              server.closeAllConnections();
              server.close(resolve);
            }),
        ),
      ),
  };
}

/** Parts named `<prefix><id>.<field>` (a run's inputs, outputs, … sent apart from the run). */
function countFieldParts(buf, prefix) {
  const needle = Buffer.from(`name="${prefix}`);
  let count = 0;
  let at = buf.indexOf(needle);
  while (at !== -1) {
    const close = buf.indexOf(0x22, at + needle.length); // the closing quote
    const dot = buf.indexOf(0x2e, at + needle.length); // a '.' before it: a field part
    if (dot !== -1 && dot < close) count++;
    at = buf.indexOf(needle, at + needle.length);
  }
  return count;
}

/** The steps that arrived at every receiver: the least of their step counts. */
export function stepsArrived(counts) {
  return Math.min(
    counts.otlp.stepSpans,
    counts.logfire.stepSpans,
    counts.langfuse.stepSpans,
    counts.langsmith.stepRuns,
    counts.mlflow.stepMetrics,
  );
}

/** How often a waiting `/counts?stepsAtLeast=` checks the counts (in this process: no I/O). */
const WAIT_CHECK_MS = 1;

/** The child-process entry: start, print the urls, serve `/counts` and `/reset`. */
async function main() {
  const receivers = await startReceivers();
  // `/counts?stepsAtLeast=N&timeoutMs=T` answers once N steps arrived everywhere (or after T
  // ms): one request per wait, where polling cost the bench's thread and this process ~0.4 ms
  // of CPU a request, taken from the sinks being measured.
  const waiters = new Set();
  let checker;
  const check = () => {
    const arrived = stepsArrived(receivers.counts);
    const now = performance.now();
    for (const w of waiters) {
      if (arrived >= w.steps || now >= w.deadline) {
        waiters.delete(w);
        json(w.res, 200, receivers.counts);
      }
    }
    if (waiters.size === 0) {
      clearInterval(checker);
      checker = undefined;
    }
  };
  const control = await serve((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    if (url.pathname === '/counts') {
      const steps = Number(url.searchParams.get('stepsAtLeast') ?? 0);
      if (!(steps > stepsArrived(receivers.counts))) return json(res, 200, receivers.counts);
      const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? 60_000);
      waiters.add({ res, steps, deadline: performance.now() + timeoutMs });
      checker ??= setInterval(check, WAIT_CHECK_MS);
      return;
    }
    if (url.pathname === '/reset' && req.method === 'POST') {
      receivers.reset();
      return json(res, 200, {});
    }
    json(res, 404, {});
  });
  process.stdout.write(`${JSON.stringify({ urls: receivers.urls, control: control.url })}\n`);
  // Ends with the parent: stdin closes when the bench exits.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
