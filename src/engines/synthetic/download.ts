import { insecureProblem, messageWithCause } from '../../util/index.js';
import { abortError } from '../abort.js';
import { EngineError } from '../types.js';

/** An input larger than this is not something a synthetic transcription should buffer. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** HTTP statuses that say "try again later" although they are 4xx. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/**
 * Downloads a job input over http(s). A 4xx is the job's fault (non-retryable); network errors
 * and 5xx may pass on another attempt (retryable). Aborts reject with an AbortError.
 */
export async function downloadInput(url: string, signal: AbortSignal): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EngineError(`input URL ${JSON.stringify(url)} is not a valid URL`, false);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new EngineError(`input URL ${url} must be http or https, not ${parsed.protocol}`, false);
  }
  const insecure = insecureProblem(parsed, false);
  if (insecure) throw new EngineError(`${insecure} (${url})`, false);
  try {
    const response = await fetch(parsed, { signal });
    if (!response.ok) {
      await response.body?.cancel();
      const retryable = response.status >= 500 || RETRYABLE_4XX.has(response.status);
      throw new EngineError(
        `downloading ${url} failed: HTTP ${response.status} ${response.statusText}`,
        retryable,
      );
    }
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_INPUT_BYTES) {
      await response.body?.cancel();
      throw tooLarge(url);
    }
    return await readCapped(response, url);
  } catch (e) {
    if (signal.aborted) throw abortError(signal);
    if (e instanceof EngineError) throw e;
    throw new EngineError(`downloading ${url} failed: ${messageWithCause(e)}`, true, { cause: e });
  }
}

async function readCapped(response: Response, url: string): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop early cancels the stream, which closes the connection.
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > MAX_INPUT_BYTES) break;
    chunks.push(chunk);
  }
  if (total > MAX_INPUT_BYTES) throw tooLarge(url);
  return new Uint8Array(Buffer.concat(chunks));
}

function tooLarge(url: string): EngineError {
  return new EngineError(`input ${url} is larger than ${MAX_INPUT_BYTES} bytes`, false);
}
