/** Plain-text tables and small formatting helpers for CLI output. */
import stringWidth from 'string-width';

/**
 * The widest a table cell is shown, in terminal columns. Values a person wrote can be long (a note
 * of several paragraphs lost a conflict): one such cell padded every row of the table to its width.
 * The full values are in each command's `--json` output.
 */
export const MAX_CELL_WIDTH = 60;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * One cell as one line of at most `max` terminal columns: line breaks become ⏎ (a table row must stay
 * one row), other control characters a space, and a longer text ends in "…". Widths are counted in
 * terminal columns, not UTF-16 units (CJK characters and most emoji take two: string-width).
 */
export function cell(text: string, max = MAX_CELL_WIDTH): string {
  const flat = oneLine(text);
  if (stringWidth(flat) <= max) return flat;
  let out = '';
  let width = 0;
  for (const { segment } of graphemes.segment(flat)) {
    const w = stringWidth(segment);
    if (width + w > max - 1) break;
    out += segment;
    width += w;
  }
  return `${out}…`;
}

/** True when `cell` shortens this text. */
export function isCut(text: string, max = MAX_CELL_WIDTH): boolean {
  return stringWidth(oneLine(text)) > max;
}

function oneLine(text: string): string {
  // \p{Cc}: the C0 and C1 control characters (tabs, escapes that would move a terminal's cursor).
  return text.replace(/\r\n|[\n\r\u2028\u2029]/g, '⏎').replace(/\p{Cc}/gu, ' ');
}

/**
 * Columns padded to their widest cell. Every cell is one line; all but the last column are cut to
 * `MAX_CELL_WIDTH` (the last is padded to nothing, so a long value there lengthens its own row only).
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const last = headers.length - 1;
  const shown = rows.map((r) => r.map((c, i) => (i < last ? cell(c) : oneLine(c))));
  const widths = headers.map((h, i) => Math.max(stringWidth(h), ...shown.map((r) => stringWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - stringWidth(c)))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...shown.map(line)].join('\n');
}

export function when(ms: number | null | undefined): string {
  if (!ms) return 'never';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
