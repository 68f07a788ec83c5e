/**
 * A local stand-in for an MLflow server with authentication (the real test server has none):
 * it answers 401/403 on demand (and whenever the expected `Authorization` header is missing)
 * and otherwise forwards each request to the real tracking server, so what gets through can
 * be read back there.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AuthProxy {
  url: string;
  /** `ok` forwards requests that carry the expected credentials. */
  mode: 'ok' | '401' | '403';
  /** Requests received, by `METHOD path`. */
  routes: string[];
  /**
   * Answers a request itself with the returned status (an MLflow-shaped error) instead of
   * forwarding it; `'hang'` never answers it (until the client gives up); `undefined` forwards.
   */
  answer?: (route: string, body: Buffer) => number | 'hang' | undefined;
  close(): Promise<void>;
}

export async function startAuthProxy(target: string, authorization: string): Promise<AuthProxy> {
  const proxy = { mode: 'ok', routes: [] } as unknown as AuthProxy;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      proxy.routes.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
      const refuse = (status: number) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error_code:
              status === 401
                ? 'UNAUTHENTICATED'
                : status === 403
                  ? 'PERMISSION_DENIED'
                  : status >= 500
                    ? 'TEMPORARILY_UNAVAILABLE'
                    : 'INVALID_PARAMETER_VALUE',
            message:
              status === 401
                ? 'You are not authenticated.'
                : status === 403
                  ? 'Permission denied.'
                  : `answered ${status} by the test proxy`,
          }),
        );
      };
      if (proxy.mode !== 'ok') return refuse(Number(proxy.mode));
      if (req.headers.authorization !== authorization) return refuse(401);
      const body = Buffer.concat(chunks);
      const answered = proxy.answer?.(proxy.routes.at(-1)!, body);
      if (answered === 'hang') return;
      if (answered !== undefined) return refuse(answered);
      try {
        const response = await fetch(`${target}${req.url}`, {
          method: req.method ?? 'GET',
          headers: req.headers['content-type']
            ? { 'content-type': String(req.headers['content-type']) }
            : {},
          ...(body.length > 0 ? { body } : {}),
        });
        res.writeHead(response.status, {
          'content-type': response.headers.get('content-type') ?? 'application/json',
        });
        res.end(Buffer.from(await response.arrayBuffer()));
      } catch (error) {
        res.writeHead(502);
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
