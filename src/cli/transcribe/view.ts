import type { ServerMessage } from './client.js';

/** How the listener's messages are shown; errors are not, since the command ends on them in one stderr line. */
export interface TranscriptView {
  message: (message: ServerMessage) => void;
  /** The stream ended without a final: leave the terminal on a fresh line for the error. */
  abandon: () => void;
}

/** Where the view writes: stdout, as far as it needs it. */
export interface ViewOutput {
  write: (text: string) => unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Every message as one JSON line, exactly as the listener sent it (unknown kinds too, for scripts). */
export function jsonView(out: ViewOutput): TranscriptView {
  return {
    message: (m) => {
      if (m.raw !== undefined) out.write(`${JSON.stringify(m.raw)}\n`);
    },
    abandon: () => undefined,
  };
}

const CLEAR_LINE = '\r\x1b[2K';

/**
 * For people: on a terminal the partial transcript rewrites one line (its tail, when it outgrows the
 * width, since a wrapped line cannot be rewritten with `\r`) and the final replaces it; in a pipe
 * or file every partial is a line of its own and the final is the last line.
 */
export function humanView(out: ViewOutput): TranscriptView {
  let lineOpen = false;
  return {
    message: (m) => {
      if (m.kind === 'partial') {
        if (!out.isTTY) {
          out.write(`${m.text}\n`);
          return;
        }
        // A pty without a size (script, some CI) says 0 columns.
        out.write(`${CLEAR_LINE}${fitTail(m.text, out.columns || 80)}`);
        lineOpen = true;
      } else if (m.kind === 'final') {
        out.write(`${out.isTTY ? CLEAR_LINE : ''}${m.text}\n`);
        lineOpen = false;
      }
    },
    abandon: () => {
      if (lineOpen) out.write('\n');
      lineOpen = false;
    },
  };
}

/** The end of `text` that fits in `columns - 1` (the last column would wrap on some terminals). */
export function fitTail(text: string, columns: number): string {
  const room = Math.max(10, columns - 1);
  const chars = [...text];
  return chars.length <= room ? text : `…${chars.slice(chars.length - room + 1).join('')}`;
}
