import { checkForUpdate } from '../../update/index.js';
import { ExitCode, UserError, messageWithCause } from '../../util/index.js';
import { VERSION } from '../../version.js';
import { adjustConfigAtStart } from '../../worker/index.js';
import type { CommandContext } from '../context.js';

/** `studio-worker check-update`: reads the release feed and reports; installs nothing. */
export async function checkUpdateCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  // A config the original wrote names its feed: this worker's is asked instead (and saved).
  const config = await adjustConfigAtStart(ctx.store, { firstStart: false, vramTotalGb: 0, log: ctx.log });
  let result;
  try {
    result = await checkForUpdate(config, VERSION, { configDir: ctx.store.dir });
  } catch (e) {
    const error = `could not read the release feed ${config.autoUpdateFeed}: ${messageWithCause(e)}`;
    // Scripts asked for JSON: they get JSON offline too, with the exit code saying it failed.
    if (opts.json) ctx.out(JSON.stringify({ ok: false, currentVersion: VERSION, error }));
    throw new UserError(error, ExitCode.checkFailed, {
      cause: e,
    });
  }
  if (opts.json) {
    ctx.out(JSON.stringify(result));
    return;
  }
  ctx.out(result.message);
  for (const s of result.skipped) ctx.out(`  skipped ${s.tag}: ${s.reason}`);
}
