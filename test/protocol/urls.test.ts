import { describe, expect, it } from 'vitest';
import { contentTypeForExt, routes, sessionUrl, studioUrl } from '../../src/protocol/index.js';

describe('studio URLs', () => {
  it('put every route under /graphics/api', () => {
    expect(studioUrl('https://studio.minis.gg/', routes.registerRequest()).href).toBe(
      'https://studio.minis.gg/graphics/api/workers/register-request',
    );
  });
  it('do not prefix a base that already ends in /graphics/api, with or without a slash', () => {
    for (const base of ['https://h/graphics/api', 'https://h/graphics/api/']) {
      expect(studioUrl(base, routes.registerStatus('rr-1')).href).toBe(
        'https://h/graphics/api/workers/register-requests/rr-1',
      );
    }
  });
  it('keep an outer mount path and drop query and fragment', () => {
    expect(studioUrl('https://h/custom/?x=1#frag', routes.complete('w-1', 'j-1')).href).toBe(
      'https://h/custom/graphics/api/workers/w-1/jobs/j-1/complete',
    );
  });
  it('switch the session URL to ws and wss', () => {
    expect(sessionUrl('http://127.0.0.1:8787/', 'w-1').href).toBe(
      'ws://127.0.0.1:8787/graphics/api/workers/w-1/connect',
    );
    expect(sessionUrl('https://studio.minis.gg/', 'w-1').href).toBe(
      'wss://studio.minis.gg/graphics/api/workers/w-1/connect',
    );
  });
  it('map result extensions to the contract’s content types', () => {
    expect(contentTypeForExt('webp')).toBe('image/webp');
    expect(contentTypeForExt('mp3')).toBe('audio/mpeg');
    expect(contentTypeForExt('webm')).toBe('application/octet-stream');
  });
});
