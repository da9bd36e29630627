import type { PullRequest } from './contract.js';

/**
 * A `PullRequest.knownEtags` answered from a synchronous lookup (`undefined`: the hub has no such
 * item). For callers that already hold the etags in memory: tests, benchmarks, tools.
 */
export function knownEtagsFrom(lookup: (id: string) => string | null | undefined): PullRequest['knownEtags'] {
  return async (ids) => {
    const out = new Map<string, string | null>();
    for (const id of ids) {
      const etag = lookup(id);
      if (etag !== undefined) out.set(id, etag);
    }
    return out;
  };
}

/** A `PullRequest.knownEtags` for a hub that holds nothing yet. */
export const noKnownEtags: PullRequest['knownEtags'] = async () => new Map();
