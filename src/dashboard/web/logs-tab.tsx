import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogRecord } from '../api-types.js';
import { formatClock } from './format.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export function LogsTab({ logs }: { logs: LogRecord[] }) {
  const [minLevel, setMinLevel] = useState<string>('debug');
  const [query, setQuery] = useState('');
  const [follow, setFollow] = useState(true);
  const list = useRef<HTMLDivElement>(null);

  const floor = LEVELS.indexOf(minLevel as (typeof LEVELS)[number]);
  const needle = query.trim().toLowerCase();
  const shown = logs.filter(
    (r) =>
      LEVELS.indexOf(r.level) >= floor &&
      (needle === '' ||
        r.message.toLowerCase().includes(needle) ||
        r.category.toLowerCase().includes(needle) ||
        (r.jobId ?? '').toLowerCase().includes(needle)),
  );
  useEffect(() => {
    if (follow && list.current) list.current.scrollTop = list.current.scrollHeight;
  });

  return (
    <section class="card wide logs">
      <div class="toolbar">
        <label>
          Level{' '}
          <select
            value={minLevel}
            onChange={(e) => setMinLevel(e.currentTarget.value)}
            data-testid="log-level"
          >
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </label>
        <input
          type="search"
          placeholder="Search category, message, job id"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          data-testid="log-search"
        />
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />{' '}
          Auto-scroll
        </label>
        <span class="hint">
          {shown.length} of {logs.length} records
        </span>
      </div>
      <div class="loglist" ref={list} data-testid="log-list">
        {shown.map((r, i) => (
          <div key={`${r.ts}-${i}`} class={`logline ${r.level}`}>
            <span class="ts">{formatClock(r.ts)}</span>
            <span class={`lvl ${r.level}`}>{r.level}</span>
            <span class="cat">{r.category}</span>
            <span class="msg">
              {r.jobId && <span class="job">{r.jobId}</span>}
              {r.message}
            </span>
          </div>
        ))}
        {shown.length === 0 && <p class="muted">No records match.</p>}
      </div>
    </section>
  );
}
