/**
 * A local receiver that answers like Langfuse: the OTLP JSON endpoint, the ingestion endpoint
 * the client posts scores to, and the projects endpoint of the auth check.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { otlpAttributes } from '../../otel-common/test/otlp-values.js';

export interface LangfuseSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  scope: string;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
  startNs: number;
  endNs: number;
}

export interface LangfuseReceiver {
  url: string;
  publicKey: string;
  secretKey: string;
  spans: LangfuseSpan[];
  scores: Array<Record<string, unknown>>;
  authChecks: number;
  headers: Array<Record<string, unknown>>;
  /** What the OTLP endpoint answers (`401`/`403`: refuses the keys). */
  mode: 'ok' | 'hang' | '401' | '403' | '429' | '503';
  /** What the score ingestion endpoint answers. */
  scoreMode: 'ok' | '401' | '403';
  /** Requests that reached the OTLP endpoint and the ingestion endpoint, refused ones included. */
  otlpRequests: number;
  ingestionRequests: number;
  close(): Promise<void>;
}

/** `port`: a given one (a Langfuse that comes back where it was), else a free one. */
export async function startLangfuseReceiver(
  publicKey = 'pk-lf-test',
  secretKey = 'sk-lf-test-secret',
  port = 0,
): Promise<LangfuseReceiver> {
  const receiver = {
    publicKey,
    secretKey,
    spans: [],
    scores: [],
    authChecks: 0,
    headers: [],
    mode: 'ok',
    scoreMode: 'ok',
    otlpRequests: 0,
    ingestionRequests: 0,
  } as unknown as LangfuseReceiver;
  const expected = `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.headers.authorization !== expected)
        return send(401, { message: 'Invalid credentials' });
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/api/public/projects') {
        receiver.authChecks++;
        return send(200, { data: [{ id: 'project-1', name: 'rlm' }] });
      }
      if (req.method === 'POST' && path === '/api/public/otel/v1/traces') {
        receiver.otlpRequests++;
        if (receiver.mode === 'hang') return;
        if (receiver.mode !== 'ok') return send(Number(receiver.mode), { message: 'nope' });
        receiver.headers.push(req.headers);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              receiver.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                scope: ss.scope?.name ?? '',
                attributes: otlpAttributes(s.attributes),
                status: s.status ?? {},
                startNs: Number(s.startTimeUnixNano),
                endNs: Number(s.endTimeUnixNano),
              });
            }
          }
        }
        return send(200, {});
      }
      if (req.method === 'POST' && path === '/api/public/ingestion') {
        receiver.ingestionRequests++;
        if (receiver.scoreMode !== 'ok')
          return send(Number(receiver.scoreMode), { message: 'Invalid credentials' });
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const event of body.batch ?? [])
          if (event.type === 'score-create') receiver.scores.push(event.body);
        return send(207, {
          successes: (body.batch ?? []).map((e: { id: string }) => ({ id: e.id, status: 201 })),
          errors: [],
        });
      }
      return send(404, { message: `no route ${req.method} ${path}` });
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
