import { useEffect, useState } from 'preact/hooks';
import type { DashboardEvents } from '../api-types.js';

/** A failed API call, with the server's message (the dashboard answers errors as text or JSON). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** Same-origin fetch: the SameSite=Strict cookie set on the first page load carries the token. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Plain-text answers (a refused request) are shown as they are.
  }
  if (!res.ok) {
    // A refused action answers `{ error: <code>, message: <sentence> }`: the sentence is for people.
    const message =
      typeof parsed === 'object' &&
      parsed !== null &&
      'message' in parsed &&
      typeof parsed.message === 'string'
        ? parsed.message
        : typeof parsed === 'object' && parsed !== null && 'error' in parsed
          ? String(parsed.error)
          : text.trim();
    throw new ApiError(res.status, message || `HTTP ${res.status}`, parsed);
  }
  return parsed as T;
}

export type Listener = { [K in keyof DashboardEvents]?: (data: DashboardEvents[K]) => void };

/** Subscribes to the server's event stream; `connected` says whether updates are live. */
export function useEventStream(listener: Listener): boolean {
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const source = new EventSource('/api/events');
    source.onopen = () => setConnected(true);
    // EventSource reconnects on its own (the server asks for 2 s); we only show the gap.
    source.onerror = () => setConnected(false);
    for (const name of Object.keys(listener) as (keyof DashboardEvents)[]) {
      source.addEventListener(name, (e: MessageEvent<string>) => {
        const handler = listener[name] as ((data: unknown) => void) | undefined;
        handler?.(JSON.parse(e.data));
      });
    }
    return () => source.close();
    // The listener object is built once by the caller; re-subscribing on each render would drop events.
  }, []);
  return connected;
}

/** Re-renders every `ms` so ages and countdowns move without server traffic. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
