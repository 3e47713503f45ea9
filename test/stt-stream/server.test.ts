import { afterEach, describe, expect, it } from 'vitest';
import { StreamTokens } from '../../src/stt-stream/index.js';
import { Refused, startHarness, until, type Harness } from './client.js';
import { pcm } from './scripted.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.listener.close();
  h = undefined;
});

async function start(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  h = await startHarness(opts);
  return h;
}

describe('the stream listener (original server.rs)', () => {
  it('a_session_streams_partials_then_the_final (original server.rs)', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(200, 8000));
    await client.send('end');
    const { frames, code } = await client.drain();
    expect(frames[0]).toEqual({ partial: true, text: 'w1' });
    expect(frames[1]).toEqual({ partial: true, text: 'w1 w2' });
    // The flush chunks are all zeros, so they add nothing.
    expect(frames.at(-1)).toEqual({ final: true, text: 'w1 w2' });
    expect(code).toBe(1005); // a close frame without a code, as the original's
  });

  it('a_finished_session_is_recorded_as_a_local_job (original server.rs)', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(100, 8000));
    await client.send('end');
    await client.drain();
    await until(() => h.events.some((e) => e.type === 'end'));
    expect(h.events.map((e) => e.type)).toEqual(['start', 'end']);
    expect(h.events[1]).toMatchObject({ type: 'end', model: 'stt-a', finalText: 'w1', audioBytes: 3200 });
    expect(h.events[1]).not.toHaveProperty('error');
  });

  it('an_unknown_token_is_refused_at_the_handshake (original server.rs)', async () => {
    const h = await start();
    await expect(h.connect('nope')).rejects.toEqual(new Refused(401, 'unknown stream token'));
  });

  it('an_expired_token_is_refused_at_the_handshake (original server.rs)', async () => {
    let now = Date.now() - 3600_000;
    const tokens = new StreamTokens({ now: () => now });
    const h = await start({ tokens });
    const token = tokens.mint('stt-a', 60).token;
    now = Date.now();
    await expect(h.connect(token)).rejects.toMatchObject({ status: 401, body: 'stream token expired' });
  });

  it('only_the_transcribe_path_is_served (original server.rs)', async () => {
    const h = await start();
    await expect(h.connect(h.token(), '/elsewhere')).rejects.toMatchObject({
      status: 404,
      body: 'not found; stream to /transcribe',
    });
  });

  it('a_model_that_is_not_loaded_answers_with_an_error (original server.rs)', async () => {
    const h = await start({ loaded: [] });
    const client = await h.connect(h.token());
    expect((await client.drain()).frames).toEqual([{ error: 'model stt-a is not loaded (unloaded)' }]);
    expect(h.events).toEqual([]); // a refusal is no job
  });

  it('a_second_stream_on_the_same_model_is_told_it_is_busy (original server.rs)', async () => {
    const h = await start();
    const first = await h.connect(h.token());
    await first.send(pcm(100, 8000));
    expect(await first.next()).toEqual({ partial: true, text: 'w1' });
    const second = await h.connect(h.token());
    expect((await second.drain()).frames).toEqual([{ error: 'model stt-a is busy serving another request' }]);
    await first.send('cancel');
    expect(await first.drain()).toEqual({ frames: [{ partial: true, text: 'w1' }], code: 1005 });
  });

  it('unloading_the_model_ends_the_stream (original server.rs)', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(100, 8000));
    await client.next();
    await h.listener.endModel('stt-a');
    // endModel resolves once the model is free: the session is gone and its transcriber closed.
    expect(h.listener.activeSessions()).toBe(0);
    expect(h.transcribers[0]?.closed).toBe(true);
    const { frames } = await client.drain();
    expect(frames.slice(1)).toEqual([{ error: 'model unloaded' }]);
  });

  it('an_unknown_text_frame_is_reported_and_the_session_continues (original server.rs)', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send('hello?');
    await client.send(pcm(100, 8000));
    await client.send('end');
    const { frames } = await client.drain();
    expect(frames[0]).toEqual({ error: 'unknown frame "hello?"; send audio, end or cancel' });
    expect(frames.at(-1)).toEqual({ final: true, text: 'w1' });
  });
});
