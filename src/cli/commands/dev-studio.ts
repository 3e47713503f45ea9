import { runDevStudioCli } from '../../dev-studio/index.js';
import { UserError } from '../../util/index.js';
import type { CommandContext } from '../context.js';

export async function devStudioCommand(
  ctx: CommandContext,
  opts: { port: string; autoApprove?: boolean },
): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--port expects a port number 0-65535, got "${opts.port}"`);
  }
  await runDevStudioCli({ port, autoApprove: opts.autoApprove ?? false, log: ctx.log });
}
