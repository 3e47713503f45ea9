import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SdapiRequest } from '../src/engines/sd-cpp/args.js';
import { binaryEnv } from '../src/engines/sd-cpp/binary.js';
import { freeLoopbackPort } from '../src/util/index.js';

/**
 * The image row's baseline: stable-diffusion.cpp's own sd-server started by hand, with the model
 * arguments the engine would pass, and called with a plain fetch — what a program that needs no
 * worker would do. Its output goes to /dev/null (nobody reads it), where the engine parses it.
 */
export class DirectSdServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly port: number,
    /** Spawn → the server answering HTTP (it binds once the model is loaded), ms. */
    readonly loadMs: number,
  ) {}

  static async start(binDir: string, modelArgs: string[]): Promise<DirectSdServer> {
    const binary = join(binDir, 'sd-server');
    const port = await freeLoopbackPort();
    const t0 = performance.now();
    const child = spawn(binary, [...modelArgs, '--listen-ip', '127.0.0.1', '--listen-port', String(port)], {
      env: binaryEnv(binary, process.env),
      stdio: 'ignore',
    });
    let exited = false;
    child.once('exit', () => (exited = true));
    // Polled as the engine polls it (every 100 ms), so both cold figures have the same granularity.
    for (;;) {
      if (exited) throw new Error(`sd-server exited while loading (exit code ${child.exitCode})`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status < 500) break;
      } catch {
        // Not listening yet.
      }
      if (performance.now() - t0 > 10 * 60_000) throw new Error('sd-server did not load in 10 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    return new DirectSdServer(child, port, performance.now() - t0);
  }

  /** One txt2img: the PNG sd-server answers. */
  async txt2img(body: SdapiRequest): Promise<Buffer> {
    const res = await fetch(`http://127.0.0.1:${this.port}/sdapi/v1/txt2img`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { images?: string[] };
    const image = json.images?.[0];
    if (!res.ok || !image) throw new Error(`sd-server answered HTTP ${res.status} without an image`);
    return Buffer.from(image.replace(/^data:[^,]*,/, ''), 'base64');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }
}
