import { fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { api, capabilities, postRegisterRequest, studio } from './helpers.js';

function poll(url: string, secret: string): ReturnType<typeof fetch> {
  return fetch(url, { headers: { authorization: `Bearer ${secret}` } });
}

describe('dev studio registration', () => {
  it('answers pending, then approved with the credentials the operator minted', async () => {
    const s = await studio();
    const { requestId, secret } = await postRegisterRequest(s);
    expect(requestId).toMatch(/^rr-/);
    const url = api(s, `/workers/register-requests/${requestId}`);

    expect(await (await poll(url, secret)).json()).toEqual({ status: 'pending' });
    expect(s.admin.listRegistrations()).toMatchObject([{ requestId, status: 'pending', capabilities }]);

    const creds = s.admin.approve(requestId);
    expect(creds.workerId).toMatch(/^w-/);
    expect(creds.authToken).toMatch(/^[0-9a-f]{64}$/);
    expect(await (await poll(url, secret)).json()).toEqual({ status: 'approved', ...creds });
    expect(s.admin.listWorkers()).toMatchObject([{ workerId: creds.workerId, connected: false }]);
  });

  it('gives the same request id when the same install posts again while pending', async () => {
    const s = await studio();
    const first = await postRegisterRequest(s);
    const second = await postRegisterRequest(s, first.installId);
    expect(second.requestId).toBe(first.requestId);
    expect(s.admin.listRegistrations()).toHaveLength(1);
  });

  it('refuses a poll whose bearer is not the registration secret with 401', async () => {
    const s = await studio();
    const { requestId } = await postRegisterRequest(s);
    const url = api(s, `/workers/register-requests/${requestId}`);
    expect((await poll(url, 'b'.repeat(64))).status).toBe(401);
    expect((await fetch(url)).status).toBe(401);
  });

  it('answers 404 to a poll once the operator forgot the request', async () => {
    const s = await studio();
    const { requestId, secret } = await postRegisterRequest(s);
    s.admin.forget(requestId);
    expect((await poll(api(s, `/workers/register-requests/${requestId}`), secret)).status).toBe(404);
  });

  it('tells a rejected worker why', async () => {
    const s = await studio();
    const { requestId, secret } = await postRegisterRequest(s);
    s.admin.reject(requestId, 'not one of ours');
    const res = await poll(api(s, `/workers/register-requests/${requestId}`), secret);
    expect(await res.json()).toEqual({ status: 'rejected', reason: 'not one of ours' });
  });

  it('approves at once when auto-approve is on', async () => {
    const s = await studio({ autoApprove: true });
    const { requestId, secret } = await postRegisterRequest(s);
    const body = (await (await poll(api(s, `/workers/register-requests/${requestId}`), secret)).json()) as {
      status: string;
    };
    expect(body.status).toBe('approved');
  });

  it('refuses a register-request that breaks the schema with 400 naming the field', async () => {
    const s = await studio();
    const res = await fetch(api(s, '/workers/register-request'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ installId: 'not-a-uuid', capabilities, userAgent: 'curl/8' }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: string };
    expect(error).toContain('installId');
    expect(error).toContain('registrationSecretHash');
    expect(s.admin.listRegistrations()).toEqual([]);
  });

  it('lets the operator approve through the admin HTTP API', async () => {
    const s = await studio();
    const { requestId } = await postRegisterRequest(s);
    const list = (await (await fetch(`${s.url}admin/registrations`)).json()) as { requestId: string }[];
    expect(list.map((r) => r.requestId)).toEqual([requestId]);
    const res = await fetch(`${s.url}admin/registrations/${requestId}/approve`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ workerId: expect.stringMatching(/^w-/) as unknown });
    const missing = await fetch(`${s.url}admin/registrations/rr-nope/approve`, { method: 'POST' });
    expect(missing.status).toBe(404);
  });
});
