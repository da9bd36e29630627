/**
 * The vdir spoke's tests again, with no stat worker: where a worker thread cannot be had (or dies),
 * listings stat on the main thread (fs-io.ts `statAll`), and must behave the same.
 */
import { vi } from 'vitest';

vi.mock('../../src/connectors/vdir/stat-worker.js', () => ({
  statWorkerUsable: () => false,
  statInWorker: () => Promise.resolve(null),
}));

await import('./vdir.test.js');
