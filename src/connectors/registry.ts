/**
 * The spoke types this installation knows. Adding a type is adding its factory here; nothing else
 * in the engine, the CLI or the UI names a provider.
 */
import { googlePeopleConnectorFactory } from './google-people/connector.js';
import type { ConnectorFactory } from './kit/contract.js';
import { carddavConnectorFactory } from './carddav/carddav-connector.js';
import { vdirConnectorFactory } from './vdir/vdir-connector.js';
import { m365ContactsFactory } from './m365-contacts/m365-contacts-connector.js';
import { m365GalFactory } from './m365-gal/m365-gal-connector.js';

export function builtinConnectors(opts: { endpoints?: Record<string, string | undefined> } = {}): Map<string, ConnectorFactory> {
  const list: ConnectorFactory[] = [vdirConnectorFactory as ConnectorFactory, carddavConnectorFactory as ConnectorFactory];
  // Microsoft 365: HUBSYNC_GRAPH_URL stands in for https://graph.microsoft.com (an emulator).
  const graphUrl = opts.endpoints?.HUBSYNC_GRAPH_URL;
  list.push(m365ContactsFactory({ graphUrl }) as ConnectorFactory, m365GalFactory({ graphUrl }) as ConnectorFactory);
  // Google Contacts: HUBSYNC_GOOGLE_API_URL stands in for https://people.googleapis.com.
  list.push(googlePeopleConnectorFactory(opts.endpoints) as ConnectorFactory);
  return new Map(list.map((f) => [f.type, f]));
}
