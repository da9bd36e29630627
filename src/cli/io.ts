/** Where the CLI writes: the process's streams, or a capture in tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress is drawn only there). */
  isTTY: boolean;
}

/**
 * The reader of a pipe can go away first (`hubsync conflicts HUB | head`): the next write fails
 * with EPIPE, and an unhandled stream error would end the process with a stack trace in the middle
 * of its work. Writes to a closed pipe are dropped instead, and the command ends as it would have,
 * with its own exit code (a sync still finishes and records its run).
 */
const closed = new WeakSet<NodeJS.WriteStream>();
const guarded = new WeakSet<NodeJS.WriteStream>();

function writeTo(stream: NodeJS.WriteStream, text: string): void {
  if (!guarded.has(stream)) {
    guarded.add(stream);
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      closed.add(stream);
    });
  }
  if (closed.has(stream)) return;
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

export const processIo: Io = {
  out: (t) => writeTo(process.stdout, t),
  err: (t) => writeTo(process.stderr, t),
  isTTY: Boolean(process.stderr.isTTY),
};

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
