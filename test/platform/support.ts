import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { CommandResult, CommandRunner } from '../../src/platform/index.js';

/** A logger whose messages the test can read. */
export function captureLogger(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        messages.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return { log, messages };
}

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `sw-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes an executable stand-in shell script. */
export async function writeScript(dir: string, name: string, body: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

/**
 * Stands in for service managers that do not exist here (launchctl, schtasks, a user systemd):
 * records every argv and answers from `respond` (default: success).
 */
export function recordingRunner(respond: (argv: string[]) => Partial<CommandResult> = () => ({})): {
  run: CommandRunner;
  calls: string[][];
} {
  const calls: string[][] = [];
  const run: CommandRunner = (cmd, args) => {
    const argv = [cmd, ...args];
    calls.push(argv);
    return Promise.resolve({ code: 0, stdout: '', stderr: '', ...respond(argv) });
  };
  return { run, calls };
}
