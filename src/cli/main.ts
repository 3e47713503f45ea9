#!/usr/bin/env node
import { CommanderError, type Command } from 'commander';
import { ExitCode, UserError, fsUserError, toError } from '../util/index.js';
import { buildProgram } from './program.js';

// The entry point: the command table (program.ts) run, and every way it can end turned into one
// plain line and an exit code from the README's table; a stack trace only for a bug.

async function main(): Promise<void> {
  // `studio-worker --help | head`: the reader left; that is the end of the output, not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
      throw e;
    });
  }
  const program = buildProgram();
  // Every command, not just the root: an unknown flag or a missing option is exit code 2 everywhere.
  const overrideExits = (command: Command): void => {
    command.exitOverride();
    for (const sub of command.commands) overrideExits(sub);
  };
  overrideExits(program);
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    const err = fsUserError(e) ?? toError(e);
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
