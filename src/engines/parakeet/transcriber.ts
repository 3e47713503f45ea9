import type { Transcriber } from '../../stt-stream/index.js';

/** The part of sherpa-onnx-node's OnlineStream a session uses. */
export interface SherpaStream {
  acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
}

/** The part of sherpa-onnx-node's OnlineRecognizer a session uses. */
export interface SherpaRecognizer {
  createStream(): SherpaStream;
  isReady(stream: SherpaStream): boolean;
  decode(stream: SherpaStream): void;
  getResult(stream: SherpaStream): { text: string };
  reset(stream: SherpaStream): void;
}

/**
 * What `now` adds to `before`. Greedy search only ever appends, so this is the tail; should a
 * transcript ever be revised, the tail after the common part is all a session can still send.
 */
export function addedText(before: string, now: string): string {
  let same = 0;
  while (same < before.length && same < now.length && before[same] === now[same]) same++;
  return now.slice(same);
}

/**
 * One utterance on a loaded recognizer: its own stream over the shared weights. Each step feeds the
 * chunk, decodes what is ready, and answers what the transcript gained (the session concatenates).
 */
export class SherpaTranscriber implements Transcriber {
  // No close(): sherpa-onnx-node frees a stream's native state when its handle is collected, so
  // dropping the transcriber (the engine process forgets its handle) is all there is to do.
  private readonly stream: SherpaStream;
  private said = '';

  constructor(
    private readonly recognizer: SherpaRecognizer,
    readonly chunkSamples: number,
  ) {
    this.stream = recognizer.createStream();
  }

  step(chunk: Float32Array): Promise<string> {
    const { recognizer, stream } = this;
    stream.acceptWaveform({ samples: chunk, sampleRate: 16_000 });
    while (recognizer.isReady(stream)) recognizer.decode(stream);
    const text = recognizer.getResult(stream).text;
    const added = addedText(this.said, text);
    this.said = text;
    return Promise.resolve(added);
  }

  reset(): void {
    this.recognizer.reset(this.stream);
    this.said = '';
  }
}
