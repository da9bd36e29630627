/**
 * The spoke types this installation knows. Adding a type is adding its factory here; nothing else
 * in the engine, the CLI or the UI names a provider.
 */
import type { ConnectorFactory } from './kit/contract.js';
import { vdirConnectorFactory } from './vdir/vdir-connector.js';

export function builtinConnectors(): Map<string, ConnectorFactory> {
  const list: ConnectorFactory[] = [vdirConnectorFactory as ConnectorFactory];
  return new Map(list.map((f) => [f.type, f]));
}
