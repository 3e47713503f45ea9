import type { CommandRunner } from './exec.js';

/**
 * The dynamic linker's cache as `ldconfig -p` lists it, or undefined when no ldconfig can be run
 * (it is in /sbin on some systems, off a user's PATH).
 */
export async function ldconfigCache(run: CommandRunner): Promise<string | undefined> {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const r = await run(ldconfig, ['-p']);
    if (r.error === 'ENOENT') continue;
    return r.code === 0 ? r.stdout : undefined;
  }
  return undefined;
}
