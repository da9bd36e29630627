/**
 * The web app's log: pino JSON lines for a service (systemd, Docker, a pipe to a log shipper), and
 * one readable line per event when a person runs `npm start` in a terminal.
 *
 * `HUBSYNC_LOG_FORMAT` chooses: `json` or `pretty`; unset, a terminal gets `pretty` and anything
 * else `json`. `HUBSYNC_LOG_LEVEL` sets the level (default `info`).
 */
import type { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { build as prettyStream } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

export function logFormat(env: Record<string, string | undefined>, out: { isTTY?: boolean }): LogFormat {
  const asked = env.HUBSYNC_LOG_FORMAT?.trim().toLowerCase();
  if (asked === 'json' || asked === 'pretty') return asked;
  if (asked) throw new Error(`HUBSYNC_LOG_FORMAT must be "json" or "pretty" (got "${env.HUBSYNC_LOG_FORMAT}")`);
  return out.isTTY === true ? 'pretty' : 'json';
}

interface RequestLine {
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
}

/**
 * "GET /setup → 200 (3 ms)" for a finished request (server.ts logs one per request), else the
 * message; the fields that follow it on the line are the event's own (hub, spoke, error…).
 */
function message(log: Record<string, unknown>, key: string): string {
  const { req, res, responseTime } = log as RequestLine;
  if (req?.method && res?.statusCode !== undefined) {
    return `${req.method} ${req.url ?? ''} → ${res.statusCode}${typeof responseTime === 'number' ? ` (${Math.round(responseTime)} ms)` : ''}`;
  }
  return String(log[key] ?? '');
}

export function serverLogger(env: Record<string, string | undefined>, out: Writable & { isTTY?: boolean } = process.stdout): Logger {
  const level = env.HUBSYNC_LOG_LEVEL ?? 'info';
  if (logFormat(env, out) === 'json') return pino({ level }, out);
  return pino(
    { level },
    prettyStream({
      destination: out,
      colorize: out.isTTY === true,
      translateTime: 'SYS:HH:MM:ss',
      singleLine: true,
      // A request's details are in its message; the process id, host name and request id tell a
      // person at the terminal nothing.
      ignore: 'pid,hostname,reqId,req,res,responseTime',
      messageFormat: message,
      // Written as it comes, so a line is on the screen before the process can die.
      sync: true,
    }),
  );
}
