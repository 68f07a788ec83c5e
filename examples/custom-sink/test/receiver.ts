import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local webhook receiver: records what arrives, can fail on purpose first. */
export interface Receiver {
  url: string;
  events: Array<{ type: string; run_id: string; payload: any }>;
  requests: Array<{ path: string; headers: Record<string, unknown>; status: number }>;
  /** Answers the next requests with these statuses (then 200). */
  failNext(statuses: number[], retryAfter?: string): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const plan: number[] = [];
  let retryAfter: string | undefined;
  const receiver = { events: [], requests: [] } as unknown as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = plan.shift() ?? 200;
      receiver.requests.push({ path: req.url ?? '', headers: req.headers, status });
      if (status === 200) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          events: Receiver['events'];
        };
        receiver.events.push(...body.events);
      }
      res.writeHead(status, retryAfter && status === 429 ? { 'retry-after': retryAfter } : {});
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}/hook`;
  receiver.failNext = (statuses, after) => {
    plan.push(...statuses);
    retryAfter = after;
  };
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}
