/**
 * Per-spoke sync options, as the seed's wizard shows them, and what they allow.
 */
// zod's "mini" build: the same checks, tree-shaken. The full build was 750 KB of the CLI bundle
// (a quarter of it), parsed at every start for this one schema.
import * as z from 'zod/mini';
import type { Capabilities } from '../../connectors/kit/contract.js';
import { parseCondition, type Condition } from './conditions.js';

/** The longest interval between two full listings that can be set: 30 days. */
export const MAX_FULL_LISTING_HOURS = 720;

export const spokeOptionsSchema = z.object({
  /**
   * "Allow Hub to create and sync items in this spoke". Off by default: until it is ticked the
   * spoke only feeds the hub, and nothing is written to it (the seed's step 9).
   */
  allowCreate: z._default(z.boolean(), false),
  /** `to-hub`: the spoke only ever feeds the hub, whatever the other options say. */
  direction: z._default(z.enum(['two-way', 'to-hub']), 'two-way'),
  /** The hub may update contacts it shares with this spoke (when writes are allowed at all). */
  allowUpdate: z._default(z.boolean(), true),
  /** The hub may delete contacts in this spoke (when writes are allowed at all). */
  allowDelete: z._default(z.boolean(), true),
  /** Conditions a contact must meet to be sent to this spoke (all of them). Source strings. */
  conditions: z._default(z.array(z.string()), []),
  /** Region for phone numbers written without a country code (ISO 3166-1 alpha-2). */
  defaultRegion: z._default(z.string().check(z.regex(/^[A-Z]{2}$/)), 'US'),
  /**
   * How often a spoke followed by a change cursor (Google, Microsoft 365, CardDAV with
   * sync-collection) is listed in full anyway, in hours (design B9, engine/run/context.ts): daily
   * by default; more often for a provider whose change feed is known to drop changes, less often to
   * spare a large mailbox's API quota. Spokes listed in full at every run (a vdir folder) ignore it.
   */
  fullListingHours: z._default(z.int().check(z.minimum(1), z.maximum(MAX_FULL_LISTING_HOURS)), 24),
});

export type SpokeOptions = z.infer<typeof spokeOptionsSchema>;

export function defaultSpokeOptions(): SpokeOptions {
  return spokeOptionsSchema.parse({});
}

export interface WritePolicy {
  create: boolean;
  update: boolean;
  delete: boolean;
  conditions: Condition[];
}

/** What the hub may do to a spoke, from its options and its connector's capabilities. */
export function writePolicy(opts: SpokeOptions, caps: Capabilities): WritePolicy {
  const writes = !caps.readOnly && opts.direction === 'two-way' && opts.allowCreate;
  return {
    create: writes,
    update: writes && opts.allowUpdate,
    delete: writes && opts.allowDelete,
    conditions: opts.conditions.map(parseCondition),
  };
}
