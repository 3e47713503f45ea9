import { describe, expect, it } from 'vitest';
import {
  FLUSH_SILENCE_SAMPLES,
  StreamSession,
  normalise,
  parseClientText,
  rustDebugQuote,
  unknownFrameMessage,
  wireText,
  type ServerFrame,
} from '../../src/stt-stream/index.js';
import { Scripted, pcm } from './scripted.js';

function texts(frames: ServerFrame[]): string[] {
  return frames.map((f) => (f.kind === 'error' ? `error:${f.message}` : `${f.kind}:${f.text}`));
}

describe('a streaming session (original session.rs)', () => {
  it('a_session_starts_from_a_clean_transcriber (original session.rs)', async () => {
    const t = new Scripted([]);
    await StreamSession.start(t);
    expect(t.resets).toBe(1);
  });

  it('partials_grow_as_chunks_arrive (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['\u2581hello', '\u2581runa']));
    const reply = await session.audio(pcm(200, 8000));
    expect(reply.next).toBe('continue');
    expect(texts(reply.frames)).toEqual(['partial:hello', 'partial:hello runa']);
  });

  it('an_unchanged_transcript_sends_no_partial (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['hi', '', '']));
    expect(texts((await session.audio(pcm(300, 8000))).frames)).toEqual(['partial:hi']);
  });

  it('audio_is_buffered_until_a_whole_chunk_arrives (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['one']));
    // 50 ms is less than one 100 ms chunk.
    expect((await session.audio(pcm(50, 8000))).frames).toEqual([]);
    expect(texts((await session.audio(pcm(50, 8000))).frames)).toEqual(['partial:one']);
  });

  it('an_odd_byte_carries_over_to_the_next_frame (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['one']));
    const bytes = pcm(100, 8000);
    expect(bytes.length).toBe(3200);
    expect((await session.audio(bytes.subarray(0, 1601))).frames).toEqual([]);
    expect(texts((await session.audio(bytes.subarray(1601))).frames)).toEqual(['partial:one']);
  });

  it('end_flushes_and_sends_the_final_then_closes (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['hello', ' there', ' friend']));
    await session.audio(pcm(100, 8000));
    const reply = await session.text('end');
    expect(reply.next).toBe('close');
    // The flush pads to 24 000 samples (15 chunks), so steps 2 and 3 run in it, without partials.
    expect(FLUSH_SILENCE_SAMPLES).toBe(24_000);
    expect(texts(reply.frames)).toEqual(['final:hello there friend']);
    expect(session.outcome).toEqual({ finalText: 'hello there friend' });
  });

  it('cancel_closes_without_a_final (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['x']));
    const reply = await session.text('cancel');
    expect(reply.next).toBe('close');
    expect(reply.frames).toEqual([]);
    expect(session.outcome).toEqual({});
  });

  it('silence_after_speech_finalises_hands_free (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['hi']));
    await session.audio(pcm(400, 8000));
    // 400 ms of speech, then 8 silent windows: 1600 ms >= 1500.
    const reply = await session.audio(pcm(1600, 0));
    expect(reply.next).toBe('close');
    expect(texts(reply.frames).at(-1)).toBe('final:hi');
  });

  it('a_transcriber_failure_is_reported_and_closes (original session.rs)', async () => {
    const session = await StreamSession.start(new Scripted(['a', 'b'], 1));
    const reply = await session.audio(pcm(200, 8000));
    expect(reply.next).toBe('close');
    expect(texts(reply.frames)).toEqual(['partial:a', 'error:transcription failed: cuda went away']);
    expect(session.outcome).toEqual({ error: 'transcription failed: cuda went away' });
  });

  it('frames_serialise_to_the_wire_protocol (original session.rs)', () => {
    expect(wireText({ kind: 'partial', text: 'hi' })).toBe('{"partial":true,"text":"hi"}');
    expect(wireText({ kind: 'final', text: 'hi' })).toBe('{"final":true,"text":"hi"}');
    expect(wireText({ kind: 'error', message: 'x' })).toBe('{"error":"x"}');
  });

  it('client_text_frames_parse_by_name (original session.rs)', () => {
    expect(parseClientText('end')).toBe('end');
    expect(parseClientText(' cancel ')).toBe('cancel');
    expect(parseClientText('hello')).toBeUndefined();
    expect(parseClientText('END')).toBeUndefined(); // case-sensitive
  });

  it('pieces_normalise_to_plain_text (original session.rs)', () => {
    expect(normalise('\u2581hello\u2581\u2581world  ')).toBe('hello world');
    expect(normalise(' Hello Runa, please ')).toBe('Hello Runa, please');
  });
});

describe('a streaming session, beyond the original tests', () => {
  it('answers an unknown text frame with the original wording and carries on', async () => {
    const session = await StreamSession.start(new Scripted(['one']));
    const reply = await session.text('hello?');
    expect(reply).toEqual({
      frames: [{ kind: 'error', message: 'unknown frame "hello?"; send audio, end or cancel' }],
      next: 'continue',
    });
    expect(wireText(reply.frames[0]!)).toBe(
      '{"error":"unknown frame \\"hello?\\"; send audio, end or cancel"}',
    );
    expect(texts((await session.text('end')).frames)).toEqual(['final:one']);
  });

  it("quotes a frame as Rust's {:?} does", () => {
    expect(rustDebugQuote('a"b\\c\nd\te\u0001 f')).toBe('"a\\"b\\\\c\\nd\\te\\u{1} f"');
    expect(unknownFrameMessage('ünï')).toBe('unknown frame "ünï"; send audio, end or cancel');
  });

  it('ignores frames after it closed', async () => {
    const session = await StreamSession.start(new Scripted(['x']));
    await session.text('cancel');
    expect(session.closed).toBe(true);
    expect(await session.audio(pcm(100, 8000))).toEqual({ frames: [], next: 'close' });
    expect(await session.text('end')).toEqual({ frames: [], next: 'close' });
  });

  it('runs frames one at a time when the transport does not wait', async () => {
    const t = new Scripted(['\u2581a', '\u2581b', '\u2581c']);
    const session = await StreamSession.start(t);
    const replies = await Promise.all([
      session.audio(pcm(100, 8000)),
      session.audio(pcm(100, 8000)),
      session.text('end'),
    ]);
    expect(replies.map((r) => texts(r.frames))).toEqual([['partial:a'], ['partial:a b'], ['final:a b c']]);
  });

  it('flushes a partial chunk with the silence, rounded up to whole chunks', async () => {
    const t = new Scripted([]);
    const session = await StreamSession.start(t);
    await session.audio(pcm(50, 8000)); // 800 samples wait
    await session.text('end');
    // ceil((800 + 24000) / 1600) = 16 steps.
    expect(t.next).toBe(16);
  });

  it('a failure during the flush is an error, not a final', async () => {
    const session = await StreamSession.start(new Scripted(['a', 'b'], 3));
    await session.audio(pcm(100, 8000));
    const reply = await session.text(' end ');
    expect(reply.next).toBe('close');
    expect(texts(reply.frames)).toEqual(['error:transcription failed: cuda went away']);
  });
});
