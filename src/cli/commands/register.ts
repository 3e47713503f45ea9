import { StudioHttp } from '../../studio/index.js';
import { ensureRegistered, registrationState, resetRegistration } from '../../registration/index.js';
import { EngineDispatcher, createEngines } from '../../engines/index.js';
import { probeHost } from '../../platform/index.js';
import { UserError } from '../../util/index.js';
import { USER_AGENT, VERSION } from '../../version.js';
import { adjustConfigAtStart, buildCapabilities } from '../../worker/index.js';
import type { CommandContext } from '../context.js';
import { onShutdownSignal } from '../signals.js';

export async function registerCommand(
  ctx: CommandContext,
  opts: { apiBaseUrl?: string; reset?: boolean },
): Promise<void> {
  if (opts.apiBaseUrl !== undefined) {
    const url = URL.canParse(opts.apiBaseUrl) ? new URL(opts.apiBaseUrl) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || /\s/.test(opts.apiBaseUrl)) {
      throw new UserError(
        `--api-base-url: "${opts.apiBaseUrl}" is not a valid http(s) URL (expected one like https://studio.minis.gg/); nothing was saved`,
      );
    }
  }
  if (opts.reset) {
    await resetRegistration(ctx.store);
    ctx.out('forgot the previous registration');
  }
  const apiBaseUrl = opts.apiBaseUrl;
  const firstStart = !(await ctx.store.exists());
  let config = await ctx.store.update((c) => {
    if (apiBaseUrl !== undefined) c.apiBaseUrl = apiBaseUrl;
  });
  const state = registrationState(config);
  if (state.state === 'approved') {
    ctx.out(`already registered as worker ${state.workerId} with ${config.apiBaseUrl}`);
    return;
  }
  const host = await probeHost(ctx.log);
  config = await adjustConfigAtStart(ctx.store, { firstStart, vramTotalGb: host.vramTotalGb, log: ctx.log });
  const dispatcher = new EngineDispatcher(createEngines({ config, log: ctx.log }));
  await dispatcher.init();
  const engines = dispatcher.capabilities();
  const http = new StudioHttp({ apiBaseUrl: config.apiBaseUrl, userAgent: USER_AGENT, log: ctx.log });
  const abort = new AbortController();
  let pendingId: string | undefined;
  const offSignals = onShutdownSignal(() => {
    abort.abort();
    return Promise.resolve();
  }, ctx.log);
  try {
    const creds = await ensureRegistered({
      store: ctx.store,
      http,
      version: VERSION,
      log: ctx.log,
      signal: abort.signal,
      capabilities: () => buildCapabilities({ host, config, engines, paused: false }),
      onState: (s) => {
        pendingId = s.state === 'pending' ? s.requestId : undefined;
        if (s.state === 'pending') {
          ctx.out(`registration request ${s.requestId} is waiting for the studio operator's approval…`);
        }
      },
    });
    ctx.out(`registered: worker ${creds.workerId}. Start it with: studio-worker run`);
  } catch (e) {
    if (abort.signal.aborted) {
      const saved = pendingId ?? registrationState(await ctx.store.load()).state;
      ctx.out(
        pendingId !== undefined
          ? `stopped waiting; request ${pendingId} stays pending, and \`studio-worker register\` or \`run\` resumes it`
          : `stopped before the studio took a registration request (${saved === 'pristine' ? 'none was sent' : saved}); \`studio-worker register\` asks again`,
      );
      return;
    }
    throw e;
  } finally {
    offSignals();
    await http.close();
    await dispatcher.close();
  }
}
