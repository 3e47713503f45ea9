import { useEffect, useState } from 'preact/hooks';
import type { ConfigErrorsResponse, ConfigFieldView, ConfigResponse } from '../api-types.js';
import { api, ApiError } from './client.js';
import { Card } from './ui.js';

type Draft = Record<string, string | boolean>;

/** Labels and help for the fields this version knows; a newer field still shows, by its TOML name. */
const LABELS: Record<string, [string, string]> = {
  api_base_url: ['Studio URL', 'The studio this worker registers with and connects to.'],
  vram_threshold_gb: ['VRAM threshold (GB)', 'Jobs estimated to need more VRAM than this are turned down.'],
  auto_start: ['Start on login', 'Start the worker when you log in.'],
  auto_update_enabled: ['Automatic updates', 'Install new releases when idle.'],
  auto_update_interval_secs: ['Update check interval (s)', 'How often to look for a new release.'],
  auto_update_feed: ['Release feed', 'Where releases are looked up.'],
  auto_update_prerelease: ['Include pre-releases', 'Also install pre-release versions.'],
  models_root: ['Models folder', 'Where model files are downloaded and cached (~ is your home).'],
  sd_cli_path: ['sd-cli path', "stable-diffusion.cpp's sd-cli; empty: look it up on PATH."],
  dashboard_port: ['Dashboard port', 'Port of this dashboard on 127.0.0.1 (applies on the next start).'],
  notify_job_completed: ['Notify: job completed', 'A desktop notification when a job finishes.'],
  notify_job_failed: ['Notify: job failed', 'A desktop notification when a job fails.'],
  notify_registration_approved: [
    'Notify: registration approved',
    'A desktop notification when the studio approves this worker.',
  ],
  gpu_offload: ['GPU offload', 'Run models on the GPU where the engine can (off: CPU only).'],
  llm_threads: ['LLM threads', 'CPU threads a language model may use (0: automatic).'],
  llm_idle_unload_secs: [
    'LLM idle unload (s)',
    'Unload a language model after this long unused (0: keep loaded).',
  ],
  job_stall_timeout_secs: [
    'Job stall timeout (s)',
    'Stop a job whose engine shows no progress for this long (it is retried elsewhere).',
  ],
  job_timeout_secs: ['Job time limit (s)', 'Stop a job that runs longer than this.'],
  engine_max_rss_gb: [
    'Engine memory limit (GB)',
    "Stop an engine process that holds more memory than this (empty: 85 % of this machine's RAM).",
  ],
};

function draftOf(view: ConfigResponse): Draft {
  const draft: Draft = {};
  for (const f of view.fields)
    draft[f.toml] = f.type === 'boolean' ? f.value === true : f.value === null ? '' : String(f.value);
  return draft;
}

function valuesOf(fields: ConfigFieldView[], draft: Draft): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = draft[f.toml];
    if (f.type === 'boolean') out[f.toml] = v === true;
    else if (f.type === 'number') out[f.toml] = v === '' ? null : Number(v);
    else out[f.toml] = v === '' ? null : v;
  }
  return out;
}

export function ConfigTab() {
  const [saved, setSaved] = useState<ConfigResponse>();
  const [draft, setDraft] = useState<Draft>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string>();
  const [saving, setSaving] = useState(false);

  const load = async () => {
    const view = await api<ConfigResponse>('GET', '/api/config');
    setSaved(view);
    setDraft(draftOf(view));
    setErrors({});
  };
  useEffect(() => {
    load().catch((e: unknown) => setMessage(`Could not load the config: ${String(e)}`));
  }, []);
  if (!saved) return <p class="muted">{message ?? 'Loading the config…'}</p>;

  const dirty = JSON.stringify(draft) !== JSON.stringify(draftOf(saved));
  const save = async () => {
    setSaving(true);
    setMessage(undefined);
    try {
      const view = await api<ConfigResponse>('PUT', '/api/config', valuesOf(saved.fields, draft));
      setSaved(view);
      setDraft(draftOf(view));
      setErrors({});
      setMessage(`Saved to ${view.path}. The worker picks changes up within a few seconds.`);
    } catch (e) {
      const body = e instanceof ApiError ? (e.body as Partial<ConfigErrorsResponse>) : undefined;
      setErrors(body?.errors ?? { '': String(e) });
    } finally {
      setSaving(false);
    }
  };
  const reset = () => {
    setDraft(draftOf(saved));
    setErrors({});
    setMessage('Reverted to the saved file.');
  };

  return (
    <Card title="Configuration" wide>
      <p class="hint">
        Operator settings from <code>{saved.path}</code>. Saving checks every value with the same rules as the
        file and writes it atomically.
      </p>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {saved.fields.map((f) => (
          <Field
            key={f.toml}
            field={f}
            value={draft[f.toml]}
            error={errors[f.toml]}
            onChange={(v) => setDraft({ ...draft, [f.toml]: v })}
          />
        ))}
        {errors[''] && <p class="error">{errors['']}</p>}
        <div class="actions">
          <button type="submit" class="primary" disabled={!dirty || saving} data-testid="config-save">
            {saving ? 'Saving…' : 'Save'}
          </button>
          <button type="button" disabled={!dirty || saving} onClick={reset} data-testid="config-reset">
            Reset
          </button>
          {message && (
            <span class="hint" data-testid="config-message">
              {message}
            </span>
          )}
        </div>
      </form>
    </Card>
  );
}

function Field(props: {
  field: ConfigFieldView;
  value: string | boolean | undefined;
  error: string | undefined;
  onChange: (v: string | boolean) => void;
}) {
  const { field: f } = props;
  const [label, help] = LABELS[f.toml] ?? [f.toml, ''];
  const id = `cfg-${f.toml}`;
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={id}>
        <span class="name">{label}</span>
        <code class="key">{f.toml}</code>
      </label>
      <div class="control">
        {f.type === 'boolean' ? (
          <input
            id={id}
            name={f.toml}
            type="checkbox"
            checked={props.value === true}
            onChange={(e) => props.onChange(e.currentTarget.checked)}
          />
        ) : (
          <input
            id={id}
            name={f.toml}
            type={f.type === 'number' ? 'number' : 'text'}
            step="any"
            value={typeof props.value === 'string' ? props.value : ''}
            placeholder={f.optional ? 'not set' : f.defaultValue === null ? '' : String(f.defaultValue)}
            onInput={(e) => props.onChange(e.currentTarget.value)}
          />
        )}
      </div>
      <span class="help">{props.error ? <span class="error">{props.error}</span> : help}</span>
    </div>
  );
}
