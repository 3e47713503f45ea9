import type { CurrentJobView, FinishedJob } from '../api-types.js';
import { useNow } from './client.js';
import { formatBytes, formatClock, formatDuration } from './format.js';
import { Card, Row, type Live } from './ui.js';

export function JobsTab({ live }: { live: Live }) {
  const { current, finished } = live.jobs;
  return (
    <div class="stack">
      <Card title="Current job" wide>
        {current ? <Current job={current} /> : <p class="muted">No job running.</p>}
      </Card>
      <Card title={`Finished jobs (last ${finished.length})`} wide>
        {finished.length === 0 ? (
          <p class="muted">No job has finished since the worker started.</p>
        ) : (
          <table class="table" data-testid="finished-jobs">
            <thead>
              <tr>
                <th>Finished</th>
                <th>Outcome</th>
                <th>Kind</th>
                <th>Model</th>
                <th>Duration</th>
                <th>Prompt / error</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {finished.map((j) => (
                <Finished key={j.jobId} job={j} />
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

function Current({ job }: { job: CurrentJobView }) {
  // elapsedMs was measured when the status was sent; the page keeps counting from there.
  const since = useNow() - job.elapsedMs;
  const fraction = job.progress?.fraction;
  return (
    <div data-testid="current-job">
      <Row label="Job">
        <code>{job.jobId}</code>
      </Row>
      <Row label="Kind · model">
        {job.kind} · {job.model}
      </Row>
      {job.prompt && <Row label="Prompt">{job.prompt}</Row>}
      <Row label="Elapsed">
        <Elapsed since={since} /> {job.phase === 'uploading' && <span class="pill busy">uploading</span>}
      </Row>
      {(fraction !== undefined || job.progress?.message) && (
        <div class="progress">
          {fraction !== undefined && (
            <div class="bar">
              <div class="fill" style={{ width: `${Math.round(fraction * 100)}%` }} />
            </div>
          )}
          <span class="hint">
            {fraction !== undefined ? `${Math.round(fraction * 100)}%` : ''} {job.progress?.message ?? ''}
          </span>
        </div>
      )}
    </div>
  );
}

function Elapsed({ since }: { since: number }) {
  const now = useNow();
  return <span>{formatDuration(Math.max(0, now - since))}</span>;
}

function Finished({ job }: { job: FinishedJob }) {
  const tone = job.outcome === 'completed' ? 'ok' : job.outcome === 'failed' ? 'bad' : 'muted';
  const previewUrl = `/api/jobs/${encodeURIComponent(job.jobId)}/preview`;
  return (
    <tr>
      <td class="nowrap" title={job.jobId}>
        {formatClock(job.finishedAt)}
      </td>
      <td>
        <span class={`pill ${tone}`}>{job.outcome === 'rejected' ? 'turned down' : job.outcome}</span>
        {job.source === 'local' && (
          <span class="pill muted" title="a local API request" data-testid={`local-${job.jobId}`}>
            local
          </span>
        )}
        {job.source === 'stream' && (
          <span class="pill muted" title="a streaming speech session" data-testid={`stream-${job.jobId}`}>
            stream
          </span>
        )}
      </td>
      <td>{job.kind ?? '–'}</td>
      <td class="ellipsis">{job.model ?? '–'}</td>
      <td class="nowrap">{formatDuration(job.durationMs)}</td>
      <td class="wide-cell">
        {job.error ? (
          <LongText text={job.error} className="error" />
        ) : (
          <>
            <div class="ellipsis">{job.prompt ?? ''}</div>
            {job.resultText !== undefined && (
              <LongText text={job.resultText} className="result-text" testId="result-text" />
            )}
          </>
        )}
      </td>
      <td>
        {job.preview?.mediaType === 'image' && (
          <a href={previewUrl} target="_blank" rel="noreferrer">
            <img class="thumb" src={previewUrl} alt={`result of ${job.jobId}`} />
          </a>
        )}
        {job.preview?.mediaType === 'audio' && <audio controls preload="none" src={previewUrl} />}
        {job.preview?.mediaType === 'video' && (
          <video
            class="thumb"
            controls
            muted
            preload="metadata"
            src={previewUrl}
            data-testid="video-preview"
          />
        )}
        {!job.preview && job.bytes !== undefined && <span class="muted">{formatBytes(job.bytes)}</span>}
      </td>
    </tr>
  );
}

/** Short text shown as it is; longer text cut to one line that expands on a click. */
function LongText({ text, className, testId }: { text: string; className: string; testId?: string }) {
  if (text.length <= 120) {
    return (
      <div class={className} data-testid={testId}>
        {text}
      </div>
    );
  }
  return (
    <details class={className} data-testid={testId}>
      <summary>{`${text.slice(0, 117)}…`}</summary>
      <div class="expanded">{text}</div>
    </details>
  );
}
