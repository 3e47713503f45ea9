import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { DownloadView, JobsResponse, LogRecord, StatusResponse, StatusView } from '../api-types.js';
import { AboutTab } from './about-tab.js';
import { useEventStream } from './client.js';
import { ConfigTab } from './config-tab.js';
import { JobsTab } from './jobs-tab.js';
import { LogsTab } from './logs-tab.js';
import { ModelsTab } from './models-tab.js';
import { StatusTab } from './status-tab.js';
import type { Live } from './ui.js';

const TABS = ['status', 'jobs', 'config', 'logs', 'models', 'about'] as const;
type Tab = (typeof TABS)[number];
const MAX_LOGS = 1000;

function tabFromHash(): Tab {
  const name = location.hash.slice(1);
  return (TABS as readonly string[]).includes(name) ? (name as Tab) : 'status';
}

/** The header's one word: what the worker is doing, and only IDLE when it could take a job now. */
export function badgeOf(status: StatusView | undefined): { label: string; tone: string } {
  if (!status) return { label: '…', tone: 'muted' };
  if (status.registration.state === 'rejected') return { label: 'REJECTED', tone: 'bad' };
  if (status.registration.state !== 'approved') return { label: 'REGISTERING', tone: 'muted' };
  if (status.currentJob) return { label: 'BUSY', tone: 'busy' };
  if (status.paused) return { label: 'PAUSED', tone: 'warn' };
  if (status.session.state !== 'welcomed') return { label: 'OFFLINE', tone: 'warn' };
  return { label: 'IDLE', tone: 'ok' };
}

function App() {
  const [tab, setTab] = useState<Tab>(tabFromHash());
  const [live, setLive] = useState<Live>({
    status: undefined,
    offset: 0,
    jobs: { current: undefined, finished: [] },
    logs: [],
    downloads: [],
  });
  const listener = useMemo(
    () => ({
      status: (s: StatusResponse) => setLive((l) => ({ ...l, status: s, offset: s.now - Date.now() })),
      jobs: (jobs: JobsResponse) => setLive((l) => ({ ...l, jobs })),
      downloads: (downloads: DownloadView[]) => setLive((l) => ({ ...l, downloads })),
      logs: ({ records, reset }: { records: LogRecord[]; reset: boolean }) =>
        setLive((l) => ({ ...l, logs: (reset ? records : [...l.logs, ...records]).slice(-MAX_LOGS) })),
    }),
    [],
  );
  const connected = useEventStream(listener);
  useEffect(() => {
    const onHash = () => setTab(tabFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const badge = badgeOf(live.status?.status);

  return (
    <div class="shell">
      <header class="top">
        <h1>Studio worker</h1>
        <span class={`badge ${badge.tone}`} data-testid="state-badge">
          {badge.label}
        </span>
        <span class={`link ${connected ? 'up' : 'down'}`}>
          {connected ? 'live' : 'reconnecting to the worker…'}
        </span>
      </header>
      <nav class="tabs" role="tablist">
        {TABS.map((t) => (
          <a
            key={t}
            role="tab"
            href={`#${t}`}
            aria-selected={tab === t}
            class={tab === t ? 'active' : ''}
            data-testid={`tab-${t}`}
          >
            {t[0]?.toUpperCase() + t.slice(1)}
          </a>
        ))}
      </nav>
      <main>
        {tab === 'status' && <StatusTab live={live} />}
        {tab === 'jobs' && <JobsTab live={live} />}
        {tab === 'config' && <ConfigTab />}
        {tab === 'logs' && <LogsTab logs={live.logs} />}
        {tab === 'models' && (
          <ModelsTab downloads={live.downloads} loaded={live.status?.status.models ?? []} />
        )}
        {tab === 'about' && <AboutTab />}
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
