import { useEffect, useState } from 'preact/hooks';
import type { DownloadView, ModelStateView, ModelsResponse } from '../api-types.js';
import { CatalogCards } from './catalog.js';
import { api, useNow } from './client.js';
import { formatAge, formatBytes } from './format.js';
import { Card } from './ui.js';

export function ModelsTab({ downloads, loaded }: { downloads: DownloadView[]; loaded: ModelStateView[] }) {
  const [models, setModels] = useState<ModelsResponse>();
  const [error, setError] = useState<string>();
  const now = useNow(5000);
  const active = downloads.filter((d) => !d.done).length;

  // The listing is re-read when the set of downloads changes (a finished one lands in the cache).
  useEffect(() => {
    api<ModelsResponse>('GET', '/api/models').then(setModels, (e: unknown) => setError(String(e)));
  }, [active]);

  return (
    <div class="stack">
      <CatalogCards warm={loaded} />
      <Card title="Downloads" wide>
        {downloads.length === 0 ? (
          <p class="muted">No download in progress.</p>
        ) : (
          downloads.map((d) => <Download key={d.filename} d={d} />)
        )}
      </Card>
      <Card title="Model cache" wide>
        {error && <p class="error">{error}</p>}
        {models?.root && (
          <p class="hint">
            Folder <code>{models.root}</code>
            {models.files &&
              ` · ${models.files.length} file${models.files.length === 1 ? '' : 's'}, ${formatBytes(models.files.reduce((s, f) => s + f.bytes, 0))}`}
          </p>
        )}
        {!models ? (
          <p class="muted">Loading…</p>
        ) : !models.files ? (
          <p class="muted">The cache is listed once the worker has started.</p>
        ) : models.files.length === 0 ? (
          <p class="muted">No model files cached yet: they are downloaded when a job needs them.</p>
        ) : (
          <table class="table" data-testid="model-files">
            <thead>
              <tr>
                <th>File</th>
                <th>Size</th>
                <th>Last used</th>
                <th>In use</th>
                <th>SHA-256</th>
              </tr>
            </thead>
            <tbody>
              {models.files.map((f) => (
                <tr key={f.filename}>
                  <td>
                    <code>{f.filename}</code>
                  </td>
                  <td class="nowrap">{formatBytes(f.bytes)}</td>
                  <td class="nowrap" title={f.lastUsedAt}>
                    {formatAge(Date.parse(f.lastUsedAt), now)}
                  </td>
                  <td>{f.inUse ? <span class="pill busy">in use</span> : ''}</td>
                  <td>
                    <code class="muted" title={f.sha256}>
                      {f.sha256.slice(0, 12)}…
                    </code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

function Download({ d }: { d: DownloadView }) {
  const fraction = d.totalBytes ? d.receivedBytes / d.totalBytes : undefined;
  return (
    <div class="download">
      <div class="row">
        <code>{d.filename}</code>
        <span class="hint">
          {formatBytes(d.receivedBytes)}
          {d.totalBytes !== undefined && ` of ${formatBytes(d.totalBytes)}`}
          {!d.done && ` · ${formatBytes(d.bytesPerSec)}/s`}
          {!d.done && d.etaSec !== undefined && ` · ${Math.ceil(d.etaSec)} s left`}
        </span>
      </div>
      <div class="bar">
        <div
          class={`fill${d.error ? ' failed' : ''}`}
          style={{ width: `${Math.round((fraction ?? 0) * 100)}%` }}
        />
      </div>
      {d.error && <p class="error">{d.error}</p>}
    </div>
  );
}
