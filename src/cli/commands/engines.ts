import { expandHome } from '../../config/index.js';
import { createEngines, EngineDispatcher, EngineError } from '../../engines/index.js';
import { SdCppEngine } from '../../engines/sd-cpp/index.js';
import { ModelCache } from '../../models/index.js';
import { ExitCode, fsUserError, isAbortError, toError, UserError } from '../../util/index.js';
import { readEngineHealth } from '../../worker/index.js';
import type { CommandContext } from '../context.js';

/** `studio-worker engines`: each engine, whether it can run on this machine, and on what (or what is missing). */
export async function enginesCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const config = await ctx.store.load();
  const dispatcher = new EngineDispatcher(createEngines({ config, log: ctx.log }));
  try {
    await dispatcher.init();
    // What the worker running on this config found out the hard way (a backend that crashed).
    const health = await readEngineHealth(ctx.store.dir);
    const engines = dispatcher.availability().map((e) => {
      const seen = health?.engines[e.engine];
      const broken = Object.entries(seen?.broken ?? {}).map(([backend, why]) => ({ backend, why }));
      return {
        ...e,
        ...(broken.length > 0 ? { brokenBackends: broken } : {}),
        ...(seen?.lastCrash ? { lastCrash: seen.lastCrash } : {}),
      };
    });
    if (opts.json) {
      ctx.out(JSON.stringify({ engines }));
      return;
    }
    const width = Math.max(...engines.map((e) => e.engine.length));
    for (const e of engines) {
      const state = e.ready ? 'ready      ' : 'cannot run ';
      const serves = e.ready && e.taskKinds.length > 0 ? ` [${e.taskKinds.join(', ')}]` : '';
      ctx.out(`${e.engine.padEnd(width)}  ${state} ${e.detail}${serves}`);
      const indent = ' '.repeat(width + 2);
      for (const b of e.brokenBackends ?? []) {
        ctx.out(`${indent}${b.backend} broken in the running worker (pid ${health?.pid}): ${b.why}`);
      }
      if (e.lastCrash) ctx.out(`${indent}last crash ${e.lastCrash.at}: ${e.lastCrash.message}`);
    }
  } finally {
    await dispatcher.close();
  }
}

/** Engines that can be installed ahead of their first job. */
export const INSTALLABLE_ENGINES = ['sd-cpp'] as const;

/**
 * `studio-worker engines install sd-cpp`: installs stable-diffusion.cpp into `<models_root>/bin/`
 * now, as the first image job would, with the download's progress on the terminal.
 */
export async function enginesInstallCommand(
  ctx: CommandContext,
  engine: string,
  opts: { force?: boolean },
): Promise<void> {
  if (!(INSTALLABLE_ENGINES as readonly string[]).includes(engine)) {
    throw new UserError(
      `"${engine}" cannot be installed this way; installable: ${INSTALLABLE_ENGINES.join(', ')} ` +
        '(llama-cpp and the ONNX engines come with npm install)',
    );
  }
  const config = await ctx.store.load();
  if (config.sdCliPath) {
    throw new UserError(
      `sd_cli_path is set in ${ctx.store.path} (${config.sdCliPath}): the worker uses that sd-cli and installs none; remove the setting to use an installed one`,
    );
  }
  const modelsRoot = expandHome(config.modelsRoot);
  const cache = new ModelCache({
    root: modelsRoot,
    log: ctx.log,
    allowInsecure: config.allowInsecureDownloads,
    ...(process.stderr.isTTY ? { terminal: process.stderr } : {}),
  });
  const sd = new SdCppEngine({ modelsRoot, log: ctx.log });
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  try {
    await sd.init();
    const found = sd.sdCliFound;
    if (!opts.force && found) {
      ctx.out(`sd-cpp can already run: ${sd.availability().detail}`);
      ctx.out(
        `(--force installs the pinned release into ${modelsRoot}/bin all the same; it is looked for first)`,
      );
      return;
    }
    ctx.out(`installing stable-diffusion.cpp into ${modelsRoot}/bin ...`);
    const record = await sd.install(cache, controller.signal, { force: opts.force ?? false });
    ctx.out(`installed stable-diffusion.cpp ${record.release} (${record.backend})`);
    ctx.out(sd.availability().detail);
  } catch (e) {
    if (isAbortError(e) || controller.signal.aborted)
      throw new UserError('install interrupted; run it again to resume the download', ExitCode.interrupted);
    if (e instanceof EngineError)
      throw new UserError(`could not install sd-cpp: ${e.message}`, ExitCode.checkFailed);
    const fs = fsUserError(e);
    if (fs) throw fs;
    throw toError(e);
  } finally {
    process.off('SIGINT', onSignal);
    await sd.close();
    await cache.close();
  }
}
