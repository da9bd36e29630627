/**
 * The server side of "Sign in with …": a pending sign-in per `state` (RFC 6749 §10.12: the state
 * binds the callback to the browser that started it), PKCE (RFC 7636), and the callback that
 * hands the grant to whoever started the sign-in (the wizard, or an invitation).
 * Pending sign-ins live in memory for 10 minutes: a restart in the middle only means signing in again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerDeps } from './context.js';
import { HttpError } from './server.js';
import type { RouteConfig } from './server.js';
import type { OAuthGrant, OAuthProvider, PendingSignIn } from './oauth-provider.js';

export type SignInPurpose =
  | { kind: 'wizard'; sessionIdHash: string }
  | { kind: 'reauth'; sessionIdHash: string; hubId: string; spokeId: string }
  | { kind: 'invite'; inviteToken: string };

interface Pending {
  provider: string;
  signIn: PendingSignIn;
  purpose: SignInPurpose;
  expiresAt: number;
}

export type GrantHandler = (req: FastifyRequest, reply: FastifyReply, p: { provider: OAuthProvider; grant: OAuthGrant; purpose: SignInPurpose }) => Promise<FastifyReply>;

const PENDING_TTL_MS = 10 * 60_000;

export class SignIns {
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<SignInPurpose['kind'], GrantHandler>();

  constructor(private readonly deps: ServerDeps) {}

  redirectUri(): string {
    return `${this.deps.config.publicUrl.replace(/\/$/, '')}/oauth/callback`;
  }

  on(kind: SignInPurpose['kind'], h: GrantHandler): void {
    this.handlers.set(kind, h);
  }

  provider(id: string): OAuthProvider {
    const p = this.deps.providers.get(id);
    if (!p) throw new HttpError(400, `Sign-in with "${id}" is not configured on this server.`);
    return p;
  }

  /** Sends the browser to the provider's consent page. */
  async start(reply: FastifyReply, providerId: string, purpose: SignInPurpose, loginHint?: string): Promise<FastifyReply> {
    const provider = this.provider(providerId);
    const now = this.deps.now();
    for (const [k, v] of this.pending) if (v.expiresAt <= now) this.pending.delete(k);
    const signIn = await provider.begin({ redirectUri: this.redirectUri(), ...(loginHint ? { loginHint } : {}) });
    this.pending.set(signIn.state, { provider: provider.id, signIn, purpose, expiresAt: now + PENDING_TTL_MS });
    return reply.redirect(signIn.url);
  }

  register(app: FastifyInstance): void {
    app.get(
      '/oauth/callback',
      { config: { public: true } satisfies RouteConfig },
      async (req: FastifyRequest<{ Querystring: { code?: string; state?: string; error?: string; error_description?: string } }>, reply) => {
        const t = req.hs.t;
        const q = req.query;
        const pending = q.state ? this.pending.get(q.state) : undefined;
        if (!pending || pending.expiresAt <= this.deps.now()) throw new HttpError(400, t('oauth.expired'));
        this.pending.delete(q.state as string);
        if (pending.purpose.kind !== 'invite' && req.hs.session?.idHash !== pending.purpose.sessionIdHash) throw new HttpError(400, t('oauth.otherBrowser'));
        // The person said no on the consent page (RFC 6749 §4.1.2.1: error=access_denied).
        if (q.error || !q.code) throw new HttpError(400, q.error === 'access_denied' ? t('oauth.denied') : t('oauth.failed', { error: q.error_description ?? q.error ?? 'no code' }));
        const provider = this.provider(pending.provider);
        let grant: OAuthGrant;
        try {
          // The URL the provider redirected to, as the token request must repeat it (RFC 6749 §4.1.3).
          const callback = new URL(req.url, this.redirectUri());
          grant = await pending.signIn.finish(callback);
        } catch (e) {
          this.deps.log.warn({ provider: provider.id, err: e instanceof Error ? e.message : String(e) }, 'code exchange failed');
          throw new HttpError(502, t('oauth.failed', { error: e instanceof Error ? e.message : String(e) }));
        }
        const h = this.handlers.get(pending.purpose.kind);
        if (!h) throw new HttpError(500, 'no handler');
        return h(req, reply, { provider, grant, purpose: pending.purpose });
      },
    );
  }
}
