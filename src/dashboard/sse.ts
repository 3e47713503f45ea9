import type { ServerResponse } from 'node:http';
import type { DashboardEvents } from './api-types.js';

const KEEPALIVE_MS = 15_000;

/** The open `GET /api/events` streams; every event goes to all of them. */
export class EventStreams {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor() {
    // A comment line keeps proxies and the browser from timing out a quiet stream.
    this.keepalive = setInterval(() => {
      for (const res of this.clients) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  open(res: ServerResponse, first: Partial<DashboardEvents>): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    for (const [name, data] of Object.entries(first)) res.write(frame(name, data));
  }

  send<K extends keyof DashboardEvents>(name: K, data: DashboardEvents[K]): void {
    if (this.clients.size === 0) return;
    const text = frame(name, data);
    for (const res of this.clients) res.write(text);
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function frame(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
