import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { CHROMIUM, haveChromium, launchChromium, startTestDashboard } from './support.js';

// The Status tab before the studio has approved the worker: what a new user sees first.
describe.skipIf(!haveChromium)(
  `the dashboard while the worker registers${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`,
  () => {
    let h: Harness;
    let w: RunningWorker;
    let dashboard: Dashboard;
    let browser: Browser;
    let page: Page;

    beforeAll(async () => {
      h = await startHarness({ autoApprove: false });
      w = h.startWorker();
      await w.next('registration:state', (s) => s.state === 'pending');
      dashboard = await startTestDashboard(h, w);
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(dashboard.url);
    });
    afterAll(async () => {
      await browser?.close();
      await dashboard?.close();
      await h?.close();
    });

    it('says it is registering, not IDLE, and takes no offers yet', async () => {
      const badge = page.locator('[data-testid=state-badge]');
      await expect.poll(() => badge.textContent()).toBe('REGISTERING');
      const taking = await page.locator('[data-testid=taking-jobs]').textContent();
      expect(taking).toContain('Not taking offers yet: the worker is registering');
      expect(taking).not.toContain('Accepting offers');
      await page.getByText('Waiting for an operator to approve request').waitFor();
    });

    it('shows free disk space already', async () => {
      const disk = page.locator('section.card', { hasText: 'Disk' });
      await expect.poll(() => disk.textContent()).toMatch(/results\s*[\d.]+ [kMGT]?B free/);
    });

    it('lists engines as name, state and one line of why, with the rest on demand', async () => {
      const row = page.locator('[data-testid=engine-row-synthetic]');
      expect(await row.locator('strong').textContent()).toBe('synthetic');
      expect(await row.locator('.pill').textContent()).toBe('ready');
      const why = (await page.locator('[data-testid=engine-synthetic]').textContent()) ?? '';
      expect(why.length).toBeGreaterThan(0);
      expect(why).not.toContain('\n');
    });

    it('shows a rejection with its reason, and Reset registration asks the studio again', async () => {
      const first = h.studio.admin.listRegistrations().find((r) => r.status === 'pending');
      expect(first).toBeDefined();
      h.studio.admin.reject(first?.requestId ?? '', 'unknown machine');
      await page.locator('[data-testid=registration-rejected]').waitFor();
      expect(await page.locator('[data-testid=rejection-reason]').textContent()).toBe('unknown machine');
      await expect.poll(() => page.locator('[data-testid=state-badge]').textContent()).toBe('REJECTED');
      await page.click('[data-testid=registration-reset]');
      await page.getByText('Waiting for an operator to approve request').waitFor({ timeout: 10_000 });
      const again = await page.locator('[data-testid=request-id]').textContent();
      expect(again).not.toBe(first?.requestId);
      expect(h.studio.admin.listRegistrations().map((r) => r.requestId)).toContain(again);
    });
  },
);
