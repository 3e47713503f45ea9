import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { toError } from '../util/index.js';

export const TOKEN_FILE = 'dashboard-token';

/**
 * The per-install secret every dashboard request carries: 32 random bytes as hex, kept 0600 in the
 * config folder so it survives restarts (a bookmarked URL keeps working) and no other user reads it.
 */
export async function loadOrCreateDashboardToken(configDir: string): Promise<string> {
  const file = path.join(configDir, TOKEN_FILE);
  const existing = await readToken(file);
  if (existing.token) {
    await chmod(file, 0o600);
    return existing.token;
  }
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  try {
    // 'wx': two processes starting at once must not both write; the loser reads the winner's token.
    // A truncated or hand-edited file is replaced rather than trusted.
    const handle = await open(file, existing.missing ? 'wx' : 'w', 0o600);
    try {
      await handle.writeFile(`${token}\n`, 'utf8');
    } finally {
      await handle.close();
    }
    await chmod(file, 0o600);
    return token;
  } catch (e) {
    const again = (e as { code?: unknown }).code === 'EEXIST' ? await readToken(file) : undefined;
    if (again?.token) return again.token;
    throw toError(e);
  }
}

async function readToken(file: string): Promise<{ token?: string; missing: boolean }> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return /^[0-9a-f]{64}$/.test(text) ? { token: text, missing: false } : { missing: false };
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return { missing: true };
    throw toError(e);
  }
}
