import { join } from 'node:path';
import { DISCOVERY_FILE, readDiscovery } from '../../local-api/index.js';
import { ExitCode, UserError, messageWithCause } from '../../util/index.js';

/** How long the local API gets to answer a mint; it is on loopback, so anything longer is a hung worker. */
const MINT_TIMEOUT_MS = 10_000;

/** The running worker's local API, as its discovery file publishes it. */
export interface LocalApiAddress {
  url: string;
  token: string;
  /** The discovery file it came from, for messages. */
  path: string;
}

/** `local-api.json` in the config folder: written while `run`, `ui` or `serve` runs, removed when it stops. */
export async function readLocalApi(configDir: string): Promise<LocalApiAddress> {
  const path = join(configDir, DISCOVERY_FILE);
  const published = await readDiscovery(configDir);
  if (published === 'absent') {
    throw new UserError(
      `no worker is running on ${configDir} (no ${DISCOVERY_FILE} there): start one (studio-worker run, ui or serve), name its folder with --config-dir, or stream elsewhere with --url`,
    );
  }
  if (published === 'unreadable') {
    throw new UserError(
      `${path} is not the worker's discovery file ({"url", "token"}); restart the worker to rewrite it`,
    );
  }
  return { ...published, path };
}

/** What `POST /stream-tokens` answers. */
interface Grant {
  token: string;
  port: number;
  path: string;
}

/**
 * Mints a stream token for `model` on the local API and returns the listener's URL with it. The
 * listener is on the same host as the local API (it binds the LAN, loopback included), on the
 * port the grant names.
 */
export async function mintStreamUrl(api: LocalApiAddress, model: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(new URL('/stream-tokens', api.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model }),
      signal: AbortSignal.timeout(MINT_TIMEOUT_MS),
    });
  } catch (e) {
    throw new UserError(
      `no worker answers at ${api.url} (from ${api.path}): ${messageWithCause(e)}; start one (studio-worker run, ui or serve)`,
    );
  }
  const body = await res.text();
  if (!res.ok) throw mintRefusal(res.status, body, api, model);
  const grant = parseGrant(body);
  if (!grant) {
    throw new UserError(
      `the local API at ${api.url} answered POST /stream-tokens with something that is not a stream grant: ${body.slice(0, 200)}`,
      ExitCode.checkFailed,
    );
  }
  const url = new URL(api.url);
  url.protocol = 'ws:';
  url.port = String(grant.port);
  url.pathname = grant.path;
  // The token is hex and the listener does not percent-decode: it goes in as it came.
  url.search = `?token=${grant.token}`;
  return url.toString();
}

function parseGrant(body: string): Grant | undefined {
  try {
    const j = JSON.parse(body) as Partial<Record<keyof Grant, unknown>>;
    if (typeof j.token === 'string' && typeof j.port === 'number' && typeof j.path === 'string') {
      return { token: j.token, port: j.port, path: j.path };
    }
  } catch {
    // Not JSON: the caller says what came instead.
  }
  return undefined;
}

/** The local API's refusal as the fix: the user's to make (2), or the worker's trouble (5). */
function mintRefusal(status: number, body: string, api: LocalApiAddress, model: string): UserError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof j.error === 'string') code = j.error;
    if (typeof j.message === 'string') message = j.message;
  } catch {
    // A plain-text answer (the 401): shown as it is.
  }
  const detail = message ?? (code === undefined ? body.trim().slice(0, 200) : code);
  if (status === 404 && code === 'unknown_model') {
    return new UserError(
      `the worker has no model "${model}" (404 unknown_model); its models: curl -H "Authorization: Bearer $TOKEN" ${api.url}/models`,
    );
  }
  if (status === 400 && code === 'not_a_stream_model') {
    return new UserError(
      `model "${model}" is not a streaming speech model (400 not_a_stream_model); stream to one whose engine is parakeet`,
    );
  }
  if (status === 401) {
    return new UserError(
      `the local API at ${api.url} refused the token in ${api.path} (401): the file is stale; restart the worker to rewrite it`,
    );
  }
  if (status === 503 && code === 'stream_listener_down') {
    // The worker's own sentence says why (a port taken, no listener on this command) when it has one.
    const why = message ?? "the worker's stream listener is not running";
    return new UserError(`${why} (503 stream_listener_down); see the worker's log`, ExitCode.checkFailed);
  }
  return new UserError(
    `the local API at ${api.url} refused a stream token for "${model}": HTTP ${status}${detail ? `: ${detail}` : ''}`,
    ExitCode.checkFailed,
  );
}
