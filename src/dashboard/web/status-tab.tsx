import { useState } from 'preact/hooks';
import type { RegistrationView, StatusResponse, StatusView } from '../api-types.js';
import { api, useNow } from './client.js';
import { formatAge, formatBytes, formatDuration, formatGb } from './format.js';
import { Card, Row, type Live } from './ui.js';

/** A heartbeat older than this means the session is not carrying them (they go every 5 s). */
const STALE_HEARTBEAT_MS = 15_000;

export function StatusTab({ live }: { live: Live }) {
  const now = useNow() + live.offset;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const s = live.status?.status;
  if (!s) return <p class="muted">Waiting for the worker…</p>;

  const toggle = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api<StatusResponse>('POST', s.paused ? '/api/resume' : '/api/pause');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const heartbeatAge = s.session.lastHeartbeatAt === undefined ? undefined : now - s.session.lastHeartbeatAt;

  return (
    <div class="grid">
      <Card title="Registration" wide>
        <Registration reg={s.registration} />
      </Card>
      <Card title="Worker">
        <Row label="Worker id">
          {s.workerId ? <code>{s.workerId}</code> : <span class="muted">not yet</span>}
        </Row>
        <Row label="Studio">{s.apiBaseUrl ? <code>{s.apiBaseUrl}</code> : '–'}</Row>
        <Row label="Lifecycle">{s.state}</Row>
        <Row label="Version">{s.version}</Row>
      </Card>
      <Card title="GPU">
        <Row label="VRAM total">{formatGb(s.vramTotalGb)}</Row>
        <Row label="Threshold">{formatGb(s.vramThresholdGb)}</Row>
        <p class="hint">Jobs estimated above the threshold are turned down.</p>
      </Card>
      <Card title="Session">
        <Row label="State">
          <span class={`pill ${s.session.state === 'welcomed' ? 'ok' : 'warn'}`}>
            {sessionLabel(s.session.state)}
          </span>
        </Row>
        <Row label="Last heartbeat">
          <span class={heartbeatAge !== undefined && heartbeatAge < STALE_HEARTBEAT_MS ? 'fresh' : 'stale'}>
            {formatAge(s.session.lastHeartbeatAt, now)}
          </span>
        </Row>
        {s.session.state === 'waiting' && s.session.nextAttemptAt !== undefined && (
          <Row label="Reconnect">in {Math.max(0, Math.ceil((s.session.nextAttemptAt - now) / 1000))} s</Row>
        )}
      </Card>
      <Card title="Disk">
        {s.disk.spaces.map((d) => (
          <Row label={d.label} key={d.path}>
            <span title={d.path}>
              {d.freeBytes === undefined ? 'unknown' : `${formatBytes(d.freeBytes)} free`}
            </span>
          </Row>
        ))}
        {s.disk.problem ? (
          <p class="error" data-testid="disk-problem">
            {s.disk.problem}: offers are turned down until there is room.
          </p>
        ) : (
          <p class="hint">Offers are turned down while less than 1 GB is free here.</p>
        )}
      </Card>
      <Card title="User presence">
        <Row label="Now">
          <span data-testid="presence">
            {s.presence?.presence ?? 'unknown'}
            {s.presence?.idleMs !== undefined && ` (input ${Math.round(s.presence.idleMs / 1000)} s ago)`}
          </span>
        </Row>
        <Row label="Only when idle">{s.presence?.onlyWhenIdle ? 'on' : 'off'}</Row>
        <p class="hint">
          {s.presence?.presence === undefined
            ? `Cannot tell whether someone uses this computer: ${s.presence?.reason ?? 'not read yet'}.`
            : `Read from ${s.presence.source}; idle after 2 minutes without input.`}{' '}
          {s.presence?.onlyWhenIdle
            ? 'Studio work is taken only while idle (a running job carries on).'
            : 'Set only_when_idle to take studio work only while nobody is at the keyboard.'}
        </p>
      </Card>
      <Card title="Local API">
        {s.localApi.on ? (
          <>
            <Row label="URL">
              <code data-testid="local-api-url">{s.localApi.url}</code>
            </Row>
            <p class="hint">
              On, for programs on this machine. The bearer token is in <code>{s.localApi.discoveryPath}</code>
              .
            </p>
          </>
        ) : (
          <p class="muted" data-testid="local-api-off">
            Off{s.localApi.problem ? `: ${s.localApi.problem}` : ''}.
          </p>
        )}
        {s.localApi.stream && (
          <Row label="Streaming speech">
            <span data-testid="stream-listener">
              {s.localApi.stream.on
                ? `listening on ${s.localApi.stream.addr} (${s.localApi.stream.sessions} streaming now)`
                : `off: ${s.localApi.stream.problem}`}
            </span>
          </Row>
        )}
      </Card>
      <Card title="GPU now">
        {s.gpu ? (
          <>
            <Row label="Free memory">
              <span data-testid="gpu-free">{formatBytes(s.gpu.freeBytes)}</span>
            </Row>
            {s.gpu.temperatureC !== undefined && (
              <Row label="Temperature">
                <span
                  class={s.gpu.temperatureC > (s.maxGpuTempC ?? 85) ? 'stale' : 'fresh'}
                  data-testid="gpu-temp"
                >
                  {`${s.gpu.temperatureC} °C`}
                </span>
              </Row>
            )}
            {s.gpu.utilizationPct !== undefined && <Row label="Load">{`${s.gpu.utilizationPct} %`}</Row>}
            <p class="hint">
              Read from {s.gpu.source}. Offers that do not fit in free memory (1 GiB kept spare, this
              worker&apos;s idle models counted as free) or that arrive while the GPU is too hot are turned
              down, so another worker takes them.
            </p>
          </>
        ) : (
          <p class="muted">No GPU reading on this machine: offers are judged by the VRAM threshold alone.</p>
        )}
      </Card>
      <Card title="Jobs">
        <Row label="Now">
          {s.currentJob ? `${s.currentJob.kind} · ${formatDuration(s.currentJob.elapsedMs)}` : 'idle'}
        </Row>
        <Row label="Completed">{s.counts.completed}</Row>
        <Row label="Failed">{s.counts.failed}</Row>
        <Row label="Turned down">{s.counts.rejected}</Row>
        <Row label="Last hour">{`${s.jobsLastHour} completed`}</Row>
        <Row label="Pending uploads">
          <span data-testid="pending-results">{s.pendingResults}</span>
        </Row>
        <Row label="Up for">{formatDuration(s.uptimeMs)}</Row>
        {s.pendingResults > 0 && (
          <p class="hint">
            Finished results the studio has not taken yet; each goes out when it offers the job again.
          </p>
        )}
      </Card>
      <Card title="Engines" wide>
        <div class="engines">
          {s.engines.map((e) => (
            <Engine key={e.engine} engine={e} />
          ))}
        </div>
      </Card>
      <Card title="Taking jobs">
        <p data-testid="taking-jobs">{takingJobs(s)}</p>
        <Availability s={s} />
        <button
          class={s.paused ? 'primary' : ''}
          disabled={busy}
          onClick={() => void toggle()}
          data-testid="pause-toggle"
        >
          {s.paused ? 'Resume' : 'Pause'}
        </button>
        <p class="hint">Until the worker restarts; a running job is finished first.</p>
        {error && <p class="error">{error}</p>}
      </Card>
    </div>
  );
}

/** Whether offers are taken now, in words that are true at every stage, registration included. */
function takingJobs(s: StatusView): string {
  if (s.registration.state === 'rejected') return 'Not taking offers: the studio rejected this worker.';
  if (s.registration.state !== 'approved')
    return 'Not taking offers yet: the worker is registering with the studio (an operator approves it once).';
  if (s.paused)
    return s.currentJob
      ? 'Paused: the running job finishes; offers that arrive meanwhile are turned down and go back to the studio, which gives them to another worker or offers them again after Resume.'
      : 'Paused: offers are turned down (they go back to the studio) and heartbeats say autoEnabled: false.';
  if (s.session.state !== 'welcomed')
    return 'Not taking offers: not connected to the studio (see Session); it reconnects by itself.';
  if (s.availability && !s.availability.available) return 'Connected, but taking no offers now (below).';
  return 'Accepting offers from the studio.';
}

/** One engine: its name, whether it runs here, the first line of why; the whole detail on demand. */
function Engine({ engine: e }: { engine: StatusView['engines'][number] }) {
  const [first = '', ...rest] = e.detail.split(/(?<=\.)\s+|\n/);
  return (
    <div class="engine" data-testid={`engine-row-${e.engine}`}>
      <strong>{e.engine}</strong>
      <span class={`pill ${e.ready ? 'ok' : 'warn'}`}>{e.ready ? 'ready' : 'cannot run'}</span>
      <span class="muted why" title={e.detail} data-testid={`engine-${e.engine}`}>
        {first}
      </span>
      {rest.length > 0 && (
        <details>
          <summary>details</summary>
          <div class="expanded muted">{e.detail}</div>
        </details>
      )}
    </div>
  );
}

/** Why heartbeats tell the studio to offer nothing (or nothing large) now, when they do. */
function Availability({ s }: { s: StatusView }) {
  const a = s.availability;
  if (!a) return null;
  const held = a.reasons.filter((r) => r !== 'paused by the operator');
  return (
    <div data-testid="availability">
      {!a.available && held.length > 0 && (
        <p class="error">
          The studio is told this worker takes no jobs now (autoEnabled: false), because: {held.join('; ')}.
          It offers again once that clears.
        </p>
      )}
      {a.vramLowered && (
        <p class="hint">
          Jobs up to {a.vramThresholdGb} GB only: {a.vramLowered}.
        </p>
      )}
    </div>
  );
}

function Registration({ reg }: { reg: RegistrationView }) {
  const [copied, setCopied] = useState(false);
  switch (reg.state) {
    case 'pristine':
      return (
        <p>
          <span class="pill muted">Initialising</span> Asking the studio to register this machine…
        </p>
      );
    case 'approved':
      return (
        <p>
          <span class="pill ok">Registered</span> The studio approved this worker.
        </p>
      );
    case 'rejected':
      return <Rejected reason={reg.reason} />;
    case 'pending':
      return (
        <div>
          <p>
            <span class="pill warn">Pending</span> Waiting for an operator to approve request{' '}
            <code data-testid="request-id">{reg.requestId}</code>{' '}
            <button
              class="small"
              onClick={() =>
                void navigator.clipboard.writeText(reg.requestId).then(() => {
                  setCopied(true);
                  setTimeout(() => setCopied(false), 1500);
                })
              }
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </p>
          {reg.since && <p class="hint">Requested {new Date(reg.since).toLocaleString()}.</p>}
        </div>
      );
  }
}

/** A rejected registration: the studio's reason, and Reset registration to ask again. */
function Rejected({ reason }: { reason: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const reset = async () => {
    setBusy(true);
    setError(undefined);
    try {
      // The status feed brings the fresh request (pending) once the worker has sent it.
      await api<StatusResponse>('POST', '/api/registration/reset');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div data-testid="registration-rejected">
      <p>
        <span class="pill bad">Registration rejected</span>{' '}
        <span data-testid="rejection-reason">{reason || 'The studio gave no reason.'}</span>
      </p>
      <div class="actions">
        <button disabled={busy} onClick={() => void reset()} data-testid="registration-reset">
          {busy ? 'Resetting…' : 'Reset registration'}
        </button>
        <span class="hint">
          Clears this registration and asks the studio again, as <code>studio-worker register --reset</code>{' '}
          does.
        </span>
      </div>
      {error && <p class="error">{error}</p>}
    </div>
  );
}

function sessionLabel(state: string): string {
  const labels: Record<string, string> = {
    idle: 'not started',
    connecting: 'connecting',
    open: 'saying hello',
    welcomed: 'connected',
    waiting: 'disconnected',
    closed: 'closed',
  };
  return labels[state] ?? state;
}
