/**
 * Outgoing mail (invitations). With SMTP settings (HUBSYNC_SMTP_URL, e.g.
 * `smtp://user:pass@mail.example.com:587`) mail goes out through nodemailer; without them it is
 * kept in the outbox (shown on the Outbox page) and logged, so a self-hosted trial works without
 * a mail server. Every message is recorded in the outbox either way, with whether it was sent.
 */
import nodemailer from 'nodemailer';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Schema } from '../store/schema.js';

export interface Mail {
  orgId: string;
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** True when mail really leaves the server (SMTP configured). */
  readonly smtp: boolean;
  send(m: Mail): Promise<{ sent: boolean; error?: string }>;
}

export function createMailer(opts: { db: Kysely<Schema>; log: Logger; smtpUrl?: string | undefined; from: string; ids: () => string; now: () => number }): Mailer {
  const transport = opts.smtpUrl ? nodemailer.createTransport(opts.smtpUrl) : null;
  return {
    smtp: transport !== null,
    async send(m) {
      let sent = false;
      let error: string | undefined;
      if (transport) {
        try {
          await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text });
          sent = true;
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
          opts.log.error({ to: m.to, err: error }, 'mail could not be sent');
        }
      } else {
        // The log line is how an operator without SMTP finds the link (docs/web.md).
        opts.log.info({ to: m.to, subject: m.subject, body: m.text }, 'mail kept in the outbox (no SMTP configured)');
      }
      await opts.db
        .insertInto('outbox')
        .values({ id: opts.ids(), org_id: m.orgId, to_addr: m.to, subject: m.subject, body: m.text, sent: sent ? 1 : 0, error: error ?? null, created_at: opts.now() })
        .execute();
      return error ? { sent, error } : { sent };
    },
  };
}
