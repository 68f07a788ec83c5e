/**
 * `rlm-obs view`: a local web UI over the JSONL directory, served on 127.0.0.1 by node:http.
 * The page and its script are bundled into the CLI (no CDN, works offline); the data comes
 * from the query views as JSON; a server-sent event stream tells the page when the files
 * changed, so new runs and steps appear without a reload.
 */
import { existsSync, type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueryEngine } from '../query/engine.js';
import { listRuns, runTree, usageOverTime } from './data.js';
import { PAGE_CSS, pageHtml } from './page.js';

/** Options of {@link startViewServer}. */
export interface ViewServerOptions {
  dir: string;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
  /** 0 picks a free port. @defaultValue `0` */
  port?: number;
  /** How often to look for changed files when the OS gives no events. @defaultValue `1000` */
  pollMs?: number;
  /**
   * More host names the `Host` header may carry (with the port listened on), e.g. a name
   * that resolves to this machine. Requests naming any other host get a 403 (DNS rebinding).
   * @defaultValue `[]`
   */
  allowedHosts?: string[];
}

/** A running viewer. */
export interface ViewServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The bundled browser script: next to the built CLI, or in dist/ when running from sources. */
function appScript(): string {
  const candidates = [
    path.join(HERE, 'view', 'app.js'),
    path.join(HERE, '..', '..', 'dist', 'view', 'app.js'),
  ];
  for (const file of candidates) if (existsSync(file)) return readFileSync(file, 'utf8');
  throw new Error(
    `the viewer's script is missing (looked in ${candidates.join(', ')}); build the CLI`,
  );
}

/** A fingerprint of the directory: changes whenever a line is appended anywhere in it. */
function fingerprint(dir: string): string {
  const parts: string[] = [];
  for (const name of ['runs.jsonl', 'starts.jsonl', 'scores.jsonl', 'steps']) {
    try {
      const s = statSync(path.join(dir, name));
      parts.push(`${name}:${s.size}:${s.mtimeMs}`);
    } catch {
      parts.push(`${name}:-`);
    }
  }
  return parts.join('|');
}

/** Runs queries one at a time on the engine's single connection. */
class Serial {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Only our own script and styles; the page never talks to anything but this server.
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:",
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

/** A host name as the `Host` header writes it: lower case, an IPv6 address in brackets. */
function hostKey(host: string): string {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  return isIP(h) === 6 ? `[${h}]` : h;
}

/** A wildcard address listens on every interface: the interfaces' addresses and the hostname. */
const WILDCARD = new Set(['0.0.0.0', '[::]', '[::0]']);

/**
 * The host names a request may name in its `Host` header: loopback, the listened address,
 * `allowedHosts`, and for a wildcard address the machine's own addresses and name. Anything
 * else is a page of another site reaching this server through DNS rebinding.
 */
function allowedHostNames(host: string, extra: string[]): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]', ...extra.map(hostKey)]);
  // The listened address itself (also a wildcard one: the printed URL has it).
  const bound = hostKey(host);
  names.add(bound);
  if (WILDCARD.has(bound)) {
    names.add(hostKey(hostname()));
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) names.add(hostKey(a.address.replace(/%.*$/, '')));
  }
  return names;
}

/** Whether a `Host` header names an allowed host with the port listened on. */
function hostAllowed(header: string | undefined, names: Set<string>, port: number): boolean {
  if (!header) return false;
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(header.trim());
  if (!match) return false;
  const name = hostKey(match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!);
  // No port: HTTP's default.
  const given = match[2] === undefined ? 80 : Number(match[2]);
  return given === port && names.has(name);
}

/** Starts the viewer; resolves once it listens. */
export async function startViewServer(options: ViewServerOptions): Promise<ViewServer> {
  const dir = path.resolve(options.dir);
  const script = appScript();
  const engine = await QueryEngine.open(dir);
  const serial = new Serial();
  const clients = new Set<ServerResponse>();
  let version = 0;
  let lastPrint = fingerprint(dir);

  // At most one change event per second: a busy agent appends all the time, and each event
  // makes every open page query again.
  let lastNotify = 0;
  let pending: NodeJS.Timeout | undefined;
  const notify = () => {
    const wait = lastNotify + 1000 - Date.now();
    if (wait > 0) {
      pending ??= setTimeout(() => {
        pending = undefined;
        notify();
      }, wait);
      pending.unref();
      return;
    }
    lastNotify = Date.now();
    version++;
    for (const client of clients) client.write(`event: change\ndata: ${version}\n\n`);
  };
  // inotify where it works (the directory, and steps/ where every append lands), and a slow
  // poll of the directory's fingerprint for the rest (steps/ created later, network disks).
  const watchers = new Map<string, FSWatcher>();
  let debounce: NodeJS.Timeout | undefined;
  const soon = () => {
    if (debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      lastPrint = fingerprint(dir);
      notify();
    }, 150);
    debounce.unref();
  };
  const watchDir = (target: string) => {
    if (watchers.has(target) || !existsSync(target)) return;
    try {
      const watcher = watch(target, soon);
      watcher.on('error', () => {
        watcher.close();
        watchers.delete(target);
      });
      watchers.set(target, watcher);
    } catch {
      // Not watchable: the poll covers it.
    }
  };
  const stepsDir = path.join(dir, 'steps');
  watchDir(dir);
  watchDir(stepsDir);
  const poll = setInterval(() => {
    watchDir(dir);
    watchDir(stepsDir);
    const print = fingerprint(dir);
    if (print !== lastPrint) {
      lastPrint = print;
      notify();
    }
  }, options.pollMs ?? 1000);
  poll.unref();
  const heartbeat = setInterval(() => {
    for (const client of clients) client.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  const host = options.host ?? '127.0.0.1';
  const hostNames = allowedHostNames(host, options.allowedHosts ?? []);
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // DNS rebinding: a page of another site whose name now resolves to this machine may
    // send requests here, but they carry its name in Host.
    if (!hostAllowed(req.headers.host, hostNames, port)) {
      send(res, 403, 'text/plain', 'forbidden: this viewer answers only to its own address');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed');
      return;
    }
    const route = url.pathname;
    if (route === '/' || route === '/index.html' || route.startsWith('/run/')) {
      send(res, 200, 'text/html; charset=utf-8', pageHtml(path.basename(dir)));
      return;
    }
    if (route === '/assets/app.js') {
      send(res, 200, 'text/javascript; charset=utf-8', script);
      return;
    }
    if (route === '/assets/app.css') {
      send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
      return;
    }
    if (route === '/api/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`retry: 1000\nevent: hello\ndata: ${version}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    if (route === '/api/runs') {
      const runs = await serial.run(() => listRuns(engine));
      json(res, 200, { dir, version, runs });
      return;
    }
    if (route.startsWith('/api/runs/')) {
      let id: string;
      try {
        id = decodeURIComponent(route.slice('/api/runs/'.length));
      } catch {
        json(res, 400, { error: 'the run id in the path is not valid percent-encoding' });
        return;
      }
      const tree = await serial.run(() => runTree(engine, id));
      if (!tree) json(res, 404, { error: `no run '${id}' in ${dir}` });
      else json(res, 200, { dir, version, ...tree });
      return;
    }
    if (route === '/api/usage') {
      json(res, 200, { version, ...(await serial.run(() => usageOverTime(engine))) });
      return;
    }
    send(res, 404, 'text/plain', 'not found');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        json(res, 500, { error: error instanceof Error ? error.message : String(error) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    // An IPv6 address goes in brackets in a URL (`http://[::1]:7300/`).
    url: `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}/`,
    port,
    close: async () => {
      clearInterval(poll);
      clearInterval(heartbeat);
      if (debounce) clearTimeout(debounce);
      if (pending) clearTimeout(pending);
      for (const w of watchers.values()) w.close();
      for (const client of clients) client.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await serial.run(async () => engine.close());
    },
  };
}
