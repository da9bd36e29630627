/**
 * A one-line progress display for long syncs on a terminal: which spoke, which phase, how many
 * contacts so far (and a bar when the total is known). Redrawn at most ten times a second; nothing
 * is drawn when stderr is not a terminal or when --json is asked for.
 */
import type { ProgressEvent } from '../engine/run/context.js';

export interface ProgressLine {
  update(ev: ProgressEvent): void;
  done(): void;
}

export function progressLine(write: (s: string) => void, enabled: boolean, now: () => number = Date.now): ProgressLine {
  let last = 0;
  let drawn = false;
  const phases: Record<ProgressEvent['phase'], string> = { pull: 'reading', verify: 'checking deletions in', push: 'writing to' };
  return {
    update(ev) {
      if (!enabled) return;
      const t = now();
      if (t - last < 100) return;
      last = t;
      let text = `${phases[ev.phase]} ${ev.spoke}: ${ev.done.toLocaleString('en-US')}`;
      if (ev.total) {
        const width = 24;
        const filled = Math.round((Math.min(ev.done, ev.total) / ev.total) * width);
        text = `${phases[ev.phase]} ${ev.spoke} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${ev.done}/${ev.total}`;
      } else {
        text += ' contacts';
      }
      write(`\r\x1b[2K${text}`);
      drawn = true;
    },
    done() {
      if (drawn) write('\r\x1b[2K');
      drawn = false;
    },
  };
}
