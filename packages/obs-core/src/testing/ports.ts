import { createServer, type Socket } from 'node:net';

/**
 * A loopback port nothing listens on (bound, then released), to test a backend that is down
 * without guessing a port (fetch refuses some low ports outright, such as 9).
 */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A loopback server that accepts connections and never answers (see {@link hungServer}). */
export interface HungServer {
  url: string;
  port: number;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A backend that accepts connections and never answers — the worst outage for a client,
 * which has to time out — to test that a sink neither blocks nor holds up its start.
 *
 * @example
 * ```ts
 * const hung = await hungServer();
 * try {
 *   const sink = await createSink({ endpoint: hung.url });
 *   expect(sink.status().available).toBe(true);
 * } finally {
 *   await hung.close();
 * }
 * ```
 */
export async function hungServer(): Promise<HungServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
