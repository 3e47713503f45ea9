import { messageWithCause } from '../util/index.js';
import { unknownFrameMessage, parseClientText, type ServerFrame } from './frames.js';
import { normalise } from './normalise.js';
import type { Transcriber } from './transcriber.js';
import { SAMPLE_RATE, Vad } from './vad.js';

/**
 * Silence fed after the last audio so the model emits its last word. Measured in the original's
 * spike: 1.5 s flushed the last word. Safe range 0.5..3 s.
 */
export const FLUSH_SILENCE_MS = 1500;
/** The flush in samples (24 000). */
export const FLUSH_SILENCE_SAMPLES = (SAMPLE_RATE * FLUSH_SILENCE_MS) / 1000;

/** Whether the transport keeps the socket open after sending a reply's frames. */
export type Next = 'continue' | 'close';

/** What one client frame produced: frames to send, in order, then whether to close. */
export interface Reply {
  frames: ServerFrame[];
  next: Next;
}

/** What a session knows once it is over (for the listener's log and the local job history). */
export interface SessionOutcome {
  /** The final transcript, when one was sent. */
  finalText?: string;
  /** The error sent to the client, when the session ended on one. */
  error?: string;
}

function closedReply(): Reply {
  return { frames: [], next: 'close' };
}

/**
 * One streaming utterance, free of any transport so it can be tested without sockets: client
 * frames in (binary 16 kHz mono s16le PCM, text `end` / `cancel`), server frames out. Audio is
 * buffered into the transcriber's chunk size; a partial goes out only when the normalised
 * transcript changed. `end`, or the VAD hearing enough silence after speech, flushes 1.5 s of
 * silence (no partials meanwhile) and sends the final. Calls are queued, so a transport may hand
 * frames over without waiting for the previous reply.
 */
export class StreamSession {
  private readonly transcriber: Transcriber;
  private readonly chunk: number;
  private readonly vad: Vad;
  private pending = new Float32Array(0);
  private oddByte: number | undefined;
  private raw = '';
  private sent = '';
  private done = false;
  private outcomeSoFar: SessionOutcome = {};
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(transcriber: Transcriber, vadSilenceMs: number | undefined) {
    this.transcriber = transcriber;
    this.chunk = Math.max(1, Math.floor(transcriber.chunkSamples));
    this.vad = new Vad(vadSilenceMs);
  }

  /** A session over a clean transcriber: it is reset once, before any audio. */
  static async start(transcriber: Transcriber, opts: { vadSilenceMs?: number } = {}): Promise<StreamSession> {
    const session = new StreamSession(transcriber, opts.vadSilenceMs);
    await transcriber.reset();
    return session;
  }

  /** True once a reply said `close`; later frames are ignored. */
  get closed(): boolean {
    return this.done;
  }

  /** The final text or the error the session ended with (empty while it runs, or after a cancel). */
  get outcome(): SessionOutcome {
    return { ...this.outcomeSoFar };
  }

  /** A binary frame: PCM s16le; an odd trailing byte waits for the next frame. */
  audio(bytes: Uint8Array): Promise<Reply> {
    return this.serial(() => this.onAudio(bytes));
  }

  /** A text frame: `end`, `cancel`, or anything else (answered with an error; the session goes on). */
  text(text: string): Promise<Reply> {
    return this.serial(async () => {
      switch (parseClientText(text)) {
        case 'end':
          return this.finish([]);
        case 'cancel':
          this.done = true;
          return { frames: [], next: 'close' };
        default:
          return { frames: [{ kind: 'error', message: unknownFrameMessage(text) }], next: 'continue' };
      }
    });
  }

  private serial(work: () => Promise<Reply>): Promise<Reply> {
    const run = this.queue.then(() => (this.done ? closedReply() : work()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async onAudio(bytes: Uint8Array): Promise<Reply> {
    const samples = this.decode(bytes);
    // The VAD hears this frame before it is drained, as the original's does.
    const ended = this.vad.feed(samples);
    this.append(samples);
    const out: ServerFrame[] = [];
    const failure = await this.drain(out, true);
    if (failure !== undefined) return this.fail(out, failure);
    return ended ? this.finish(out) : { frames: out, next: 'continue' };
  }

  private decode(bytes: Uint8Array): Float32Array {
    let joined = bytes;
    if (this.oddByte !== undefined) {
      joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.oddByte;
      joined.set(bytes, 1);
      this.oddByte = undefined;
    }
    const whole = joined.length - (joined.length % 2);
    if (whole < joined.length) this.oddByte = joined[whole];
    const view = new DataView(joined.buffer, joined.byteOffset, whole);
    const samples = new Float32Array(whole / 2);
    for (let i = 0; i < samples.length; i += 1) samples[i] = view.getInt16(i * 2, true) / 32768;
    return samples;
  }

  private append(samples: Float32Array): void {
    if (samples.length === 0) return;
    const joined = new Float32Array(this.pending.length + samples.length);
    joined.set(this.pending);
    joined.set(samples, this.pending.length);
    this.pending = joined;
  }

  /**
   * Steps every whole chunk pending; with `partials`, a partial per step whose normalised transcript
   * differs from the last one sent. Returns the failure's message when a step fails (frames already
   * collected stay in `out`).
   */
  private async drain(out: ServerFrame[], partials: boolean): Promise<string | undefined> {
    let offset = 0;
    try {
      while (this.pending.length - offset >= this.chunk) {
        const piece = this.pending.slice(offset, offset + this.chunk);
        offset += this.chunk;
        this.raw += await this.transcriber.step(piece);
        const text = normalise(this.raw);
        if (partials && text !== this.sent) {
          out.push({ kind: 'partial', text });
          this.sent = text;
        }
      }
      return undefined;
    } catch (e) {
      return messageWithCause(e);
    } finally {
      this.pending = this.pending.slice(offset);
    }
  }

  /** Pads with the flush silence, rounded up to whole chunks, drains it quietly, sends the final. */
  private async finish(out: ServerFrame[]): Promise<Reply> {
    const target = Math.ceil((this.pending.length + FLUSH_SILENCE_SAMPLES) / this.chunk) * this.chunk;
    const padded = new Float32Array(target);
    padded.set(this.pending);
    this.pending = padded;
    const failure = await this.drain(out, false);
    if (failure !== undefined) return this.fail(out, failure);
    const text = normalise(this.raw);
    out.push({ kind: 'final', text });
    this.outcomeSoFar = { finalText: text };
    this.done = true;
    return { frames: out, next: 'close' };
  }

  private fail(out: ServerFrame[], failure: string): Reply {
    const message = `transcription failed: ${failure}`;
    out.push({ kind: 'error', message });
    this.outcomeSoFar = { error: message };
    this.done = true;
    return { frames: out, next: 'close' };
  }
}
