/**
 * The in-memory spoke (`type: 'memory'`): a strict, deterministic stand-in for a real provider, used
 * by the engine's simulation tests, the contract suite and benchmarks (sync-design.md C1.3, C3, C4).
 *
 * The provider itself is a `MemoryBackend` (see `memory-backend.ts`): the test creates it, puts it in
 * a `MemoryRegistry` under a name, and hands the registry to `memoryConnectorFactory`; the engine then
 * creates connectors from a `{ backend: name }` config like for any other spoke type. The test keeps
 * the backend to act as a user and to inject faults.
 */
import type { Card } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';
import type {
  Capabilities,
  Connector,
  ConnectorEnv,
  ConnectorFactory,
  PullPage,
  PullRequest,
  RemoteItem,
  WriteResult,
} from '../kit/contract.js';
import { MemoryBackend } from './memory-backend.js';

export {
  DEFAULT_EPOCH_MS,
  MEMORY_METHODS,
  ManualClock,
  MemoryBackend,
  memoryClientId,
  type BackendItem,
  type MemoryBackendOptions,
  type MemoryMethod,
  type MemorySnapshot,
  type MemoryWriteMethod,
  type WriteObserver,
} from './memory-backend.js';

/**
 * A connector on a `MemoryBackend`. Each method is one request to the backend (counted, and subject
 * to the backend's injected faults). The server's time is the backend's clock: the connector keeps
 * the `ConnectorEnv` it was made with but needs no time of its own.
 *
 * Invariants (those of `Connector`, held strictly):
 * - `capabilities` always match what the backend does (they follow `setReadOnly` / `setVisibilityLag`);
 * - reads show only `capabilities.fields`; updates replace only them and never touch the rest;
 * - a cursor is never silently turned into a full listing (`cursor_invalid` instead);
 * - any call after `close()` throws (an engine bug, not a provider error).
 */
export class MemoryConnector implements Connector {
  private closed = false;

  constructor(
    readonly backend: MemoryBackend,
    readonly env: ConnectorEnv,
  ) {}

  get capabilities(): Capabilities {
    return this.backend.capabilities;
  }

  async identity(): Promise<string> {
    this.checkOpen();
    return this.backend.serveIdentity();
  }

  async *pull(req: PullRequest): AsyncGenerator<PullPage> {
    this.checkOpen();
    for await (const page of this.backend.servePull(req)) {
      yield page;
      this.checkOpen();
    }
  }

  async get(id: string): Promise<RemoteItem | null> {
    this.checkOpen();
    return this.backend.serveGet(id);
  }

  async findByMarker(marker: string): Promise<RemoteItem[]> {
    this.checkOpen();
    return this.backend.serveFindByMarker(marker);
  }

  async create(card: Card, opts: { marker: string }): Promise<WriteResult> {
    this.checkOpen();
    return this.backend.serveCreate(card, opts);
  }

  async update(id: string, card: Card, opts: { ifMatch: string | null; changed: readonly FieldPath[] }): Promise<WriteResult> {
    this.checkOpen();
    return this.backend.serveUpdate(id, card, opts);
  }

  async delete(id: string, opts: { ifMatch: string | null }): Promise<void> {
    this.checkOpen();
    this.backend.serveDelete(id, opts);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('memory connector used after close()');
  }
}

/** Named backends a `memoryConnectorFactory` resolves `{ backend: name }` configs against. */
export class MemoryRegistry {
  private readonly backends = new Map<string, MemoryBackend>();

  constructor(entries: Iterable<readonly [string, MemoryBackend]> | Record<string, MemoryBackend> = []) {
    const pairs = Symbol.iterator in entries ? entries : Object.entries(entries);
    for (const [name, backend] of pairs) this.add(name, backend);
  }

  /** Registers `backend` under `name` (which must be free) and returns it. */
  add(name: string, backend: MemoryBackend): MemoryBackend {
    if (this.backends.has(name)) throw new Error(`memory registry: a backend named ${JSON.stringify(name)} exists`);
    this.backends.set(name, backend);
    return backend;
  }

  get(name: string): MemoryBackend | undefined {
    return this.backends.get(name);
  }

  /** The backend named `name`; throws an Error naming the `backend` setting when there is none. */
  require(name: string): MemoryBackend {
    const b = this.backends.get(name);
    if (b === undefined) {
      throw new Error(`memory connector: setting "backend": no backend named ${JSON.stringify(name)} (known: ${this.names().join(', ') || 'none'})`);
    }
    return b;
  }

  names(): string[] {
    return [...this.backends.keys()].sort();
  }
}

export interface MemoryConnectorConfig {
  /** The name of a backend in the factory's registry. */
  backend: string;
}

/** What a memory spoke declares before a backend is chosen: the default `MemoryBackend` profile. */
const DEFAULT_CAPABILITIES: Capabilities = new MemoryBackend().capabilities;

/**
 * The `memory` connector type, resolving backends by name in `registry`. The static `capabilities`
 * are those of a default backend; a connector's own follow its backend's options.
 */
export function memoryConnectorFactory(registry: MemoryRegistry): ConnectorFactory<MemoryConnectorConfig> {
  return {
    type: 'memory',
    label: 'In-memory address book (tests)',
    capabilities: DEFAULT_CAPABILITIES,
    parseConfig(raw: Record<string, unknown>): MemoryConnectorConfig {
      for (const key of Object.keys(raw)) {
        if (key !== 'backend') throw new Error(`memory connector: unknown setting ${JSON.stringify(key)}`);
      }
      const name = raw['backend'];
      if (typeof name !== 'string' || name.trim() === '') {
        throw new Error('memory connector: setting "backend" must be a non-empty string');
      }
      registry.require(name.trim());
      return { backend: name.trim() };
    },
    create(config: MemoryConnectorConfig, env: ConnectorEnv): Connector {
      return new MemoryConnector(registry.require(config.backend), env);
    },
  };
}
