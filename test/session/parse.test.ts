import { describe, expect, it } from 'vitest';
import { parseStudioFrame } from '../../src/session/index.js';

describe('parsing what the studio sends', () => {
  it('accepts a welcome', () => {
    expect(
      parseStudioFrame('{"type":"welcome","workerId":"w","serverTime":"2026-01-01T00:00:00Z"}'),
    ).toMatchObject({
      ok: true,
      frame: { type: 'welcome' },
    });
  });
  it('explains text that is not JSON', () => {
    expect(parseStudioFrame('hello?')).toEqual({ ok: false, reason: 'not JSON: hello?' });
  });
  it('explains an unknown frame type', () => {
    const parsed = parseStudioFrame('{"type":"surprise"}');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain('surprise');
  });
  it('names the job of an offer without a task, so it can be failed', () => {
    const parsed = parseStudioFrame('{"type":"offer","claim":{"jobId":"j-7","model":"m"}}');
    expect(parsed).toMatchObject({ ok: false, invalidOfferJobId: 'j-7' });
    if (!parsed.ok) expect(parsed.reason).toContain('task');
  });
  it('explains a frame with a wrong field type', () => {
    const parsed = parseStudioFrame('{"type":"completeAck","jobId":5}');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain('jobId');
  });
});
