import { useCallback, useEffect, useState } from 'preact/hooks';
import type {
  CatalogEntryView,
  CatalogModelState,
  CatalogResponse,
  ModelActionResponse,
  ModelStateView,
} from '../api-types.js';
import { api, useNow } from './client.js';
import { formatAge, formatBytes, formatGb } from './format.js';
import { Card } from './ui.js';

/** While a model loads or unloads, the catalogue is read again this often. */
const MOVING_POLL_MS = 1000;

const STATE_TONE: Record<CatalogModelState, string> = {
  unloaded: 'muted',
  loading: 'busy',
  loaded: 'ok',
  unloading: 'busy',
  failed: 'bad',
};

type Action = 'load' | 'unload';

/**
 * The catalogue (models.json), every model with its state and one action, in two groups that keep
 * their order: models kept in memory (their engine loads in process) and models loaded per job.
 * Read again after each action, whenever the status feed's warm models change, and every second
 * while a model is on its way.
 */
export function CatalogCards({ warm }: { warm: ModelStateView[] }) {
  const [catalog, setCatalog] = useState<CatalogResponse>();
  const [readError, setReadError] = useState<string>();
  // Actions sent and not answered yet, and the refusals, per model: shown in the model's row.
  const [sent, setSent] = useState<Record<string, Action>>({});
  const [refused, setRefused] = useState<Record<string, string>>({});
  const now = useNow(1000);

  const refresh = useCallback(
    () =>
      api<CatalogResponse>('GET', '/api/catalog').then(
        (c) => {
          setCatalog(c);
          setReadError(undefined);
        },
        (e: unknown) => setReadError(messageOf(e)),
      ),
    [],
  );
  const feed = warm.map((m) => `${m.model}:${m.state}:${m.since ?? ''}`).join('|');
  useEffect(() => {
    void refresh();
  }, [feed]);
  const moving = catalog?.models?.some((m) => m.state === 'loading' || m.state === 'unloading') ?? false;
  useEffect(() => {
    if (!moving) return;
    const timer = setInterval(() => void refresh(), MOVING_POLL_MS);
    return () => clearInterval(timer);
  }, [moving]);

  const act = async (id: string, action: Action) => {
    setSent((s) => ({ ...s, [id]: action }));
    setRefused((r) => without(r, id));
    try {
      await api<ModelActionResponse>('POST', `/api/models/${encodeURIComponent(id)}/${action}`);
    } catch (e) {
      setRefused((r) => ({ ...r, [id]: messageOf(e) }));
    } finally {
      await refresh();
      setSent((s) => without(s, id));
    }
  };

  const models = catalog?.models;
  const held = (models ?? [])
    .filter((m) => m.state === 'loaded' || m.state === 'loading')
    .reduce((sum, m) => sum + m.vramGbEstimate, 0);
  const group = (title: string, rows: CatalogEntryView[], empty: string, testId: string) => (
    <Card title={title} wide>
      {rows.length === 0 ? (
        <p class="muted">{empty}</p>
      ) : (
        <table class="table catalog" data-testid={testId}>
          <thead>
            <tr>
              <th>State</th>
              <th>Model</th>
              <th>Resident</th>
              <th>Since</th>
              <th class="action-col">Action</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <ModelRow
                key={m.id}
                m={m}
                now={now}
                sent={sent[m.id]}
                refused={refused[m.id]}
                act={(action) => void act(m.id, action)}
              />
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );

  // Models an engine holds, or the operator keeps (`models keep`), that the catalogue does not list.
  const listed = new Set((models ?? []).map((m) => m.id));
  const others = warm.filter((w) => !listed.has(w.model));
  const otherCard = others.length > 0 && (
    <Card title="Loaded or kept, not in the catalogue" wide>
      <OtherModels rows={others} now={now} />
    </Card>
  );
  if (!models) {
    return (
      <>
        <Card title="Catalogue" wide>
          {readError ? (
            <p class="error">{readError}</p>
          ) : (
            <p class="muted">
              {catalog ? 'The catalogue is listed once the worker has started.' : 'Loading…'}
            </p>
          )}
        </Card>
        {otherCard}
      </>
    );
  }
  return (
    <>
      {readError && <p class="error">{readError}</p>}
      {group(
        'Kept in memory',
        models.filter((m) => m.loadable),
        'No model in the catalogue can be kept loaded (llama-cpp models can).',
        'catalog-kept',
      )}
      {group(
        'Loaded per job',
        models.filter((m) => !m.loadable),
        'No catalogue model whose engine loads it for each job.',
        'catalog-per-job',
      )}
      <p class="hint" data-testid="catalog-memory">
        {models.length} model{models.length === 1 ? '' : 's'} in the catalogue (models.json beside
        config.toml){held > 0 ? `; ≈ ${formatGb(held)} estimated for the loaded ones` : ''}. Load keeps a
        model in memory, also after a restart, until Unload.
      </p>
      {otherCard}
    </>
  );
}

/** Warm or kept models outside the catalogue: their state from the status feed, no action. */
function OtherModels({ rows, now }: { rows: ModelStateView[]; now: number }) {
  return (
    <table class="table" data-testid="loaded-models">
      <thead>
        <tr>
          <th>Model</th>
          <th>State</th>
          <th>Since</th>
          <th>Size</th>
          <th>Kept</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((m) => (
          <tr key={m.model}>
            <td>
              <code>{m.model}</code>
              {m.engine && <span class="muted"> · {m.engine}</span>}
              {m.error && <p class="error">{m.error}</p>}
            </td>
            <td>
              <span class={`pill ${STATE_TONE[m.state]}`} data-testid={`model-state-${m.model}`}>
                {m.state}
              </span>
            </td>
            <td class="nowrap">{m.since ? formatAge(Date.parse(m.since), now) : ''}</td>
            <td class="nowrap">{m.bytes ? formatBytes(m.bytes) : ''}</td>
            <td>{m.kept ? 'yes' : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ModelRow(props: {
  m: CatalogEntryView;
  now: number;
  sent: Action | undefined;
  refused: string | undefined;
  act: (action: Action) => void;
}) {
  const { m, now, sent, refused } = props;
  const action = actionOf(m, sent);
  return (
    <tr data-testid={`catalog-row-${m.id}`}>
      <td class="nowrap">
        <span class={`state ${STATE_TONE[m.state]}`} data-testid={`catalog-state-${m.id}`}>
          {m.state}
        </span>
      </td>
      <td>
        <strong>{m.displayName ?? m.id}</strong>
        {m.displayName !== undefined && m.displayName !== m.id && <code class="muted"> {m.id}</code>}
        <div class="hint">
          {m.kind} · {m.engine} · ≈ {formatGb(m.vramGbEstimate)}
          {m.exclusiveGroup && ` · group ${m.exclusiveGroup}`}
          {!m.enabled && ' · disabled'}
        </div>
        {m.error && (
          <p class="error" data-testid={`catalog-error-${m.id}`}>
            {m.error}
          </p>
        )}
        {refused && (
          <p class="error" data-testid={`catalog-refused-${m.id}`}>
            {refused}
          </p>
        )}
      </td>
      <td>{m.resident ? <span class="pill busy">resident</span> : ''}</td>
      <td class="nowrap" title={m.since}>
        {m.since ? formatAge(Date.parse(m.since), now) : ''}
      </td>
      <td class="action-col">
        <button
          class="model-action"
          disabled={action.disabled}
          title={action.title}
          onClick={() => action.run && props.act(action.run)}
          data-testid={`catalog-action-${m.id}`}
        >
          {action.label}
        </button>
      </td>
    </tr>
  );
}

/** The row's one action: what it says, whether it can be pressed, and what it sends. */
function actionOf(
  m: CatalogEntryView,
  sent: Action | undefined,
): { label: string; disabled: boolean; run?: Action; title?: string } {
  if (sent === 'load' || m.state === 'loading') return { label: 'Loading…', disabled: true };
  if (sent === 'unload' || m.state === 'unloading') return { label: 'Unloading…', disabled: true };
  if (m.state === 'loaded') return { label: 'Unload', disabled: false, run: 'unload' };
  if (!m.loadable) {
    // A per-job engine's model is loaded by its jobs; one it left failed can still be cleared.
    return m.state === 'failed'
      ? { label: 'Unload', disabled: false, run: 'unload' }
      : { label: 'Load', disabled: true, title: `${m.engine} loads this model for each job` };
  }
  if (m.state === 'failed') return { label: 'Retry', disabled: false, run: 'load' };
  return { label: 'Load', disabled: false, run: 'load' };
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const copy = { ...record };
  delete copy[key];
  return copy;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
