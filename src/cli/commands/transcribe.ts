import { ExitCode, UserError, toError } from '../../util/index.js';
import type { CommandContext } from '../context.js';
import { onShutdownSignal } from '../signals.js';
import { openAudio } from '../transcribe/audio.js';
import { StreamClient, redactToken, type StreamResult } from '../transcribe/client.js';
import { humanView, jsonView } from '../transcribe/view.js';

export interface TranscribeOptions {
  /** A WAV file's path, or `-` for raw PCM on stdin. */
  stream: string;
  model?: string;
  url?: string;
  realtime?: boolean;
  json?: boolean;
}

/**
 * `studio-worker transcribe --stream <wav|->`: streams speech to a worker's live transcription
 * listener and prints the transcript as it grows, then the final. The token comes from the worker
 * on this config (`--model`, minted through its local API) or with the listener's URL (`--url`).
 */
export async function transcribeCommand(ctx: CommandContext, opts: TranscribeOptions): Promise<void> {
  const target = checkTarget(opts);
  // The audio is checked first: a wrong file is refused before a token is minted for it.
  const source = await openAudio(opts.stream);
  try {
    const url = 'url' in target ? target.url : await mint(ctx.store.dir, target.model);
    const view = opts.json ? jsonView(process.stdout) : humanView(process.stdout);
    const client = await StreamClient.connect(url, (m) => view.message(m));
    if (!opts.json && process.stderr.isTTY) {
      process.stderr.write(`streaming ${source.label} to ${redactToken(url)}; Ctrl+C cancels\n`);
    }
    let cancelled = false;
    // The first Ctrl+C tells the listener to drop the utterance; a second one exits at once.
    const offSignals = onShutdownSignal(
      async () => {
        cancelled = true;
        await client.cancel();
      },
      ctx.log,
      null,
    );
    let sendError: unknown;
    const sending = client.send(source, opts.realtime ?? false).catch(async (e: unknown) => {
      sendError = e;
      await client.cancel();
    });
    let result: StreamResult;
    try {
      result = await client.done;
      source.close();
      await sending;
    } finally {
      offSignals();
    }
    if (cancelled) {
      view.abandon();
      throw new UserError(
        'transcribe: cancelled (Ctrl+C); the listener dropped the utterance',
        ExitCode.interrupted,
      );
    }
    if (sendError !== undefined) {
      view.abandon();
      throw toError(sendError);
    }
    if (result.final !== undefined) return;
    view.abandon();
    throw new UserError(
      result.error !== undefined
        ? `the stream listener: ${result.error}`
        : `the stream listener closed the stream (code ${result.closeCode}) before the final transcript`,
      ExitCode.checkFailed,
    );
  } finally {
    source.close();
  }
}

/** A token from the worker on this config; its module (the local API's) loads only for --model. */
async function mint(configDir: string, model: string): Promise<string> {
  const { mintStreamUrl, readLocalApi } = await import('../transcribe/mint.js');
  return mintStreamUrl(await readLocalApi(configDir), model);
}

/** `--model` (mint here) or `--url` (a listener and its token): exactly one. */
function checkTarget(opts: TranscribeOptions): { url: string } | { model: string } {
  if (opts.url !== undefined && opts.model !== undefined) {
    throw new UserError('give --model or --url, not both: the token in --url already names its model');
  }
  if (opts.url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch {
      throw new UserError(
        `--url expects ws://host:port/transcribe?token=<token>, got "${redactToken(opts.url)}"`,
      );
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new UserError(`--url must start with ws:// or wss://, got "${redactToken(opts.url)}"`);
    }
    if (!/[?&]token=/.test(parsed.search)) {
      throw new UserError(
        "--url needs the stream token: ws://host:4798/transcribe?token=<token> (mint one with POST /stream-tokens on that machine's local API)",
      );
    }
    return { url: opts.url };
  }
  const model = opts.model?.trim();
  if (!model) {
    throw new UserError(
      'name the streaming speech model with --model <id> (the worker running here mints the token), or give --url with a token',
    );
  }
  return { model };
}
