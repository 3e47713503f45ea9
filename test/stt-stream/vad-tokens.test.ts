import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  MAX_STREAM_TOKEN_TTL_SECS,
  MIN_STREAM_TOKEN_TTL_SECS,
  StreamTokens,
  TOKEN_REJECTIONS,
  VAD_THRESHOLD,
  VAD_WINDOW_SAMPLES,
  Vad,
} from '../../src/stt-stream/index.js';
import { tone } from './scripted.js';

describe('the energy VAD (original vad.rs)', () => {
  it('uses the original numbers', () => {
    expect(VAD_WINDOW_SAMPLES).toBe(3200);
    expect(VAD_THRESHOLD).toBe(0.018);
  });

  it('silence_alone_never_ends_an_utterance (original vad.rs)', () => {
    expect(new Vad().feed(tone(5000, 0))).toBe(false);
  });

  it('speech_then_enough_silence_ends_it (original vad.rs)', () => {
    const vad = new Vad();
    expect(vad.feed(tone(600, 0.2))).toBe(false);
    expect(vad.feed(tone(1400, 0))).toBe(false); // 1.4 s is not yet enough
    expect(vad.feed(tone(200, 0))).toBe(true); // 1.6 s of silence after speech ends it
  });

  it('speech_resets_the_silence_run (original vad.rs)', () => {
    const vad = new Vad();
    vad.feed(tone(400, 0.2));
    vad.feed(tone(1000, 0));
    vad.feed(tone(200, 0.2));
    expect(vad.feed(tone(1400, 0))).toBe(false);
    expect(vad.feed(tone(200, 0))).toBe(true);
  });

  it('windows_span_chunk_boundaries (original vad.rs)', () => {
    const vad = new Vad();
    for (let i = 0; i < 8; i += 1) vad.feed(tone(50, 0.2));
    let ended = false;
    for (let i = 0; i < 40; i += 1) ended = vad.feed(tone(50, 0)) || ended;
    expect(ended).toBe(true);
  });

  it('a_longer_silence_threshold_waits_longer (original vad.rs, newer version)', () => {
    const vad = new Vad(3000);
    vad.feed(tone(400, 0.2));
    expect(vad.feed(tone(2800, 0))).toBe(false); // 2.8 s is under 3 s
    expect(vad.feed(tone(200, 0))).toBe(true); // 3 s of silence ends it
  });

  it('quiet_noise_below_the_threshold_is_silence (original vad.rs)', () => {
    expect(new Vad().feed(tone(2000, VAD_THRESHOLD * 0.5))).toBe(false);
  });

  it('waits for a whole window: 199 ms of speech is no speech yet', () => {
    const vad = new Vad();
    vad.feed(tone(199, 0.2));
    expect(vad.feed(new Float32Array(0))).toBe(false);
    expect(vad.feed(tone(5000, 0))).toBe(true); // the window closed with the first silent samples
  });
});

const t0 = Date.UTC(2026, 8, 26, 12, 0, 0);
const MINUTE = 60;

function storeAt(start: number): { tokens: StreamTokens; set: (ms: number) => void } {
  let now = start;
  return { tokens: new StreamTokens({ now: () => now }), set: (ms) => (now = ms) };
}

describe('stream tokens (original tokens.rs)', () => {
  it('a_minted_token_opens_its_model_until_it_expires (original tokens.rs)', () => {
    const { tokens, set } = storeAt(t0);
    const grant = tokens.mint('stt-a', 10 * MINUTE);
    expect(grant.model).toBe('stt-a');
    expect(grant.expiresAt).toBe(new Date(t0 + 10 * 60_000).toISOString());
    expect(grant.expiresAt).toBe('2026-09-26T12:10:00.000Z');
    expect(grant.token).toMatch(/^[0-9a-f]{64}$/); // 256 bits, hex
    set(t0 + 9 * 60_000);
    expect(tokens.check(grant.token)).toBe('stt-a');
    expect(tokens.check(grant.token)).toBe('stt-a'); // not single-use
    set(t0 + 10 * 60_000);
    expect(tokens.verify(grant.token)).toEqual({ ok: false, reason: 'expired' });
    expect(tokens.check(grant.token)).toBeUndefined();
  });

  it('unknown_tokens_are_rejected (original tokens.rs)', () => {
    const { tokens } = storeAt(t0);
    expect(tokens.verify('nope')).toEqual({ ok: false, reason: 'unknown' });
    expect(tokens.check('nope')).toBeUndefined();
  });

  it('every_mint_is_a_new_token (original tokens.rs)', () => {
    const { tokens } = storeAt(t0);
    const a = tokens.mint('m', MINUTE);
    const b = tokens.mint('m', MINUTE);
    expect(a.token).not.toBe(b.token);
    expect(tokens.check(a.token)).toBe('m'); // older tokens stay valid
  });

  it('ttl_is_clamped_to_the_allowed_range (original tokens.rs)', () => {
    const { tokens } = storeAt(t0);
    expect(tokens.mint('m', 3 * 24 * 3600).expiresAt).toBe(
      new Date(t0 + MAX_STREAM_TOKEN_TTL_SECS * 1000).toISOString(),
    );
    expect(tokens.mint('m', -5).expiresAt).toBe(
      new Date(t0 + MIN_STREAM_TOKEN_TTL_SECS * 1000).toISOString(),
    );
    expect([MIN_STREAM_TOKEN_TTL_SECS, MAX_STREAM_TOKEN_TTL_SECS]).toEqual([30, 3600]);
  });

  it('expired_tokens_are_pruned_on_mint (original tokens.rs)', () => {
    const { tokens, set } = storeAt(t0);
    tokens.mint('m', MINUTE);
    set(t0 + 3600_000);
    tokens.mint('m', MINUTE);
    expect(tokens.size).toBe(1);
  });

  it('the_store_never_holds_the_token_itself (original tokens.rs)', () => {
    const { tokens } = storeAt(t0);
    const grant = tokens.mint('m', MINUTE);
    expect(inspect(tokens, { depth: Infinity, showHidden: true })).not.toContain(grant.token);
    expect(JSON.stringify(tokens)).not.toContain(grant.token);
  });

  it('rejections_read_well (original tokens.rs)', () => {
    expect(TOKEN_REJECTIONS.unknown).toBe('unknown stream token');
    expect(TOKEN_REJECTIONS.expired).toBe('stream token expired');
  });

  it('a token lives 10 minutes by default (original local_api.rs stream-token route, store half)', () => {
    const { tokens } = storeAt(t0);
    const grant = tokens.mint('stt-a');
    expect(grant.token).toHaveLength(64);
    expect(grant.ttlSecs).toBe(600);
    expect(grant.expiresAt).toBe('2026-09-26T12:10:00.000Z');
    expect(tokens.check(grant.token)).toBe('stt-a');
  });
});
