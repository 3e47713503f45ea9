import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeWavPcm16 } from '../../src/results/index.js';

/** A 16-bit mono WAV of `seconds` of a `hz` sine. */
export function sineWav(seconds: number, hz: number, sampleRate = 16000): Uint8Array {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++)
    samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return encodeWavPcm16(samples, sampleRate, 1);
}

export interface InputServer {
  url: (path: string) => string;
  close: () => Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 serving job inputs: the files in `files` by path, `/status/<n>`
 * answering that status, `/hang` never answering (for cancellation), anything else 404.
 */
export async function startInputServer(files: Record<string, Uint8Array>): Promise<InputServer> {
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const file = files[path];
    const status = /^\/status\/(\d{3})$/.exec(path)?.[1];
    if (file) {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': file.length }).end(file);
    } else if (status) {
      res.writeHead(Number(status)).end(`status ${status}`);
    } else if (path === '/hang') {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.write(Buffer.from('RIFF'));
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
