import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

let full: typeof Undici | undefined;

/**
 * undici, loaded on first use: the model cache's downloads and a job's input fetches need it, and a
 * worker that downloads nothing never loads it (its index brings fetch, WebSocket, the HTTP caches,
 * the llhttp WebAssembly parser and node:http2: ~8 MB resident here). The studio's routes and the
 * update check use node:http (`httpRequest`).
 */
export function undici(): typeof Undici {
  return (full ??= require('undici') as typeof Undici);
}
