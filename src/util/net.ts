import { createServer, type Server } from 'node:net';

// The transport rule for everything this worker downloads (models, job inputs, updates).

/** localhost, 127.0.0.0/8 and ::1: plain http to this machine never crosses a network. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Why fetching `url` breaks the transport rule, as the original's net.rs sets it: https, or plain
 * http to this machine only — unless the operator set `allow_insecure_downloads = true`.
 */
export function insecureProblem(url: URL, allowInsecure: boolean): string | undefined {
  if (url.protocol !== 'http:' || allowInsecure || isLoopbackHost(url.hostname)) return undefined;
  return `refusing plain http to ${url.host}: downloads use https (plain http only to this machine); set allow_insecure_downloads = true in config.toml to allow it`;
}

/** A TCP port free on loopback now, for a server to bind a moment later. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Listens on `host`:`port`; rejects with the listen error (EADDRINUSE, EACCES, …) instead of emitting it. */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
