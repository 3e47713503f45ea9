import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { runDevStudioCli } from '../../src/dev-studio/index.js';

describe('dev studio CLI', () => {
  it('prints where it listens with curl examples, serves until stopped, then closes', async () => {
    const controller = new AbortController();
    let banner = '';
    const running = runDevStudioCli({
      port: 0,
      autoApprove: true,
      log: pino({ level: 'silent' }),
      signal: controller.signal,
      write: (text) => {
        banner += text;
      },
    });
    while (!banner) await new Promise((resolve) => setTimeout(resolve, 10));
    const url = /listening on (\S+)/.exec(banner)?.[1] ?? '';
    expect(banner).toContain(`curl -X POST ${url}admin/registrations/`);
    expect(banner).toContain(`${url}admin/jobs`);
    expect(banner).toMatch(/curl -o result\.webp \S+\/result/);
    expect((await fetch(`${url}admin/auto-approve`)).status).toBe(200);

    controller.abort();
    await running;
    await expect(fetch(`${url}admin/jobs`)).rejects.toThrow();
  });
});
