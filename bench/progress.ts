/** Progress lines go to stderr so that `--json` leaves stdout holding only the result line. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
