import { createEngines, EngineDispatcher } from '../../engines/index.js';
import type { CommandContext } from '../context.js';

/** `studio-worker engines`: each engine, whether it can run on this machine, and on what (or what is missing). */
export async function enginesCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const config = await ctx.store.load();
  const dispatcher = new EngineDispatcher(createEngines({ config, log: ctx.log }));
  try {
    await dispatcher.init();
    const engines = dispatcher.availability();
    if (opts.json) {
      ctx.out(JSON.stringify({ engines }));
      return;
    }
    const width = Math.max(...engines.map((e) => e.engine.length));
    for (const e of engines) {
      const state = e.ready ? 'ready      ' : 'cannot run ';
      const serves = e.ready && e.taskKinds.length > 0 ? ` [${e.taskKinds.join(', ')}]` : '';
      ctx.out(`${e.engine.padEnd(width)}  ${state} ${e.detail}${serves}`);
    }
  } finally {
    await dispatcher.close();
  }
}
