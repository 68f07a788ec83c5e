/**
 * A backend that gives the credentials back: every request gets an error whose status text
 * and JSON body quote the request's `Authorization` and `x-api-key` headers (a misbehaving
 * proxy or API does that). For tests that a sink never shows its own secrets.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EchoServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The same URL with `user:password@` in it. */
  urlWithCredentials(user: string, password: string): string;
  /** The answer: `500` (the default) or `401`. */
  status: 500 | 401;
  /** The headers of every request received. */
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const echo = { status: 500, headers: [] } as unknown as EchoServer;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      echo.headers.push(req.headers);
      const credentials = [req.headers.authorization, req.headers['x-api-key']]
        .filter((v) => typeof v === 'string')
        .join(' ');
      const body = JSON.stringify({
        error_code: echo.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL_ERROR',
        message: `could not handle request with header ${credentials}`,
        detail: `bad credentials: ${credentials}`,
      });
      // A status text may only hold printable ASCII.
      const reason = `Bad header ${credentials}`.replace(/[^\t\x20-\x7e]/g, '');
      res.writeHead(echo.status, reason, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  echo.url = `http://127.0.0.1:${port}`;
  echo.urlWithCredentials = (user, password) => `http://${user}:${password}@127.0.0.1:${port}`;
  echo.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return echo;
}
