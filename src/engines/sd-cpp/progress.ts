/** One step of an sd-cli progress bar. */
export interface SdProgressStep {
  step: number;
  steps: number;
  /** Seconds per iteration (sd-cli prints it/s when faster than one per second; converted here). */
  secondsPerStep: number;
}

// sd-cli redraws its bar in place: "\r  |=====>     | 3/20 - 1.23s/it\x1b[K", a newline only after
// the last step. Loading bars print MB/s instead of s/it or it/s and are deliberately not matched.
const BAR = /\|[=> ]*\|\s*(\d+)\/(\d+)\s*-\s*([\d.]+)(s\/it|it\/s)/;
// Built from a string: a literal ESC in a regex trips no-control-regex.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** Parses one output line (already split on `\r` and `\n`) as a progress step, or undefined. */
export function parseProgressLine(line: string): SdProgressStep | undefined {
  const match = BAR.exec(line.replace(ANSI, ''));
  if (!match) return undefined;
  const step = Number(match[1]);
  const steps = Number(match[2]);
  const speed = Number(match[3]);
  if (!(steps > 0) || step > steps) return undefined;
  const secondsPerStep = match[4] === 'it/s' ? (speed > 0 ? 1 / speed : 0) : speed;
  return { step, steps, secondsPerStep };
}

/**
 * Splits a byte stream into lines on `\n` or `\r` (sd-cli's bar uses bare carriage returns),
 * keeping a partial line until its end arrives. `flush()` returns what is left.
 */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split(/\r\n|\r|\n/);
    this.rest = parts.pop() ?? '';
    return parts.filter((line) => line.trim() !== '');
  }

  flush(): string[] {
    const last = this.rest;
    this.rest = '';
    return last.trim() === '' ? [] : [last];
  }
}

/** The text of a line without terminal escapes, as it should appear in logs and error messages. */
export function cleanLine(line: string): string {
  return line.replace(ANSI, '').trim();
}
