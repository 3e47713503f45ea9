/**
 * A child process that serves one file over HTTP on 127.0.0.1 (argv[2]: its path) and writes its
 * URL as one line on stdout; it exits when its stdin closes. The download bench uses it so that the
 * server's reads and writes do not share the measured process's main thread.
 */
// Straight from its module: this child only serves files and need not load the demo's worker.
import { ModelHost } from '../src/demo/model-host.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: file-server-child.js <path>');
const host = new ModelHost();
await host.start();
process.stdout.write(`${host.add('file', path)}\n`);
process.stdin.resume();
process.stdin.once('end', () => {
  host.close().catch(() => undefined);
});
