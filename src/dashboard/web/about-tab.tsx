import { useEffect, useState } from 'preact/hooks';
import type { AboutResponse, UpdateCheckResponse } from '../api-types.js';
import { api } from './client.js';
import { Card, Row } from './ui.js';

export function AboutTab() {
  const [about, setAbout] = useState<AboutResponse>();
  const [check, setCheck] = useState<{ busy: boolean; answer?: UpdateCheckResponse; error?: string }>({
    busy: false,
  });
  useEffect(() => {
    api<AboutResponse>('GET', '/api/about').then(setAbout, (e: unknown) =>
      setCheck({ busy: false, error: String(e) }),
    );
  }, []);

  const run = async () => {
    setCheck({ busy: true });
    try {
      setCheck({ busy: false, answer: await api<UpdateCheckResponse>('POST', '/api/check-update') });
    } catch (e) {
      setCheck({ busy: false, error: e instanceof Error ? e.message : String(e) });
    }
  };

  return (
    <Card title="About" wide>
      {about && (
        <div>
          <Row label="Version">
            <strong data-testid="about-version">studio-worker {about.version}</strong>
          </Row>
          <Row label="Config file">
            <code>{about.configPath}</code>
          </Row>
          <Row label="Log">
            {about.logPath ? (
              <code>{about.logPath}</code>
            ) : (
              'standard error of the worker process (no log file)'
            )}
          </Row>
          <Row label="Runtime">
            Node.js {about.node} on {about.platform}
          </Row>
        </div>
      )}
      <div class="actions">
        <button
          onClick={() => void run()}
          disabled={check.busy || about?.updateCheck === false}
          data-testid="check-update"
        >
          {check.busy ? 'Checking…' : 'Check for updates'}
        </button>
        {about?.updateCheck === false && <span class="hint">This build cannot check for updates.</span>}
        {check.answer && (
          <span class={check.answer.updateAvailable ? 'pill warn' : 'pill ok'} data-testid="update-answer">
            {check.answer.message}
          </span>
        )}
        {check.error && <span class="error">{check.error}</span>}
      </div>
    </Card>
  );
}
