import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/index.js';
import { ResidencyStore } from '../../src/config/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import { VERSION } from '../../src/version.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { CHROMIUM, haveChromium, launchChromium, startTestDashboard } from './support.js';

/** `npm run screenshots` sets this to refresh docs/screenshots; tests otherwise write to a temp dir. */
const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS
  ? join(process.cwd(), 'docs', 'screenshots')
  : undefined;

// The real tiny model beside the clone (see ../shared/models/README.md).
const LLM = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');

const TABS: [tab: string, text: string][] = [
  ['status', 'Registered'],
  ['jobs', 'Finished jobs'],
  ['config', 'VRAM threshold (GB)'],
  ['logs', 'records'],
  ['models', 'tiny-stories.gguf'],
  ['about', `studio-worker ${VERSION}`],
];

describe.skipIf(!haveChromium)(
  `the dashboard in a real browser${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`,
  () => {
    let h: Harness;
    let w: RunningWorker;
    let dashboard: Dashboard;
    let browser: Browser;
    let page: Page;
    let shotDir: string;
    let modelsRoot: string;

    beforeAll(async () => {
      modelsRoot = await mkdtemp(join(tmpdir(), 'sw-models-'));
      shotDir = SCREENSHOT_DIR ?? (await mkdtemp(join(tmpdir(), 'sw-shots-')));
      await mkdir(shotDir, { recursive: true });
      // CPU only, two threads: the llama-cpp engine as this machine runs it (see ../shared/ecosystem.md).
      h = await startHarness({ config: { modelsRoot, gpuOffload: false, llmThreads: 2 } });
      await new CatalogStore(h.configDir).upsert({
        id: 'stories',
        displayName: 'Tiny stories',
        kind: 'llm',
        vramGbEstimate: 0.1,
        source: {
          engine: 'llama-cpp',
          files: [{ role: 'model', url: pathToFileURL(LLM).href, filename: 'stories260K.gguf' }],
          cliDefaults: { cfgScale: 1, steps: 4, width: 64, height: 48, contextSize: 512 },
        },
      });
      w = h.startWorker({ localApi: { port: 0 } });
      await w.next('session:welcomed');
      dashboard = await startTestDashboard(h, w, {
        // The dashboard's part is to ask and show the answer; the release check itself is update/'s.
        checkForUpdate: () =>
          Promise.resolve({
            current: VERSION,
            latest: VERSION,
            updateAvailable: false,
            message: `${VERSION} is the latest release`,
          }),
      });
      // Something in each tab: a finished job with a preview, and a cached model file.
      const done = w.next('job:completed');
      h.studio.admin.enqueueJob({
        task: { kind: 'image', prompt: 'a lighthouse at dusk, oil painting', width: 256, height: 256 },
      });
      await done;
      const url = h.studio.admin.addFile(
        'tiny-stories.gguf',
        new Uint8Array(300_000).fill(7),
        'application/octet-stream',
      );
      const model = await w.worker.modelCache!.provision(
        [{ role: 'model', url, filename: 'tiny-stories.gguf' }],
        AbortSignal.timeout(10_000),
      );
      model.release();

      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(dashboard.url);
    });

    afterAll(async () => {
      await browser?.close();
      await dashboard?.close();
      await h?.close();
      await rm(modelsRoot, { recursive: true, force: true });
      if (!SCREENSHOT_DIR && shotDir) await rm(shotDir, { recursive: true, force: true });
    });

    it('drops the token from the address bar after the first load', () => {
      expect(page.url()).toBe(`http://127.0.0.1:${dashboard.port}/`);
    });

    it('renders every tab (and keeps a screenshot of each)', async () => {
      for (const [tab, text] of TABS) {
        await page.click(`[data-testid=tab-${tab}]`);
        await page.getByText(text, { exact: false }).first().waitFor();
        await page.screenshot({ path: join(shotDir, `${tab}.png`) });
      }
    });

    it('shows a finished job in Jobs, with its image preview', async () => {
      await page.click('[data-testid=tab-jobs]');
      const row = page.locator('[data-testid=finished-jobs] tbody tr').first();
      await expect.poll(() => row.textContent()).toContain('a lighthouse at dusk');
      expect(await row.textContent()).toContain('completed');
      await expect
        .poll(() =>
          row
            .locator('img.thumb')
            .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )
        .toBe(256);
    });

    it('flips the badge to PAUSED, and the studio sees autoEnabled: false', async () => {
      await page.click('[data-testid=tab-status]');
      const badge = page.locator('[data-testid=state-badge]');
      await expect.poll(() => badge.textContent()).toBe('IDLE');
      await page.click('[data-testid=pause-toggle]');
      await expect.poll(() => badge.textContent()).toBe('PAUSED');
      const workerId = w.worker.getStatus().workerId;
      await expect
        .poll(
          () => h.studio.admin.listWorkers().find((x) => x.workerId === workerId)?.capabilities?.autoEnabled,
        )
        .toBe(false);
      await page.screenshot({ path: join(shotDir, 'status-paused.png') });
      await page.click('[data-testid=pause-toggle]');
      await expect.poll(() => badge.textContent()).toBe('IDLE');
      await expect
        .poll(
          () => h.studio.admin.listWorkers().find((x) => x.workerId === workerId)?.capabilities?.autoEnabled,
        )
        .toBe(true);
    });

    it('says, when paused during a job, that the offers declined meanwhile go back to the studio', async () => {
      await page.click('[data-testid=tab-status]');
      const accepted = w.next('job:accepted');
      const job = h.studio.admin.enqueueJob({
        task: { kind: 'video', prompt: 'slow waves', seconds: 6, fps: 16, width: 384, height: 384 },
      });
      await accepted;
      w.worker.pause();
      try {
        await page
          .getByText('go back to the studio, which gives them to another worker', { exact: false })
          .waitFor({ timeout: 10_000 });
      } finally {
        w.worker.resume();
      }
      await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 60_000 });
    });

    it('shows each engine with whether it can run here', async () => {
      await page.click('[data-testid=tab-status]');
      await expect.poll(() => page.locator('[data-testid=engine-sd-cpp]').textContent()).toContain('sd-cli');
      expect(await page.locator('[data-testid=engine-synthetic]').textContent()).toContain('built in');
    });

    it('lists a model kept with `models keep` on the Models tab, unloaded until a job loads it; the Status tab says there is no GPU reading and where the local API is', async () => {
      await new ResidencyStore(h.configDir).set('z-image-turbo', true);
      await page.click('[data-testid=tab-models]');
      await expect
        .poll(() => page.locator('[data-testid=model-state-z-image-turbo]').textContent(), {
          timeout: 10_000,
        })
        .toBe('unloaded');
      await page.click('[data-testid=tab-status]');
      await page.getByText('No GPU reading on this machine').waitFor();
      expect(await page.locator('[data-testid=local-api-url]').textContent()).toMatch(
        /^http:\/\/127\.0\.0\.1:\d+$/,
      );
      // The LAN stream listener beside it (on any free port, as the local API's port 0 asks).
      expect(await page.locator('[data-testid=stream-listener]').textContent()).toMatch(
        /^listening on 0\.0\.0\.0:\d+ \(0 streaming now\)$/,
      );
      await new ResidencyStore(h.configDir).set('z-image-turbo', false);
    });

    it.skipIf(!existsSync(LLM))(
      'loads a catalogue model with its Load button on the Models tab, and Unload gives it back (real stories260K.gguf)',
      async () => {
        await page.click('[data-testid=tab-models]');
        const state = page.locator('[data-testid=catalog-state-stories]');
        const action = page.locator('[data-testid=catalog-action-stories]');
        await expect.poll(() => state.textContent()).toBe('unloaded');
        expect(await page.locator('[data-testid=catalog-kept]').textContent()).toContain('Tiny stories');
        expect(await page.locator('[data-testid=catalog-row-stories]').textContent()).toContain(
          'llm · llama-cpp · ≈ 0.1 GB',
        );
        // The image model the studio's job brought is listed too, under the engines that load per job.
        await expect
          .poll(() => page.locator('[data-testid=catalog-per-job]').textContent())
          .toContain('synthetic');
        expect(await action.textContent()).toBe('Load');
        await action.click();
        await expect.poll(() => state.textContent(), { timeout: 30_000 }).toBe('loaded');
        expect(await action.textContent()).toBe('Unload');
        expect(await page.locator('[data-testid=catalog-row-stories]').textContent()).toContain('resident');
        await page.screenshot({ path: join(shotDir, 'models-loaded.png') });
        await action.click();
        await expect.poll(() => state.textContent(), { timeout: 30_000 }).toBe('unloaded');
        expect(await action.textContent()).toBe('Load');
        expect((await new ResidencyStore(h.configDir).load()).has('stories')).toBe(false);
      },
    );

    it('saves a Config change into the TOML file, and Reset reverts an unsaved edit', async () => {
      await page.click('[data-testid=tab-config]');
      await page.fill('#cfg-vram_threshold_gb', '7.5');
      await page.click('[data-testid=config-save]');
      await page.getByText('Saved to').waitFor();
      expect(await readFile(h.store.path, 'utf8')).toMatch(/^vram_threshold_gb = 7\.5$/m);

      await page.fill('#cfg-vram_threshold_gb', '3');
      await page.click('[data-testid=config-reset]');
      expect(await page.inputValue('#cfg-vram_threshold_gb')).toBe('7.5');
    });

    it('shows a value the schema refuses next to its field and leaves the file alone', async () => {
      const before = await readFile(h.store.path, 'utf8');
      await page.click('[data-testid=tab-config]');
      await page.fill('#cfg-api_base_url', 'ftp://studio.example');
      await page.click('[data-testid=config-save]');
      await page.getByText('expected an http(s) URL').waitFor();
      expect(await readFile(h.store.path, 'utf8')).toBe(before);
      await page.click('[data-testid=config-reset]');
    });

    it('filters the live log by free text and by level', async () => {
      await page.click('[data-testid=tab-logs]');
      const lines = page.locator('[data-testid=log-list] .logline');
      await page.fill('[data-testid=log-search]', 'config saved from the dashboard');
      await expect.poll(() => lines.count()).toBe(1);
      await page.selectOption('[data-testid=log-level]', 'error');
      await expect.poll(() => lines.count()).toBe(0);
      await page.selectOption('[data-testid=log-level]', 'debug');
      await page.fill('[data-testid=log-search]', '');
    });

    it('checks for updates from About and shows the answer', async () => {
      await page.click('[data-testid=tab-about]');
      await page.click('[data-testid=check-update]');
      await expect
        .poll(() => page.locator('[data-testid=update-answer]').textContent())
        .toBe(`${VERSION} is the latest release`);
      await page.screenshot({ path: join(shotDir, 'about.png') });
    });

    it('refuses a request sent from a page of another origin, even with the cookie', async () => {
      // The dev studio is another origin on the same site (127.0.0.1), so the browser does send the
      // SameSite=Strict cookie along: only the Origin check stands between that page and Pause.
      const other = await browser.newPage();
      try {
        await other.goto(h.studio.url);
        await other.evaluate(
          (url) =>
            fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include' }).then(() => undefined),
          `http://127.0.0.1:${dashboard.port}/api/pause`,
        );
        await expect
          .poll(() => h.logText())
          .toContain('refused POST /api/pause: Refused: requests from origin');
        expect(w.worker.getStatus().paused).toBe(false);
      } finally {
        await other.close();
      }
    });
  },
);
