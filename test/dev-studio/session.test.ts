import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { sessionUrl } from '../../src/protocol/index.js';
import { approvedWorker, capabilities, connect, session, studio, upgradeStatus } from './helpers.js';

describe('dev studio session', () => {
  it('answers an upgrade whose bearer is not the worker token with 401', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    expect(await upgradeStatus(sessionUrl(s.url, w.workerId), 'f'.repeat(64))).toBe(401);
    expect(await upgradeStatus(sessionUrl(s.url, 'w-unknown'), w.authToken)).toBe(401);
    expect(await upgradeStatus(sessionUrl(s.url, w.workerId), w.authToken)).toBe(101);
  });

  it('welcomes a hello with the right token and acks heartbeats', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = connect(s, w.workerId, w.authToken);
    await client.opened;
    client.send({ type: 'hello', authToken: w.authToken, capabilities });
    const welcome = await client.next('welcome');
    expect(welcome.workerId).toBe(w.workerId);
    expect(Number.isNaN(Date.parse(String(welcome.serverTime)))).toBe(false);

    client.send({
      type: 'heartbeat',
      capabilities: { ...capabilities, autoEnabled: false },
      currentJobId: 'j-x',
    });
    await client.next('heartbeatAck');
    expect(s.admin.listWorkers()).toMatchObject([
      { workerId: w.workerId, connected: true, welcomed: true, heartbeats: 1, currentJobId: 'j-x' },
    ]);
    expect(s.admin.listWorkers()[0]?.capabilities?.autoEnabled).toBe(false);
  });

  it('echoes the subprotocol studio-worker-v1 whether or not the upgrade asked for it, as production does', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const asked = connect(s, w.workerId, w.authToken);
    await asked.opened;
    expect(asked.ws.protocol).toBe('studio-worker-v1');
    expect(s.admin.listWorkers()[0]?.subprotocolsRequested).toEqual(['studio-worker-v1']);
    // A client that does not ask gets it all the same, and ws then refuses the handshake: this is
    // what a worker that does not ask for the subprotocol meets in production.
    const bare = new WebSocket(sessionUrl(s.url, w.workerId), {
      headers: { authorization: `Bearer ${w.authToken}` },
    });
    const error = await new Promise<Error>((resolve) => bare.once('error', resolve));
    expect(error.message).toBe('Server sent a subprotocol but none was requested');
  });

  it('refuses log entries at levels the studio does not know (debug, trace, fatal) as a protocol violation', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    client.send({
      type: 'logBatch',
      entries: [{ ts: new Date().toISOString(), level: 'debug', category: 'runner', message: 'hi' }],
    });
    expect((await client.closed).code).toBe(4002);
    expect(s.admin.violations()[0]?.reason).toContain('level');
  });

  it('keeps the last shipped log entries of a worker', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const entry = { ts: new Date().toISOString(), level: 'info', category: 'runner', message: 'hi' } as const;
    client.send({ type: 'logBatch', entries: [entry] });
    client.send({ type: 'heartbeat', capabilities });
    await client.next('heartbeatAck');
    expect(s.admin.workerLogs(w.workerId)).toEqual([entry]);
  });

  it('closes a hello with the wrong token with auth_failed and 4001', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = connect(s, w.workerId, w.authToken);
    await client.opened;
    client.send({ type: 'hello', authToken: 'wrong', capabilities });
    expect(await client.next('error')).toMatchObject({ code: 'auth_failed' });
    expect((await client.closed).code).toBe(4001);
  });

  it('closes on an invalid frame with protocol_violation and 4002, and records the violation', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    client.send({ type: 'accept' });
    const error = await client.next('error');
    expect(error.code).toBe('protocol_violation');
    expect(error.message).toContain('jobId');
    expect((await client.closed).code).toBe(4002);
    expect(s.admin.violations()).toMatchObject([
      { workerId: w.workerId, reason: error.message, frame: { type: 'accept' } },
    ]);
  });

  it('closes on a binary frame with 4002', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const violations: string[] = [];
    s.events.on('violation', (v) => violations.push(v.reason));
    client.ws.send(Buffer.from(JSON.stringify({ type: 'heartbeat', capabilities })));
    expect((await client.closed).code).toBe(4002);
    expect(violations).toEqual([expect.stringContaining('binary')]);
  });

  it('treats a frame before hello, and a second hello, as violations', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const early = connect(s, w.workerId, w.authToken);
    await early.opened;
    early.send({ type: 'heartbeat', capabilities });
    expect((await early.closed).code).toBe(4002);

    const twice = await session(s, w);
    twice.send({ type: 'hello', authToken: w.authToken, capabilities });
    expect((await twice.closed).code).toBe(4002);
    expect(s.admin.violations().map((v) => v.reason)).toEqual(['heartbeat before hello', 'hello sent twice']);
  });

  it('closes the older connection with duplicate_worker and 4003 when a second one says hello', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const first = await session(s, w);
    const second = await session(s, w);
    expect(await first.next('error')).toMatchObject({ code: 'duplicate_worker' });
    expect((await first.closed).code).toBe(4003);
    second.send({ type: 'heartbeat', capabilities });
    await second.next('heartbeatAck');
  });

  it('deletes a worker: worker_deleted, 4004, and its token no longer opens a session', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    s.admin.deleteWorker(w.workerId);
    expect(await client.next('error')).toMatchObject({ code: 'worker_deleted' });
    expect((await client.closed).code).toBe(4004);
    expect(await upgradeStatus(sessionUrl(s.url, w.workerId), w.authToken)).toBe(401);
  });

  it('closes a connection that goes quiet with 1001', async () => {
    const s = await studio({ heartbeatTimeoutMs: 100 });
    const w = await approvedWorker(s);
    const client = await session(s, w);
    expect((await client.closed).code).toBe(1001);
  });

  it('closes a connection that never says hello as a violation', async () => {
    const s = await studio({ helloTimeoutMs: 100 });
    const w = await approvedWorker(s);
    const client = connect(s, w.workerId, w.authToken);
    expect((await client.closed).code).toBe(4002);
  });

  it('lets the operator disconnect a worker with a chosen code, or drop it without a close frame', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const polite = await session(s, w);
    s.admin.disconnectWorker(w.workerId, 1012, 'restarting');
    expect(await polite.closed).toEqual({ code: 1012, reason: 'restarting' });

    const dropped = await session(s, w);
    s.admin.dropWorker(w.workerId);
    expect((await dropped.closed).code).toBe(1006);
  });

  it('closes open sessions with 1001 when the studio closes', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    await s.close();
    expect((await client.closed).code).toBe(1001);
  });
});
