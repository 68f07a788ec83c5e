// #region readme
// test/conformance.test.ts — the conformance suite against a live local receiver.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeSinkConformance } from '@rlm/obs-core/testing';
import { afterAll, beforeAll } from 'vitest';
import { createSink } from '../src/index.js';

// A local webhook that keeps what it receives, so that readBack can check it.
const received: Array<{ type: string; run_id: string; payload: any }> = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push(...JSON.parse(Buffer.concat(chunks).toString('utf8')).events);
    res.end();
  });
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describeSinkConformance(
  () => createSink({ url, headers: { authorization: 'Bearer test-secret-123' } }),
  {
    // status() must never show these (credential-shaped values are caught anyway).
    secrets: ['test-secret-123'],
    // How to read a run back from where the sink put it: this is what checks that every
    // event arrives and that steps keep their order. Without it that test is skipped.
    readBack: (_sink, runId) => {
      const mine = received.filter((e) => e.run_id === runId);
      return {
        steps: mine.filter((e) => e.type === 'step').map((e) => e.payload.event.step),
        ended: mine.some((e) => e.type === 'run_end'),
      };
    },
  },
);
// #endregion readme
