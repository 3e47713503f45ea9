import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PresenceWatch } from '../../src/worker/presence-watch.js';
import {
  IdleHelper,
  WINDOWS_IDLE_SCRIPT,
  windowsIdleHelperCommand,
  type IdleHelperOptions,
} from '../../src/platform/index.js';

// A stand-in for powershell.exe (no PowerShell runs here): a node script speaking the helper's line
// protocol, answering each ask with its own pid so the tests see which process answered.
const STANDIN = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'idle-helper-standin',
  'idle-helper.mjs',
);

const helpers: IdleHelper[] = [];
function standin(mode: string[], opts: Partial<IdleHelperOptions> = {}): IdleHelper {
  const h = new IdleHelper({
    command: process.execPath,
    args: [STANDIN, ...mode],
    timeoutMs: 500,
    startTimeoutMs: 5000,
    backoffMs: 0,
    ...opts,
  });
  helpers.push(h);
  return h;
}
afterEach(() => {
  for (const h of helpers.splice(0)) h.stop();
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}
const idleMs = (r: Awaited<ReturnType<IdleHelper['read']>>): number => {
  if ('reason' in r) throw new Error(`no reading: ${r.reason}`);
  return r.idleMs;
};

describe('the idle helper, with a stand-in for powershell.exe (a node script, not PowerShell)', () => {
  it('stand-in for powershell.exe: one process serves many asks', async () => {
    const h = standin(['serve']);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await h.read());
    expect(h.spawns).toBe(1);
    expect(new Set(answers.map(idleMs))).toEqual(new Set([h.pid]));
    expect(answers[0]).toMatchObject({ source: 'GetLastInputInfo' });
    // Asks made together are answered one at a time by the same process.
    const together = await Promise.all([h.read(), h.read(), h.read()]);
    expect(together.map(idleMs)).toEqual([h.pid, h.pid, h.pid]);
    expect(h.spawns).toBe(1);
  });

  it('stand-in for powershell.exe: a crashed helper is restarted on the next ask', async () => {
    const h = standin(['crash-after', '2']);
    const first = idleMs(await h.read());
    expect(idleMs(await h.read())).toBe(first);
    const crashed = await h.read();
    expect(crashed).toEqual({ reason: expect.stringMatching(/exited \(code 3\)/) as string });
    expect(await gone(first)).toBe(true);
    const second = idleMs(await h.read());
    expect(second).not.toBe(first);
    expect(h.spawns).toBe(2);
  });

  it('stand-in for powershell.exe: a helper that dies between asks is replaced, after a backoff', async () => {
    const h = standin(['serve'], { backoffMs: 60_000 });
    const first = idleMs(await h.read());
    process.kill(first, 'SIGKILL');
    expect(await gone(first)).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // its 'exit' event
    expect(await h.read()).toEqual({
      reason: expect.stringMatching(/exited \(SIGKILL\); restarting it in 60 s/) as string,
    });
    expect(h.spawns).toBe(1);
  });

  it('stand-in for powershell.exe: a helper that stops answering times out to a reason and is replaced', async () => {
    const h = standin(['hang-after', '1'], { timeoutMs: 300 });
    const first = idleMs(await h.read());
    const started = Date.now();
    const r = await h.read();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r).toEqual({ reason: expect.stringMatching(/gave no answer in 300 ms/) as string });
    expect(await gone(first)).toBe(true);
    const second = idleMs(await h.read());
    expect(second).not.toBe(first);
    expect(h.spawns).toBe(2);
  });

  it('stand-in for powershell.exe: stop() kills it, and later asks start nothing', async () => {
    const h = standin(['serve']);
    const pid = idleMs(await h.read());
    h.stop();
    expect(await gone(pid)).toBe(true);
    expect(await h.read()).toEqual({ reason: 'idle helper stopped' });
    expect(h.spawns).toBe(1);
  });

  it('stand-in for powershell.exe: the worker’s presence watch reads through it and stopping the watch ends it', async () => {
    const h = standin(['serve']);
    const watch = new PresenceWatch(
      Object.assign(() => h.read(), { stop: () => h.stop() }),
      pino({ enabled: false }),
      20,
    );
    await watch.start();
    await new Promise((r) => setTimeout(r, 200));
    const pid = h.pid ?? -1;
    expect(watch.current).toMatchObject({ idleMs: pid, source: 'GetLastInputInfo' });
    watch.stop();
    expect(await gone(pid)).toBe(true);
    expect(h.spawns).toBe(1);
  });

  it('a command that cannot start is a reason, not a throw', async () => {
    const h = standin([], { command: 'studio-worker-no-such-helper' });
    expect(await h.read()).toEqual({ reason: expect.stringMatching(/ENOENT/) as string });
  });
});

// The PowerShell script cannot run here (no Windows): these check its text only.
describe('the Windows idle helper script (text checks: PowerShell does not run on this machine)', () => {
  it('compiles the GetLastInputInfo type once, before and outside its read-answer loop', () => {
    const loopAt = WINDOWS_IDLE_SCRIPT.indexOf('while ($true)');
    expect(loopAt).toBeGreaterThan(0);
    expect(WINDOWS_IDLE_SCRIPT.match(/Add-Type/g)).toHaveLength(1);
    expect(WINDOWS_IDLE_SCRIPT.indexOf('Add-Type')).toBeLessThan(loopAt);
    expect(WINDOWS_IDLE_SCRIPT.indexOf('GetLastInputInfo')).toBeLessThan(loopAt);
    const loop = WINDOWS_IDLE_SCRIPT.slice(loopAt);
    expect(loop).toContain('[Console]::In.ReadLine()');
    expect(loop).toContain('[Console]::Out.WriteLine([StudioWorkerIdle]::Ms())');
    expect(loop).not.toMatch(/Add-Type|DllImport/);
  });

  it('runs as one powershell.exe with the script encoded, so stdin carries the asks', () => {
    const { command, args } = windowsIdleHelperCommand();
    expect(command).toBe('powershell.exe');
    expect(args.slice(0, -1)).toEqual([
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-EncodedCommand',
    ]);
    expect(Buffer.from(args.at(-1) ?? '', 'base64').toString('utf16le')).toBe(WINDOWS_IDLE_SCRIPT);
  });
});
