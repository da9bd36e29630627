/**
 * The vdir spoke's tests again, with no worker threads: where a worker thread cannot be had (or
 * dies), listings stat on the main thread (fs-io.ts `statAll`) and writes make their file calls
 * there too (vdir-connector.ts), and must behave the same.
 */
import { vi } from 'vitest';

vi.mock('../../src/connectors/vdir/stat-worker.js', () => ({
  statWorkerUsable: () => false,
  statInWorker: () => Promise.resolve(null),
}));

vi.mock('../../src/connectors/vdir/write-worker.js', () => ({
  writeWorkerUsable: () => false,
  writeInWorker: () => Promise.resolve(null),
}));

await import('./vdir.test.js');
