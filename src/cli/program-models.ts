import type { Command } from 'commander';
import { makeContext } from './make-context.js';

/**
 * The `models` commands (the model cache and the kept models), kept apart from program.ts so the
 * command table stays within the house's file size; each loads its module only when it runs.
 */
export function addModelsCommands(program: Command): void {
  const models = program
    .command('models')
    .description('the model cache under models_root')
    .addHelpText(
      'after',
      '\nExamples:\n  studio-worker models list\n  studio-worker models prune --max-gb 40 --dry-run',
    );
  models
    .command('list')
    .description('cached model files: size, sha256, last used, in use')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  studio-worker models list\n  studio-worker models list --json')
    .action(async (o: { json?: boolean }) =>
      (await import('./commands/models.js')).modelsListCommand(makeContext(program, 'warn'), o),
    );
  models
    .command('prune')
    .description('delete least recently used model files until the cache fits --max-gb (never a file in use)')
    .option('--max-gb <gb>', 'keep at most this many GB (default 0: every file not in use)')
    .option('--dry-run', 'only say what would be deleted')
    .addHelpText('after', '\nExample:\n  studio-worker models prune --max-gb 40')
    .action(async (o: { maxGb?: string; dryRun?: boolean }) =>
      (await import('./commands/models.js')).modelsPruneCommand(makeContext(program, 'warn'), o),
    );
  models
    .command('keep')
    .description('keep a model loaded once it is loaded: never unloaded when idle or to make room')
    .argument('<model>', 'the model id, as the studio offers it')
    .addHelpText(
      'after',
      '\nExample:\n  studio-worker models keep z-image-turbo   # undo: models release z-image-turbo',
    )
    .action(async (model: string) =>
      (await import('./commands/models.js')).modelsKeepCommand(makeContext(program, 'warn'), model, true),
    );
  models
    .command('release')
    .description('stop keeping a model loaded (it unloads when idle again)')
    .argument('<model>', 'the model id')
    .addHelpText('after', '\nExample:\n  studio-worker models release z-image-turbo')
    .action(async (model: string) =>
      (await import('./commands/models.js')).modelsKeepCommand(makeContext(program, 'warn'), model, false),
    );
}
