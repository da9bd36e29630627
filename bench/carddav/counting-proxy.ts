/**
 * A counting HTTP proxy for the benchmark: sits in front of one DAV server, forwards every request
 * unchanged (keep-alive to the upstream), and counts requests by method. Both tools talk to the
 * servers only through these proxies, so their request counts are measured the same way.
 */
import http from 'node:http';

export interface CountingProxy {
  url: string;
  /** Requests per method since the last `reset()`. */
  counts(): Record<string, number>;
  total(): number;
  /**
   * Since the last `reset()`: how long at least one request was in flight to the server (the
   * server's busy time, as the client sees it), and when the first request began and the last
   * ended (ms on `performance.now()`'s clock). What a tool adds to a phase is the rest.
   */
  busy(): { busyMs: number; firstMs: number | null; lastMs: number | null; maxInFlight: number };
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let counts: Record<string, number> = {};
  let inFlight = 0;
  let busyMs = 0;
  let busySince = 0;
  let firstMs: number | null = null;
  let lastMs: number | null = null;
  let maxInFlight = 0;
  const begin = (): void => {
    const now = performance.now();
    if (inFlight === 0) busySince = now;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    firstMs ??= now;
  };
  const end = (): void => {
    const now = performance.now();
    inFlight -= 1;
    if (inFlight === 0) busyMs += now - busySince;
    lastMs = now;
  };
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    counts[method] = (counts[method] ?? 0) + 1;
    begin();
    let ended = false;
    const done = (): void => {
      if (!ended) {
        ended = true;
        end();
      }
    };
    res.on('close', done);
    const fwd = http.request(
      { host: up.hostname, port: up.port, method, path: req.url, headers: { ...req.headers, host: req.headers.host ?? up.host }, agent },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.statusMessage, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    req.pipe(fwd);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    counts: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((x, y) => x + y, 0),
    busy: () => ({ busyMs: busyMs + (inFlight > 0 ? performance.now() - busySince : 0), firstMs, lastMs, maxInFlight }),
    reset: () => {
      counts = {};
      busyMs = 0;
      busySince = performance.now();
      firstMs = null;
      lastMs = null;
      maxInFlight = inFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
