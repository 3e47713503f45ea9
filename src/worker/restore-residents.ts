import type { Logger } from 'pino';
import type { ModelLifecycle } from '../local-api/index.js';
import { isLoadable } from '../local-api/index.js';
import { sleep, toError } from '../util/index.js';

/** How often a restore looks whether the load it started has settled. */
const SETTLE_POLL_MS = 250;

/**
 * The original's start (model-lifecycle.md, Residency): every resident catalogue model is loaded,
 * in catalogue order, one after the other. A model that fails stays resident and shows `failed`
 * (the next start tries again); one the catalogue no longer holds, or cannot keep loaded, is
 * skipped with a line. Runs beside registration and never fails the worker.
 */
export async function restoreResidents(
  lifecycle: ModelLifecycle,
  resident: ReadonlySet<string>,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  if (resident.size === 0) return;
  const models = await lifecycle.list();
  for (const id of resident) {
    if (!models.some((m) => m.id === id))
      log.warn(`resident model ${id} is not in the catalogue; not loaded`);
  }
  for (const m of models.filter((x) => resident.has(x.id))) {
    if (signal.aborted) return;
    if (!m.enabled || !isLoadable(m)) {
      log.info(
        `resident model ${m.id} is ${m.enabled ? 'loaded per job by its engine' : 'disabled'}; not loaded at start`,
      );
      continue;
    }
    try {
      log.info(`restoring resident model ${m.id}`);
      await lifecycle.load(m.id);
      while (!signal.aborted && (await lifecycle.state(m.id)).state === 'loading')
        await sleep(SETTLE_POLL_MS, signal);
      const { state, error } = await lifecycle.state(m.id);
      if (state === 'failed')
        log.warn(`resident model ${m.id} could not be restored: ${error ?? 'unknown error'}`);
    } catch (e) {
      if (signal.aborted) return;
      log.warn(`resident model ${m.id} could not be restored: ${toError(e).message}`);
    }
  }
}
