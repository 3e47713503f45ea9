/**
 * Child process of the upload-memory bench: uploads one file with the worker's own StudioHttp and
 * prints one JSON line {beforeMb, peakMb, hwmMb, afterMb, ms}. Run alone so that its RSS is the
 * upload's and nothing else's.
 *
 * argv: apiBaseUrl workerId authToken jobId filePath
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { StudioHttp } from '../src/studio/index.js';
import { MB, procMemMb } from './stats.js';

async function main(): Promise<void> {
  const [apiBaseUrl, workerId, authToken, jobId, filePath] = process.argv.slice(2);
  if (!apiBaseUrl || !workerId || !authToken || !jobId || !filePath) {
    throw new Error('usage: upload-child <apiBaseUrl> <workerId> <authToken> <jobId> <filePath>');
  }
  const http = new StudioHttp({
    apiBaseUrl,
    userAgent: 'studio-worker/bench',
    log: pino({ level: 'silent' }),
  });
  // Let start-up garbage settle so "before" is the resting size of a process ready to upload.
  await new Promise((r) => setTimeout(r, 200));
  globalThis.gc?.();
  const beforeMb = process.memoryUsage.rss() / MB;
  // Linux: "5" resets VmHWM to the current RSS, so VmHWM afterwards is this upload's true peak.
  const hwmReset = await writeFile('/proc/self/clear_refs', '5').then(
    () => true,
    () => false,
  );
  let peakMb = beforeMb;
  const sampler = setInterval(() => {
    peakMb = Math.max(peakMb, process.memoryUsage.rss() / MB);
  }, 50);
  const t0 = performance.now();
  try {
    await http.uploadResult({ workerId, jobId, authToken, filePath, ext: 'webp', prompt: 'upload bench' });
  } finally {
    clearInterval(sampler);
    await http.close();
  }
  const ms = performance.now() - t0;
  const afterMb = process.memoryUsage.rss() / MB;
  peakMb = Math.max(peakMb, afterMb);
  const hwmMb = hwmReset ? await procMemMb('self', 'VmHWM') : undefined;
  process.stdout.write(`${JSON.stringify({ beforeMb, peakMb, hwmMb, afterMb, ms })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`upload-child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
