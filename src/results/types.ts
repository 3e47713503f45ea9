/** A result to check: JSON (llm, audio_stt) or binary output as bytes or a file (image, audio_tts, video). */
export type ResultToVerify =
  { json: unknown } | { bytes: Uint8Array; ext: string } | { path: string; ext: string };

export type BinaryResult = { bytes: Uint8Array; ext: string } | { path: string; ext: string };

/** What a check concluded; `summary` is one human line (`webp 64×64, 1.2 kB`). */
export type VerifyOutcome =
  { ok: true; summary: string; details: Record<string, unknown> } | { ok: false; summary: string };

export function failed(summary: string): VerifyOutcome {
  return { ok: false, summary };
}

/** `532 B`, `1.2 kB`, `3.4 MB` (decimal units). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}
