import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ConfigStore } from '../../src/config/index.js';
import { toneWav } from '../../src/dev-studio/index.js';
import type { IdleReading } from '../../src/platform/index.js';
import { promptFor, SUBPROTOCOL } from '../../src/protocol/index.js';
import { SessionExhaustedError } from '../../src/session/index.js';
import { parseStudioFrame } from '../../src/session/parse.js';
import type { Frame, LoopFixture } from './support.js';
import { load, onCleanup, replayStudio, startWorker, testName, until } from './support.js';

// Every full-loop session of the Rust original's tests (tests/ws_session_full_loop.rs,
// tests/ws_client_contract.rs), replayed literally against the real Worker: a loopback WebSocket
// server plays the studio's frames and checks the worker's. Where the original's test drives the
// worker between frames (config, pause, presence), the replay drives this worker the same way.

const loops = load<LoopFixture[]>('full-loop.json');
const fixture = (name: string): LoopFixture => {
  const f = loops.find((l) => testName(l) === name);
  if (!f) throw new Error(`no full-loop fixture ${name}`);
  return f;
};
const replayed = new Set<string>();
const replay = (name: string, fn: (f: LoopFixture) => Promise<void>) => {
  replayed.add(name);
  it(name, () => fn(fixture(name)));
};

/** The fixture's STT input is on a host this machine cannot reach: served from loopback instead. */
async function loopbackAudio(): Promise<(frame: Frame) => unknown> {
  const audio = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'audio/wav' }).end(toneWav({ seconds: 1 })),
  );
  await new Promise<void>((resolve) => audio.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => audio.close(() => resolve())));
  const audioUrl = `http://127.0.0.1:${(audio.address() as AddressInfo).port}/audio.wav`;
  return (frame) =>
    JSON.parse(JSON.stringify(frame).replaceAll('https://example/audio.wav', audioUrl)) as unknown;
}

const heartbeats = (received: Frame[]) =>
  received.filter((f) => f.type === 'heartbeat').map((f) => f.capabilities as Record<string, unknown>);

describe('the original full-loop sessions, replayed against this worker', () => {
  it('replays every case of full-loop.json', () => {
    expect([...replayed].sort()).toEqual(loops.map(testName).sort());
  });

  replay('ws_session_walks_through_two_json_offers_and_then_disconnects', async (f) => {
    const rewrite = await loopbackAudio();
    const studio = await replayStudio(f, { rewrite });
    await startWorker(studio.url);
    await studio.done;

    expect(studio.paths).toEqual(['/graphics/api/workers/w-test/connect']);
    expect(studio.protocols).toEqual([SUBPROTOCOL]);
    const sent = studio.received;
    expect(sent[0]).toMatchObject({ type: 'hello', authToken: 'tok-test' });
    expect(sent.some((s) => s.type === 'readyForMore')).toBe(false);
    // The full prompt the original derives from each task: the last message, the input URL.
    const offers = f.steps
      .filter((s) => s.from === 'studio' && s.frame.type === 'offer')
      .map((s) => {
        const parsed = parseStudioFrame(JSON.stringify(rewrite(s.frame)));
        if (!parsed.ok || parsed.frame.type !== 'offer') throw new Error('the fixture offer does not parse');
        return parsed.frame.claim;
      });
    for (const claim of offers) {
      const complete = sent.find((s) => s.type === 'completeJson' && s.jobId === claim.jobId);
      expect(complete?.prompt).toBe(promptFor(claim.task));
    }
  });

  replay('ws_session_logs_a_breadcrumb_when_json_result_is_sent', async (f) => {
    const studio = await replayStudio(f, { rewrite: await loopbackAudio() });
    await startWorker(studio.url);
    await studio.done;
    // The original's breadcrumb says "json result sent"; this worker's says "completed <kind> job
    // <id> in <n> ms". Either way: one info entry per JSON job, tagged with its id, shipped to the
    // studio in a logBatch.
    const breadcrumbs = () => studio.shipped().filter((e) => /^completed \w+ job /.test(e.message));
    await until('a completion breadcrumb for both JSON jobs', () => breadcrumbs().length >= 2);
    expect(breadcrumbs().map((e) => [e.level, e.jobId])).toEqual([
      ['info', 'job-llm'],
      ['info', 'job-stt'],
    ]);
  });

  replay('ws_session_heartbeats_pick_up_live_config_changes', async (f) => {
    const started: { store?: ConfigStore } = {};
    // After the first heartbeat (step 2), the operator saves a new threshold (config.toml, as
    // `set-threshold` or the dashboard does); step 4 waits for a heartbeat that carries it.
    const studio = await replayStudio(f, {
      after: { 2: async () => void (await started.store?.update((c) => ({ ...c, vramThresholdGb: 20 }))) },
    });
    started.store = (await startWorker(studio.url, { config: { vramThresholdGb: 12 } })).store;
    await studio.done;
    // The first heartbeat said 12 exactly, and the change came without a reconnect.
    expect(heartbeats(studio.received)[0]?.vramThresholdGb).toBe(12);
    expect(studio.paths).toHaveLength(1);
  });

  replay('ws_session_recovers_from_a_silent_half_open_connection', async (f) => {
    const studio = await replayStudio(f);
    const { running, records } = await startWorker(studio.url, { deadAfterMs: 300 });
    await studio.done;
    // Silent from here on, and refusing new connections: the worker declares the connection dead,
    // fails its one reconnect attempt and gives up (ws_reconnect_attempts = 1).
    await new Promise<void>((resolve) => studio.wss.close(() => resolve()));
    const started = Date.now();
    expect(await running).toBeInstanceOf(SessionExhaustedError);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(records.some((r) => r.message.includes('reconnect attempt'))).toBe(true);
  });

  replay('ws_session_logs_advertised_capabilities_on_handshake', async (f) => {
    const studio = await replayStudio(f);
    const { records } = await startWorker(studio.url);
    await studio.done;
    // The original logs "advertising engine=…, auto_enabled=true, kinds=[image, …], … model(s)=
    // [synthetic]" on the handshake; so does this worker, from the hello's capabilities.
    await expect
      .poll(() =>
        records.some((r) =>
          /^advertising engine=multi, auto_enabled=true, kinds=\[[^\]]*image[^\]]*\], \d+ model\(s\)=\[[^\]]*synthetic/.test(
            r.message,
          ),
        ),
      )
      .toBe(true);
    const hello = studio.received[0];
    expect(hello).toMatchObject({ type: 'hello', capabilities: { engine: 'multi', autoEnabled: true } });
    const caps = hello?.capabilities as { taskKinds: string[]; supportedModels: string[] };
    expect(caps.taskKinds).toContain('image');
    expect(caps.supportedModels.some((m) => m.includes('synthetic'))).toBe(true);
  });

  replay('ws_session_ships_pause_and_resume_transitions_to_operator_logs', async (f) => {
    const studio = await replayStudio(f);
    const { worker } = await startWorker(studio.url);
    await studio.done;
    // The original ships "claiming paused by operator; …" and "claiming resumed by operator; …";
    // this worker ships "paused: offers will be rejected until resumed" and "resumed: taking offers
    // again" (info), and says so in a heartbeat at once (autoEnabled).
    const shipped = (re: RegExp) => studio.shipped().filter((e) => e.level === 'info' && re.test(e.message));
    const beatsBefore = heartbeats(studio.received).length;
    worker.pause();
    await until('the pause shipped', () => shipped(/^paused\b/).length === 1);
    await until('a heartbeat saying paused', () =>
      heartbeats(studio.received)
        .slice(beatsBefore)
        .some((c) => c.autoEnabled === false),
    );
    expect(shipped(/^resumed\b/)).toEqual([]);
    const beatsPaused = heartbeats(studio.received).length;
    worker.resume();
    await until('the resume shipped', () => shipped(/^resumed\b/).length === 1);
    await until('a heartbeat saying resumed', () =>
      heartbeats(studio.received)
        .slice(beatsPaused)
        .some((c) => c.autoEnabled === true),
    );
  });

  replay('ws_session_only_when_idle_turns_offers_down_while_the_person_is_active', async (f) => {
    let idleMs = 0; // someone at the keyboard
    const idleProbe = (): Promise<IdleReading> => Promise.resolve({ idleMs, source: 'contract test' });
    // After the reject (step 3) the person leaves; step 4 waits for a heartbeat saying idle (the
    // presence is read every 5 s, as the original samples it).
    const studio = await replayStudio(f, { after: { 3: () => void (idleMs = 180_000) }, stepMs: 15_000 });
    await startWorker(studio.url, {
      config: { onlyWhenIdle: true, autoUpdateEnabled: false },
      idleProbe,
    });
    await studio.done;
    const reject = studio.received.find((r) => r.type === 'reject');
    expect(reject?.reason).toMatch(/only_when_idle/);
    expect(studio.received.some((r) => r.type === 'accept' && r.jobId === 'job-active')).toBe(false);
  });

  replay('round_trips_a_hello_then_a_welcome', async (f) => {
    const studio = await replayStudio(f);
    // Client of the original's test: base http://<addr>/graphics/api, worker w-1, token t.
    const { worker } = await startWorker(studio.url, { workerId: 'w-1', authToken: 't' });
    await studio.done;
    expect(studio.paths).toEqual(['/graphics/api/workers/w-1/connect']);
    expect(studio.texts[0]).toContain('"hello"');
    expect(studio.received[0]).toMatchObject({ type: 'hello', authToken: 't' });
    // Welcomed: heartbeats start only after the welcome.
    await until('a heartbeat after the welcome', () => heartbeats(studio.received).length > 0);
    expect(worker.getStatus().state).toBe('running');
  });

  replay('split_receiver_swallows_a_ping_then_yields_the_next_frame', async (f) => {
    // Between hello (step 0) and welcome the studio sends a WebSocket ping with an empty payload.
    const studio = await replayStudio(f, { after: { 0: (ws) => ws.ping() } });
    const { worker, records } = await startWorker(studio.url);
    await studio.done;
    await until('the pong', () => studio.pongs() === 1);
    await until('a heartbeat after the welcome', () => heartbeats(studio.received).length > 0);
    expect(worker.getStatus().state).toBe('running');
    expect(records.filter((r) => r.level === 'warn' && r.category === 'session')).toEqual([]);
  });
});
