import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigStore } from '../config/index.js';
import { writeAtomic } from '../config/store.js';

export const DISCOVERY_FILE = 'local-api.json';
export const LOCAL_API_PORT_ENV = 'STUDIO_WORKER_LOCAL_API_PORT';
export const STREAM_PORT_ENV = 'STUDIO_WORKER_STREAM_PORT';

/** The port: `STUDIO_WORKER_LOCAL_API_PORT` when it is a port number, else `local_api_port` (4787). */
export function resolveLocalApiPort(
  env: NodeJS.ProcessEnv,
  configured: number,
  warn: (msg: string) => void,
): number {
  return resolvePort(LOCAL_API_PORT_ENV, env, configured, warn);
}

/**
 * The LAN stream listener's port: `STUDIO_WORKER_STREAM_PORT` when it is a port number, else
 * `stream_port` (4798), as the original resolves both ports.
 */
export function resolveStreamPort(
  env: NodeJS.ProcessEnv,
  configured: number,
  warn: (msg: string) => void,
): number {
  return resolvePort(STREAM_PORT_ENV, env, configured, warn);
}

function resolvePort(
  name: string,
  env: NodeJS.ProcessEnv,
  configured: number,
  warn: (msg: string) => void,
): number {
  const raw = env[name]?.trim();
  if (!raw) return configured;
  const port = Number(raw);
  if (Number.isInteger(port) && port >= 0 && port <= 65535) return port;
  warn(`${name}=${JSON.stringify(raw)} is not a port number; using ${configured}`);
  return configured;
}

/**
 * The local API's bearer token: `local_api_token` from config.toml, generated once (32 random
 * bytes, 64 hex digits, as the original) and saved there. A save that fails still serves this run.
 */
export async function ensureLocalApiToken(store: ConfigStore, warn: (msg: string) => void): Promise<string> {
  const config = await store.load();
  if (config.localApiToken) return config.localApiToken;
  const token = randomBytes(32).toString('hex');
  try {
    await store.update((c) => {
      c.localApiToken ??= token;
    });
    return (await store.load()).localApiToken ?? token;
  } catch (e) {
    warn(
      `could not save local_api_token to ${store.path} (${e instanceof Error ? e.message : String(e)}); using it for this run only`,
    );
    return token;
  }
}

/** Publishes the URL and token for local programs: `local-api.json` beside config.toml, owner-only. */
export async function writeDiscovery(configDir: string, url: string, token: string): Promise<string> {
  const path = join(configDir, DISCOVERY_FILE);
  await writeAtomic(configDir, path, `${JSON.stringify({ url, token }, null, 2)}\n`);
  return path;
}

export async function removeDiscovery(configDir: string): Promise<void> {
  await rm(join(configDir, DISCOVERY_FILE), { force: true });
}

/**
 * What `local-api.json` publishes: the running worker's URL and token; `absent` when no worker
 * publishes one, `unreadable` when the file is not one this worker wrote.
 */
export async function readDiscovery(
  configDir: string,
): Promise<{ url: string; token: string } | 'absent' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(join(configDir, DISCOVERY_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  try {
    const j = JSON.parse(text) as { url?: unknown; token?: unknown };
    if (typeof j.url === 'string' && typeof j.token === 'string') return { url: j.url, token: j.token };
  } catch {
    // Not JSON: reported as unreadable.
  }
  return 'unreadable';
}
