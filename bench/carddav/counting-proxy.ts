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
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let counts: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    counts[method] = (counts[method] ?? 0) + 1;
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
    reset: () => {
      counts = {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
