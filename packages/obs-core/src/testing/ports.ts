import { createServer } from 'node:net';

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
