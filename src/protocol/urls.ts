/** The prefix every studio route sits under. */
export const API_PREFIX = '/graphics/api';

/**
 * Joins a studio route to `api_base_url` as the contract says: the base keeps any outer mount path,
 * gets `/graphics/api` unless it already ends in it, and loses its query and fragment.
 */
export function studioUrl(apiBaseUrl: string, route: string): URL {
  const url = new URL(apiBaseUrl);
  url.search = '';
  url.hash = '';
  let base = url.pathname.replace(/\/+$/, '');
  if (!base.endsWith(API_PREFIX)) base += API_PREFIX;
  url.pathname = base + (route.startsWith('/') ? route : `/${route}`);
  return url;
}

/** The WebSocket URL of a worker's session: the same join with http→ws and https→wss. */
export function sessionUrl(apiBaseUrl: string, workerId: string): URL {
  const url = studioUrl(apiBaseUrl, `/workers/${encodeURIComponent(workerId)}/connect`);
  if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol === 'http:') url.protocol = 'ws:';
  return url;
}

export const routes = {
  registerRequest: () => '/workers/register-request',
  registerStatus: (requestId: string) => `/workers/register-requests/${encodeURIComponent(requestId)}`,
  complete: (workerId: string, jobId: string) =>
    `/workers/${encodeURIComponent(workerId)}/jobs/${encodeURIComponent(jobId)}/complete`,
} as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
};

/** The content type the multipart `complete` upload declares for a result's extension. */
export function contentTypeForExt(ext: string): string {
  return CONTENT_TYPES[ext.toLowerCase()] ?? 'application/octet-stream';
}

/** The multipart field names of the `complete` route. The file part is `image` for every kind. */
export const COMPLETE_FIELDS = { prompt: 'prompt', ext: 'ext', file: 'image' } as const;
