import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

let full: typeof Undici | undefined;
let core: UndiciCore | undefined;

/**
 * undici's whole API, loaded on first use: its index loads fetch, WebSocket, the HTTP caches and the
 * mocks as well (~8 MB resident here), which a worker that downloads nothing never needs.
 */
export function undici(): typeof Undici {
  return (full ??= require('undici') as typeof Undici);
}

export interface UndiciCore {
  Agent: typeof Undici.Agent;
  /** undici's `request(url, opts)` on `dispatcher`. */
  request: (
    dispatcher: Dispatcher,
    url: string,
    opts: Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod },
  ) => Promise<Dispatcher.ResponseData>;
}

/**
 * undici's Agent and `request` without its index (1.7 MB resident against 8.2): what the studio's
 * routes use on every job. The same modules the index loads, so both can be in use at once;
 * `test/util/undici.test.ts` checks them against the installed undici.
 */
export function undiciCore(): UndiciCore {
  if (core) return core;
  const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
  const api = require('undici/lib/api/index.js') as {
    request: (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  };
  core = {
    Agent,
    // As the index's `request`: the URL split into origin and path, GET unless told otherwise.
    request: (dispatcher, url, opts) => {
      const u = new URL(url);
      return api.request.call(dispatcher, {
        ...opts,
        origin: u.origin,
        path: u.search ? `${u.pathname}${u.search}` : u.pathname,
        method: opts.method ?? 'GET',
      });
    },
  };
  return core;
}
