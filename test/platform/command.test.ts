import { existsSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installServiceCommand, uninstallServiceCommand } from '../../src/cli/commands/service.js';
import type { CommandContext } from '../../src/cli/context.js';
import { ConfigStore } from '../../src/config/index.js';
import { LogShipper, createLogger } from '../../src/logs/index.js';
import { tempDir } from './support.js';

describe('the install-service command', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let savedHome: string | undefined;
  let lines: string[];
  let ctx: CommandContext;

  beforeEach(async () => {
    ({ dir: home, cleanup } = await tempDir('cmd'));
    savedHome = process.env.HOME;
    process.env.HOME = home; // os.homedir() reads HOME on POSIX
    lines = [];
    const sink = new Writable({ write: (_chunk, _enc, done) => done() });
    ctx = {
      store: new ConfigStore(path.join(home, 'cfg')),
      log: createLogger({ level: 'warn', pretty: false, destination: sink }),
      shipper: new LogShipper(),
      out: (line) => lines.push(line),
    };
  });
  afterEach(async () => {
    process.env.HOME = savedHome;
    await cleanup();
  });

  it.runIf(process.platform === 'linux')(
    'with --dry-run prints the unit, the commands and the log command, and writes nothing',
    async () => {
      await installServiceCommand(ctx, { dryRun: true });
      const unit = path.join(home, '.config', 'systemd', 'user', 'studio-worker.service');
      const text = lines.join('\n');
      expect(text).toContain(`would write ${unit}:`);
      expect(text).toMatch(
        /^ExecStart=\S+node\S* --max-semi-space-size=1 --v8-pool-size=1 \S+\.m?js --config-dir \S+cfg run$/m,
      );
      expect(text).toContain('dry run: nothing was run; to finish, run:\n  systemctl --user daemon-reload');
      expect(lines.at(-1)).toBe('logs: journalctl --user -u studio-worker -f');
      expect(existsSync(unit)).toBe(false);
    },
  );

  it('uninstall says so when nothing is installed', async () => {
    await uninstallServiceCommand(ctx, {});
    expect(lines).toEqual(['nothing to remove: the service is not installed']);
  });
});
