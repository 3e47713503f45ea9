import { describe, expect, it } from 'vitest';
import { FormData as UndiciFormData, Response as UndiciResponse } from 'undici';
import { multipartBody } from '../../src/studio/multipart.js';

async function parse(body: Uint8Array | UndiciFormData, contentType?: string) {
  const res = new UndiciResponse(body, contentType ? { headers: { 'content-type': contentType } } : {});
  const form = await res.formData();
  const file = form.get('image') as File;
  return {
    prompt: form.get('prompt'),
    ext: form.get('ext'),
    filename: file.name,
    type: file.type,
    bytes: Buffer.from(await file.arrayBuffer()),
  };
}

describe('the multipart body of an upload from memory', () => {
  it('reads back as the same form undici’s FormData sends: text line breaks as CRLF, names escaped, bytes untouched', async () => {
    const data = Uint8Array.from([0, 13, 10, 45, 45, 255, 1, 2]);
    const prompt = 'a fox\non a "hill"\r\nat dusk\r';
    const { body, contentType } = multipartBody(
      [
        ['prompt', prompt],
        ['ext', 'webp'],
      ],
      { name: 'image', filename: 'job "1"\n.webp', contentType: 'image/webp', data },
    );
    const ours = await parse(body, contentType);

    const form = new UndiciFormData();
    form.set('prompt', prompt);
    form.set('ext', 'webp');
    form.set('image', new Blob([data], { type: 'image/webp' }), 'job "1"\n.webp');
    const theirs = await parse(form);

    expect(ours).toEqual(theirs);
    expect(ours.prompt).toBe('a fox\r\non a "hill"\r\nat dusk\r\n');
    expect(ours.bytes.equals(Buffer.from(data))).toBe(true);
    expect(contentType).toMatch(/^multipart\/form-data; boundary=-+studio-worker-[0-9a-f]{24}$/);
  });

  it('uses a new boundary for every body', () => {
    const file = { name: 'image', filename: 'a.png', contentType: 'image/png', data: new Uint8Array(1) };
    expect(multipartBody([], file).contentType).not.toBe(multipartBody([], file).contentType);
  });
});
