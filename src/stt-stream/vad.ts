/** The only sample rate the stream speaks: 16 kHz mono. */
export const SAMPLE_RATE = 16_000;
/** Length of one energy window. */
export const VAD_WINDOW_MS = 200;
/** Samples in one energy window (3200 at 16 kHz). */
export const VAD_WINDOW_SAMPLES = (SAMPLE_RATE * VAD_WINDOW_MS) / 1000;
/** RMS at or above which a window counts as speech. Safe range 0.005..0.05. */
export const VAD_THRESHOLD = 0.018;
/** Silence after speech that ends an utterance by itself. Safe range 800..3000 ms. */
export const VAD_SILENCE_MS = 1500;

/**
 * The original's energy VAD (the same rule and numbers as the Python Parakeet server it replaced):
 * RMS over whole 200 ms windows; once any window was speech, enough silent windows in a row end the
 * utterance. Silence before speech never counts, and there is no minimum speech length. A window
 * may span several `feed` calls: a partial window waits for more audio.
 */
export class Vad {
  private readonly endsAfterMs: number;
  private speechMs = 0;
  private silenceMs = 0;
  // The partial window so far, kept as its running sum of squares rather than its samples.
  private windowFill = 0;
  private windowEnergy = 0;

  constructor(endsAfterMs: number = VAD_SILENCE_MS) {
    this.endsAfterMs = endsAfterMs;
  }

  /**
   * Feeds samples (in -1..1); true once speech was followed by at least `endsAfterMs` of silence.
   * It stays true until a speech window starts a new run, but the session closes at the first true.
   */
  feed(samples: Float32Array): boolean {
    for (const sample of samples) {
      this.windowEnergy += sample * sample;
      this.windowFill += 1;
      if (this.windowFill === VAD_WINDOW_SAMPLES) this.closeWindow();
    }
    return this.speechMs > 0 && this.silenceMs >= this.endsAfterMs;
  }

  private closeWindow(): void {
    const rms = Math.sqrt(this.windowEnergy / VAD_WINDOW_SAMPLES);
    if (rms >= VAD_THRESHOLD) {
      this.speechMs += VAD_WINDOW_MS;
      this.silenceMs = 0;
    } else if (this.speechMs > 0) {
      this.silenceMs += VAD_WINDOW_MS;
    }
    this.windowFill = 0;
    this.windowEnergy = 0;
  }
}
