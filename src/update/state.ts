import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const UPDATE_STATE_FILE = 'update-state.json';

const UpdateStateSchema = z.object({
  /** The installed version that last started cleanly; launched instead of the base install. */
  current: z.string().optional(),
  /** Installed and waiting for the supervisor to start it (set by a supervised child). */
  next: z.string().optional(),
  /** Versions that exited within their start window: rolled back and never tried again. */
  badVersions: z.array(z.string()).default([]),
});
export type UpdateState = z.infer<typeof UpdateStateSchema>;

/** `<configDir>/update-state.json`; a missing or unreadable file is an empty state. */
export async function readUpdateState(configDir: string): Promise<UpdateState> {
  try {
    const text = await readFile(path.join(configDir, UPDATE_STATE_FILE), 'utf8');
    const parsed = UpdateStateSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
  } catch {
    // Missing or corrupt: the worst case is one more update attempt, never a failed start.
  }
  return { badVersions: [] };
}

export async function writeUpdateState(configDir: string, state: UpdateState): Promise<void> {
  await mkdir(configDir, { recursive: true });
  const file = path.join(configDir, UPDATE_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

export async function updateUpdateState(
  configDir: string,
  change: (s: UpdateState) => UpdateState,
): Promise<UpdateState> {
  const next = change(await readUpdateState(configDir));
  await writeUpdateState(configDir, next);
  return next;
}

export async function markBadVersion(configDir: string, version: string): Promise<void> {
  await updateUpdateState(configDir, (s) => ({
    ...s,
    current: s.current === version ? undefined : s.current,
    next: s.next === version ? undefined : s.next,
    badVersions: s.badVersions.includes(version) ? s.badVersions : [...s.badVersions, version],
  }));
}
