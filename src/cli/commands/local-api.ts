import { join } from 'node:path';
import { ResidencyStore } from '../../config/index.js';
import { createEngines, EngineDispatcher, watchdogLimits } from '../../engines/index.js';
import { LocalFirstModels } from '../../generate/index.js';
import {
  ApiError,
  CatalogStore,
  DISCOVERY_FILE,
  LOCAL_API_PORT_ENV,
  readDiscovery,
  resolveLocalApiPort,
  serveLocalApi,
} from '../../local-api/index.js';
import { ModelCache } from '../../models/index.js';
import { JobGate } from '../../runner/index.js';
import { expandHome } from '../../config/index.js';
import { ExitCode, UserError, useImageCodecProcess } from '../../util/index.js';
import type { CommandContext } from '../context.js';
import { onShutdownSignal } from '../signals.js';

/**
 * `studio-worker serve`: the local API alone, no studio and no registration: this machine's engines
 * for local programs until Ctrl+C.
 */
export async function serveCommand(ctx: CommandContext, opts: { port?: string }): Promise<void> {
  // Long-running, as `run`: images are made in a codec process that goes when idle.
  useImageCodecProcess();
  const config = await ctx.store.load();
  const port = opts.port === undefined ? undefined : Number(opts.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new UserError(`--port expects a port number from 0 to 65535, got "${opts.port}"`);
  }
  const models = new ModelCache({
    root: expandHome(config.modelsRoot),
    log: ctx.log.child({ category: 'models' }),
    allowInsecure: config.allowInsecureDownloads,
  });
  const residency = new ResidencyStore(ctx.store.dir);
  await residency.load();
  const dispatcher = new EngineDispatcher(
    createEngines({ config, log: ctx.log, kept: (m) => residency.has(m) }),
    { limits: watchdogLimits(config), log: ctx.log },
  );
  await dispatcher.init();
  const catalog = new CatalogStore(ctx.store.dir);
  await catalog.list();
  for (const w of [...catalog.warnings, ...residency.warnings]) ctx.log.warn(w);
  let served;
  try {
    served = await serveLocalApi({
      store: ctx.store,
      dispatcher,
      models: new LocalFirstModels(models, false),
      gate: new JobGate(),
      catalog,
      residency,
      log: ctx.log,
      ...(port !== undefined ? { port } : {}),
    });
  } catch (e) {
    await dispatcher.close();
    await models.close();
    if (e instanceof ApiError) throw new UserError(e.message, ExitCode.system);
    throw e;
  }
  ctx.out(`local API on ${served.url}`);
  const stream = served.stream();
  ctx.out(
    stream.on
      ? `streaming speech on ws://${stream.host}:${stream.port}${stream.path} (tokens: POST /stream-tokens)`
      : `streaming speech off: ${stream.problem}`,
  );
  ctx.out(`token: in ${served.discoveryPath} (owner-only); Ctrl+C stops`);
  let off: (() => void) | undefined;
  await new Promise<void>((resolve) => {
    off = onShutdownSignal(async () => {
      await served.close();
      await dispatcher.close();
      await models.close();
      resolve();
    }, ctx.log);
  });
  off?.();
}

/** `studio-worker local-api`: where the local API is, whether something answers there, how to get the token. */
export async function localApiCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const config = await ctx.store.load();
  const discovery = join(ctx.store.dir, DISCOVERY_FILE);
  const found = await readDiscovery(ctx.store.dir).catch(() => 'unreadable' as const);
  const published = typeof found === 'string' ? undefined : found;
  const port = resolveLocalApiPort(process.env, config.localApiPort, (m) => ctx.log.warn(m));
  const url = published?.url ?? `http://127.0.0.1:${port}`;
  let running = false;
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    running = res.ok;
  } catch {
    running = false;
  }
  if (opts.json) {
    ctx.out(JSON.stringify({ url, running, discoveryPath: discovery, published: published !== undefined }));
    return;
  }
  ctx.out(
    `URL:    ${url} (${running ? 'a worker answers there' : 'nothing answers there now: start `studio-worker run`, `ui` or `serve`'})`,
  );
  ctx.out(`token:  the "token" field of ${discovery} (owner-only; written while a worker serves)`);
  ctx.out(`        e.g. TOKEN=$(node -p "require('${discovery.replaceAll('\\', '\\\\')}').token")`);
  ctx.out(`port:   local_api_port in config.toml (default 4787) or ${LOCAL_API_PORT_ENV}`);
  ctx.out(`try:    curl -H "Authorization: Bearer $TOKEN" ${url}/models`);
}
