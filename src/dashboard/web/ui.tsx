import type { ComponentChildren } from 'preact';
import type { DownloadView, JobsResponse, LogRecord, StatusResponse } from '../api-types.js';

// What every tab shares: the live state and the two building blocks of a card. Kept apart from
// main.tsx and the tabs so no tab imports another (or the app) for them.

/** Live state, as the event stream delivers it; `offset` maps the server's clock onto ours. */
export interface Live {
  status: StatusResponse | undefined;
  offset: number;
  jobs: JobsResponse;
  logs: LogRecord[];
  downloads: DownloadView[];
}

export function Card(props: { title: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <section class={`card${props.wide ? ' wide' : ''}`}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

export function Row(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="row">
      <span class="label">{props.label}</span>
      <span class="value">{props.children}</span>
    </div>
  );
}
