/**
 * vCard 2.1 → vCard 3.0 pre-processing. ical.js reads vCard 3.0 and 4.0 only; vCard 2.1 (the
 * versit spec, still written by older phones and Outlook exports) differs in four ways that matter
 * here, and this module rewrites exactly those, one content line at a time, before ical.js parses:
 *
 * 1. QUOTED-PRINTABLE values (2.1 §2.1.3, RFC 2045 §6.7) may continue over "soft" line breaks: a
 *    line ending in `=` continues on the next physical line, which need not start with whitespace.
 *    Such lines are joined and the value decoded to bytes, then to text with the CHARSET parameter
 *    (UTF-8 when absent or invalid UTF-8 falls back to windows-1252, a superset of Latin-1).
 * 2. Parameters may be bare type names (`TEL;CELL;HOME:`); they become `TYPE=CELL,HOME`.
 *    `ENCODING=BASE64` becomes the 3.0 `ENCODING=b` (RFC 2426 §5.1), `VALUE=URL` becomes
 *    `VALUE=uri`; CHARSET, 7BIT and 8BIT are dropped (the text is decoded by then).
 * 3. Escaping: in 2.1 only `\;` is an escape (inside compound values); commas, backslashes and line
 *    breaks are literal. Text values are re-escaped the 3.0 way (`\\`, `\,`, `\;`, `\n`).
 * 4. Folding: a 2.1 continuation line keeps its leading whitespace (2.1 §2.1.3 "unfolding is
 *    accomplished by regarding CRLF immediately followed by a white space character as equivalent
 *    to no characters" refers to the CRLF only). Base64 continuation lines are concatenated with all
 *    whitespace removed, and the blank line that ends a 2.1 base64 value is skipped.
 *
 * The same rewrite is used for 3.0 cards that carry QUOTED-PRINTABLE values (some exporters do),
 * with 3.0 unfolding (the single leading whitespace character is removed).
 */
import { TextDecoder } from 'node:util';

export interface V21Problem {
  field: string;
  message: string;
}

export interface V21Line {
  /** An unfolded 3.0 content line, or a line of a nested vCard as written. */
  text: string;
  /** A line of a nested vCard (a 2.1 AGENT): not to be parsed as a property of this card. */
  nested: boolean;
}

export interface V21Result {
  /** Content lines (no BEGIN/END of this card), ready for ical.js. */
  lines: V21Line[];
  problems: V21Problem[];
}

/** Properties whose values are not text in 3.0 and must not be text-escaped. */
const NOT_TEXT: ReadonlySet<string> = new Set([
  'URL', 'PHOTO', 'LOGO', 'SOUND', 'KEY', 'BDAY', 'REV', 'GEO', 'TZ', 'AGENT', 'VERSION', 'UID',
]);
/** Compound properties: `;` separates components (2.1 §2.3, §2.2.2, §2.4.1; RFC 2426 §3.1.2). */
const STRUCTURED: ReadonlySet<string> = new Set(['N', 'ADR', 'ORG']);
/** Properties whose commas separate values in practice even in 2.1 (RFC 2426 §3.6.1 syntax). */
const COMMA_LISTS: ReadonlySet<string> = new Set(['CATEGORIES', 'NICKNAME']);
const DROPPED_PARAMS: ReadonlySet<string> = new Set(['CHARSET', '7BIT', '8BIT']);
const HEX = /^[0-9A-Fa-f]{2}$/;
const WS = /\s+/g;
const LINE_BREAK = /\r\n|\r|\n/g;

interface Head {
  name: string;
  /** The bare property name, upper case, without a group. */
  bare: string;
  params: string[];
  types: string[];
  qp: boolean;
  base64: boolean;
  charset: string | null;
}

/** Splits `group.NAME;P1;P2=V:value` at the first colon that is outside double quotes. */
function splitLine(line: string): [string, string] | null {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return [line.slice(0, i), line.slice(i + 1)];
  }
  return null;
}

function parseHead(head: string): Head {
  const parts = head.split(';');
  const name = (parts[0] ?? '').trim();
  const dot = name.lastIndexOf('.');
  const out: Head = {
    name, bare: (dot >= 0 ? name.slice(dot + 1) : name).toUpperCase(),
    params: [], types: [], qp: false, base64: false, charset: null,
  };
  for (const raw of parts.slice(1)) {
    const p = raw.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const key = (eq >= 0 ? p.slice(0, eq) : p).trim().toUpperCase();
    const value = eq >= 0 ? p.slice(eq + 1).trim() : '';
    if (eq < 0) {
      // A bare parameter: an encoding, or a type name (2.1 §2.1.2 allows the type name alone).
      if (key === 'QUOTED-PRINTABLE') out.qp = true;
      else if (key === 'BASE64' || key === 'B') out.base64 = true;
      else if (!DROPPED_PARAMS.has(key)) out.types.push(key);
    } else if (key === 'ENCODING') {
      const enc = value.toUpperCase();
      if (enc === 'QUOTED-PRINTABLE') out.qp = true;
      else if (enc === 'BASE64' || enc === 'B') out.base64 = true;
      else if (!DROPPED_PARAMS.has(enc)) out.params.push(`ENCODING=${value}`);
    } else if (key === 'CHARSET') {
      out.charset = value.replace(/^"|"$/g, '');
    } else if (key === 'TYPE') {
      for (const t of value.split(',')) if (t.trim() !== '') out.types.push(t.trim());
    } else if (key === 'VALUE' && value.toUpperCase() === 'URL') {
      out.params.push('VALUE=uri');
    } else {
      out.params.push(`${key}=${value}`);
    }
  }
  return out;
}

function isQuotedPrintable(line: string): boolean {
  const cut = splitLine(line);
  return cut !== null && parseHead(cut[0]).qp;
}

const decoders = new Map<string, TextDecoder | null>();

function decoderFor(label: string, fatal: boolean): TextDecoder | null {
  const id = `${label.toLowerCase()}|${fatal ? 'f' : ''}`;
  let d = decoders.get(id);
  if (d === undefined) {
    try {
      d = new TextDecoder(label, { fatal });
    } catch {
      d = null;
    }
    decoders.set(id, d);
  }
  return d;
}

/** RFC 2045 §6.7 decoding to bytes; malformed `=` sequences are kept literally. */
export function decodeQuotedPrintable(value: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3d /* = */) {
      const hex = value.slice(i + 1, i + 3);
      if (HEX.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
        continue;
      }
      if (i === value.length - 1) continue; // a trailing soft break
    }
    if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(value[i] ?? '', 'utf8')) bytes.push(b);
  }
  return Uint8Array.from(bytes);
}

/** Decodes QP bytes with the declared charset; problems go to `problems`. */
function decodeText(bytes: Uint8Array, charset: string | null, field: string, problems: V21Problem[]): string {
  const label = charset?.toLowerCase() ?? null;
  let unknown = false;
  if (label !== null && label !== 'utf-8' && label !== 'utf8') {
    const d = decoderFor(label, false);
    if (d) return d.decode(bytes);
    unknown = true;
  }
  try {
    const text = decoderFor('utf-8', true)?.decode(bytes) ?? '';
    if (unknown) problems.push({ field, message: `unknown CHARSET "${charset ?? ''}", read as UTF-8` });
    return text;
  } catch {
    if (label !== null) {
      problems.push({
        field,
        message: unknown ? `unknown CHARSET "${charset ?? ''}" and not UTF-8, read as windows-1252` : 'value is not valid UTF-8, read as windows-1252',
      });
    }
    return decoderFor('windows-1252', false)?.decode(bytes) ?? '';
  }
}

/** Splits on semicolons that are not escaped as `\;` (the only 2.1 escape). */
function splitComponents(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && value[i + 1] === ';') {
      cur += ';';
      i++;
    } else if (c === ';') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function escape3(text: string, commaIsSeparator: boolean): string {
  let t = text.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(LINE_BREAK, '\\n');
  if (!commaIsSeparator) t = t.replace(/,/g, '\\,');
  return t;
}

function convertLine(line: string, problems: V21Problem[], is21: boolean): string | null {
  const cut = splitLine(line);
  if (cut === null) {
    if (!is21) return line; // ical.js reports it
    problems.push({ field: line.slice(0, 20), message: 'not a content line (no ":"), dropped' });
    return null;
  }
  const head = parseHead(cut[0]);
  let value = cut[1];
  if (head.bare === 'VERSION') return is21 ? 'VERSION:3.0' : line;
  if (!is21) {
    // A 3.0 card with a QUOTED-PRINTABLE value: the decoded text is 3.0 text already, except for
    // real line breaks, which become `\n`. Other lines are 3.0 and pass through.
    if (!head.qp) return line;
    value = decodeText(decodeQuotedPrintable(value), head.charset, head.bare, problems).replace(LINE_BREAK, '\\n');
    const params = [...head.params];
    if (head.types.length > 0) params.push(`TYPE=${head.types.join(',')}`);
    return `${head.name}${params.map((p) => `;${p}`).join('')}:${value}`;
  }
  if (head.qp) value = decodeText(decodeQuotedPrintable(value), head.charset, head.bare, problems);
  if (head.base64) value = value.replace(WS, '');
  else if (!NOT_TEXT.has(head.bare)) {
    const lists = COMMA_LISTS.has(head.bare);
    value = STRUCTURED.has(head.bare)
      ? splitComponents(value).map((c) => escape3(c, lists)).join(';')
      : escape3(value.replace(/\\;/g, ';'), lists);
  }
  const params = [...head.params];
  if (head.base64) params.push('ENCODING=b');
  if (head.types.length > 0) params.push(`TYPE=${head.types.join(',')}`);
  return `${head.name}${params.map((p) => `;${p}`).join('')}:${value}`;
}

const BEGIN_VCARD = /^begin:vcard\s*$/i;
/** Marks a nested-card line in the working list (a NUL never occurs in a content line). */
const NESTED_MARK = '\u0000';
const END_VCARD = /^end:vcard\s*$/i;

/**
 * Converts the physical content lines of one card (between BEGIN:VCARD and END:VCARD, exclusive) to
 * unfolded vCard 3.0 content lines. `is21` is true for a 2.1 card (2.1 unfolding and
 * escaping, see the module comment); false for a 3.0 card with QUOTED-PRINTABLE values, where only
 * those values are decoded and everything else is left as it is.
 * Lines of a nested vCard (a 2.1 AGENT) are passed through untouched.
 */
export function vcard21ToV3Lines(physical: readonly string[], is21 = true): V21Result {
  const problems: V21Problem[] = [];
  const logical: string[] = [];
  let base64Open = false;
  let depth = 0;
  for (let i = 0; i < physical.length; i++) {
    let line = physical[i] ?? '';
    if (depth > 0 || BEGIN_VCARD.test(line)) {
      if (BEGIN_VCARD.test(line)) depth++;
      else if (END_VCARD.test(line)) depth--;
      logical.push(NESTED_MARK + line);
      continue;
    }
    if (line.trim() === '') {
      base64Open = false;
      continue;
    }
    const first = line[0];
    if ((first === ' ' || first === '\t') && logical.length > 0) {
      const last = logical.length - 1;
      logical[last] += base64Open ? line.trim() : is21 ? line : line.slice(1);
      continue;
    }
    // QP soft line breaks: `=` at the end of a QP line joins the next physical line verbatim.
    if (isQuotedPrintable(line)) {
      while (line.endsWith('=') && i + 1 < physical.length) line = line.slice(0, -1) + (physical[++i] ?? '');
    }
    const cut = splitLine(line);
    base64Open = cut !== null && parseHead(cut[0]).base64;
    logical.push(line);
  }
  const lines: V21Line[] = [];
  for (const l of logical) {
    if (l.startsWith(NESTED_MARK)) {
      lines.push({ text: l.slice(1), nested: true });
      continue;
    }
    const converted = convertLine(l, problems, is21);
    if (converted !== null) lines.push({ text: converted, nested: false });
  }
  return { lines, problems };
}
