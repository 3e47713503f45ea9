/**
 * One utterance's worth of a streaming speech model, as a session drives it: exact
 * `chunkSamples`-sized chunks of 16 kHz mono samples in -1..1, one `step` at a time, never two at
 * once. Every method may return a promise, because the engine behind it may live in a child process.
 */
export interface Transcriber {
  /** Samples the model takes per step (e.g. 2560 = 160 ms, 8960 = 560 ms). */
  readonly chunkSamples: number;
  /**
   * Feeds one chunk; resolves to the text this chunk adds (often empty). The session concatenates
   * the pieces as they come and normalises the whole, so SentencePiece markers ("▁") may be left in.
   * A rejection ends the session with `transcription failed: <message>`.
   */
  step(chunk: Float32Array): Promise<string>;
  /** Forgets the previous utterance. The session calls it once, before the first step. */
  reset(): Promise<void> | void;
  /**
   * The session is over (final, cancel, error or a dropped client) and no step is in flight:
   * free what this utterance holds. The listener calls it before it frees the model for the next
   * session. Optional: a transcriber that holds nothing of its own needs none.
   */
  close?(): Promise<void> | void;
}
