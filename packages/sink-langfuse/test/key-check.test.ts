/**
 * The key check at setup and `check()` (`rlm-obs doctor`, a replay's check) ask Langfuse, as
 * the official client does: a 503 or 429 is tried again, and `check()` asks each time.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createSink } from '../src/index.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0))
    await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Answers GET /api/public/projects with the statuses given, then 200. */
async function projectsServer(statuses: number[]): Promise<{ url: string; asked: () => number }> {
  let asked = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith('/api/public/projects')) {
      const status = statuses[asked++] ?? 200;
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(status === 200 ? JSON.stringify({ data: [{ id: 'p' }] }) : '{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, asked: () => asked };
}

const keys = { publicKey: 'pk-lf-check', secretKey: 'sk-lf-check-secret' };

describe('the Langfuse key check', () => {
  it('tries a 503 (and a 429) again at setup: one busy answer does not make the sink unavailable', async () => {
    const server = await projectsServer([503, 429]);
    const sink = await createSink({ ...keys, baseUrl: server.url });
    await sink.ready;
    expect(server.asked()).toBe(3);
    expect(sink.status()).toMatchObject({ available: true });
    await sink.shutdown();
  });

  it('check() asks Langfuse each time: down at setup, up at the check', async () => {
    const server = await projectsServer([503, 503, 503]);
    const sink = await createSink({ ...keys, baseUrl: server.url });
    await sink.ready;
    expect(sink.status()).toMatchObject({ available: false });
    const result = await sink.check();
    expect(result).toMatchObject({ ok: true, problems: [] });
    expect(server.asked()).toBe(4);
    expect(sink.status()).toMatchObject({ available: true });
    await sink.shutdown();
  });

  it('check() reports a Langfuse that went away since the setup, and a refusal of the keys', async () => {
    const server = await projectsServer([200, 401]);
    const sink = await createSink({ ...keys, baseUrl: server.url });
    await sink.ready;
    expect(sink.status()).toMatchObject({ available: true });
    const refused = await sink.check();
    expect(refused.ok).toBe(false);
    expect(refused.problems[0]!.problem).toMatch(/refused the keys \(HTTP 401\)/);
    expect(JSON.stringify(refused)).not.toContain(keys.secretKey);
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const down = await sink.check();
    expect(down.ok).toBe(false);
    expect(down.problems[0]!.problem).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+/);
    await sink.shutdown();
  });
});
