import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface EnvelopeItem {
  header: { type?: string };
  payload: Record<string, unknown>;
}

/** A stand-in for Sentry's ingest host: records every envelope body as raw text. */
export async function startSentryHost() {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      bodies.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    dsn: `http://publickey@127.0.0.1:${port}/1`,
    bodies,
    /** Every event item of every envelope received so far. */
    events(): Record<string, unknown>[] {
      return bodies.flatMap((b) =>
        parseEnvelope(b)
          .filter((i) => i.header.type === 'event')
          .map((i) => i.payload),
      );
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** Envelope: a header line, then (item header line, payload line) pairs. */
export function parseEnvelope(body: string): EnvelopeItem[] {
  const lines = body.split('\n').filter(Boolean).slice(1);
  const items: EnvelopeItem[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    items.push({
      header: JSON.parse(lines[i] ?? '{}') as EnvelopeItem['header'],
      payload: JSON.parse(lines[i + 1] ?? '{}') as Record<string, unknown>,
    });
  }
  return items;
}
