#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigStore, resolveConfigDir } from '../config/index.js';
import { LogShipper, createLogger } from '../logs/index.js';
import { ExitCode, UserError, toError } from '../util/index.js';
import { VERSION } from '../version.js';
import { configCommand, setThresholdCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { devStudioCommand } from './commands/dev-studio.js';
import { registerCommand } from './commands/register.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import type { CommandContext, GlobalOptions } from './context.js';

const EXIT_CODES = `
Exit codes:
  0  success (or a clean stop after SIGINT/SIGTERM)
  1  internal error (a bug: please report it)
  2  usage or input error (bad flag, corrupt config: the message names the file, line and key)
  3  the studio refused this worker (registration rejected, 401 / close 4001, 4003, 4004)
  4  the studio session was lost and every reconnect attempt failed
  5  a check failed (the demo saw a job fail or a result that does not decode)

Environment:
  STUDIO_WORKER_CONFIG_DIR  config folder (same as --config-dir)
  LOG_LEVEL                 trace | debug | info | warn | error (same as --log-level)
`;

function makeContext(program: Command, defaultLevel = 'info'): CommandContext {
  const opts = program.opts<GlobalOptions>();
  const shipper = new LogShipper();
  const log = createLogger({
    level: opts.logLevel ?? process.env.LOG_LEVEL ?? defaultLevel,
    pretty: process.stderr.isTTY,
    destination: 2,
    shipper,
  });
  const store = new ConfigStore(resolveConfigDir(opts.configDir ? { configDir: opts.configDir } : {}));
  return { store, log, shipper, out: (line) => process.stdout.write(`${line}\n`) };
}

export function buildProgram(): Command {
  const program = new Command('studio-worker')
    .description(
      'Pull-based generation worker for the minis.gg studio: registers once, holds a session, runs jobs.',
    )
    .version(VERSION)
    .option(
      '--config-dir <dir>',
      'config folder (default: ~/.config/minis-studio-worker, env STUDIO_WORKER_CONFIG_DIR)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level (env LOG_LEVEL)').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
      ]),
    )
    .addHelpText('after', EXIT_CODES)
    .showHelpAfterError();

  program
    .command('run')
    .description('register if needed, then hold the studio session and run jobs until stopped')
    .option('--grace <seconds>', 'how long a stop waits for the running job', '30')
    .addHelpText('after', '\nExample:\n  studio-worker run --log-level debug')
    .action(async (o: { grace: string }) => runCommand(makeContext(program), o));

  program
    .command('register')
    .description('ask the studio to approve this machine and wait until the operator decides')
    .option('--api-base-url <url>', 'studio to register with (saved to the config)')
    .option('--reset', 'forget the current registration (worker id, token, pending request) first')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker register\n  studio-worker register --api-base-url http://127.0.0.1:8787/ --reset',
    )
    .action(async (o: { apiBaseUrl?: string; reset?: boolean }) => registerCommand(makeContext(program), o));

  program
    .command('status')
    .description('show registration state, worker id, studio URL and pending uploads')
    .option('--json', 'print one JSON object')
    .action(async (o: { json?: boolean }) => statusCommand(makeContext(program, 'warn'), o));

  program
    .command('set-threshold')
    .description('set the largest VRAM estimate (GB) of a job this worker accepts')
    .argument('<gb>', 'gigabytes, e.g. 12 or 7.5')
    .addHelpText('after', '\nExample:\n  studio-worker set-threshold 7.5')
    .action(async (gb: string) => setThresholdCommand(makeContext(program, 'warn'), gb));

  program
    .command('config')
    .description('print the config (secrets masked) and where it lives')
    .option('--json', 'print one JSON object')
    .action(async (o: { json?: boolean }) => configCommand(makeContext(program, 'warn'), o));

  program
    .command('dev-studio')
    .description('run the reference studio on loopback, to try a worker against (not a production server)')
    .option('--port <port>', 'port to listen on (0 = any free port)', '8787')
    .option('--auto-approve', 'approve every registration request at once')
    .addHelpText(
      'after',
      '\nExample:\n  studio-worker dev-studio --auto-approve &\n  studio-worker --config-dir /tmp/w register --api-base-url http://127.0.0.1:8787/\n  studio-worker --config-dir /tmp/w run',
    )
    .action(async (o: { port: string; autoApprove?: boolean }) => devStudioCommand(makeContext(program), o));

  program
    .command('demo')
    .description('start a dev studio and a worker, run one job of each kind, check every result')
    .option('--json', 'print {ok, jobs:[...]} instead of a table')
    .action(async (o: { json?: boolean }) => demoCommand(makeContext(program, 'warn'), o));

  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    const err = toError(e);
    if (err instanceof UserError) {
      process.stderr.write(`studio-worker: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`studio-worker: internal error: ${err.stack ?? err.message}\n`);
    process.exitCode = ExitCode.internal;
  }
}

await main();
