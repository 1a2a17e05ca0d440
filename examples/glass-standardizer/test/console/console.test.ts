// The web console in a real browser: Debian's Chromium driven by playwright-core. Sign in, upload,
// watch progress, read the quality report, download each GLASS file, see the charts, sign out; a
// viewer cannot reach isolate downloads. Any CSP violation or script error fails the test.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES } from '../helpers.js';
import { ADMIN_TOKEN, type RunningGlass, startGlass } from '../http/support.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.SHIPSHAPE_REQUIRE_SERVICES === '1')
    throw new Error(
      `${CHROMIUM} is required (SHIPSHAPE_REQUIRE_SERVICES=1): apt-get install chromium`,
    );
  console.warn(`[skip] ${CHROMIUM} is not installed; the console browser tests are skipped`);
}

interface Watch {
  readonly violations: string[];
  readonly errors: string[];
}

/** Collects CSP violations (from the page itself and Chromium's console) and script errors. */
async function watch(context: BrowserContext): Promise<Watch> {
  const seen: Watch = { violations: [], errors: [] };
  await context.exposeBinding('__cspViolation', (_source, text: string) => {
    seen.violations.push(text);
  });
  // Installed by the browser before any page script (not subject to the page's CSP).
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' at ' + e.sourceFile + ':' + e.lineNumber);
    });`,
  });
  context.on('page', (page) => observe(page, seen));
  return seen;
}

function observe(page: Page, seen: Watch) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content[- ]Security[- ]Policy/i.test(text)) seen.violations.push(text);
    // Refused requests the test makes on purpose (401 before sign-in, a viewer's 403) are logged
    // by Chromium as "Failed to load resource"; anything else at error level is a defect.
    else if (msg.type() === 'error' && !text.startsWith('Failed to load resource'))
      seen.errors.push(text);
  });
  page.on('pageerror', (error) => seen.errors.push(`${error.name}: ${error.message}`));
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The page's script has finished its first render (no string eval: the CSP forbids it). */
const ready = (page: Page) => page.locator('body[data-ready="true"]').waitFor();

async function signIn(page: Page, base: string, key: string) {
  await page.goto(`${base}/`);
  await page.waitForURL(/\/sign-in\?next=/);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/datasets`);
  await ready(page);
}

describe.skipIf(!available)('the web console in Chromium (playwright-core)', () => {
  let glass: RunningGlass;
  let browser: Browser;
  let work: string;
  let datasetId = '';
  let viewerKey = '';

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    work = mkdtempSync(join(tmpdir(), 'glass-console-'));
    glass = await startGlass({ LOG_LEVEL: 'warn' });
    viewerKey = glass.glass.access.keyFile.create('viewer', 'Viewer of lab A').key;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      // launch() gives Chromium a fresh temporary --user-data-dir of its own every time (an
      // explicit one is refused: that is launchPersistentContext's job).
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await glass?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('signs in, uploads with progress to done, reads the report, downloads each GLASS file, sees the charts, signs out', {
    timeout: 120_000,
  }, async () => {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1366, height: 768 },
    });
    const seen = await watch(context);
    const page = await context.newPage();
    try {
      await page.goto(`${glass.url}/`);
      await page.waitForURL(/\/sign-in\?next=%2Fdatasets$/);
      await shot(page, '1-sign-in');
      // A wrong key is refused on the page.
      await page.getByLabel('API key').fill('not-a-valid-key-0123456789');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.locator('#sign-in-error').textContent()).toContain('not valid');
      await page.getByLabel('API key').fill(ADMIN_TOKEN);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${glass.url}/datasets`);
      await ready(page);
      expect(await page.locator('#who-role').textContent()).toBe('admin');
      await shot(page, '2-datasets-empty');

      // Upload lab A plus three culture-negative rows (so there is a SAMPLE file too).
      const original = readFileSync(join(SAMPLES, 'lab_a_2024.csv'), 'utf8');
      const eol = original.includes('\r\n') ? '\r\n' : '\n';
      const csv = original.trimEnd();
      const columns = csv.split(eol)[0]?.split(',').length ?? 0;
      const negatives = [1, 2, 3].map(
        (i) =>
          `PNEG0000${i},${i % 2 ? 'female' : 'male'},4${i},,0${i}/03/2024,blood culture,no growth${','.repeat(columns - 7)}`,
      );
      const file = join(work, 'lab_a_2024_with_negatives.csv');
      writeFileSync(file, `${[csv, ...negatives].join(eol)}${eol}`);
      await page.getByRole('link', { name: 'Upload', exact: true }).first().click();
      await page.waitForURL(`${glass.url}/upload`);
      await ready(page);
      await page.getByLabel('Isolate file (CSV or XLSX)').setInputFiles(file);
      await page.getByLabel('Country (ISO 3166 alpha-3)').fill('KEN');
      await page.getByLabel('Year').fill('2024');
      await page.getByLabel('Batch id').fill('LAB-A');
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.locator('#upload-done').waitFor({ state: 'visible', timeout: 60_000 });
      expect(
        await page
          .locator('#transfer')
          .evaluate((el) => (el as unknown as { value: number }).value),
      ).toBe(100);
      expect(
        await page
          .locator('#processing')
          .evaluate((el) => (el as unknown as { value: number }).value),
      ).toBe(100);
      expect(await page.locator('#processing-text').textContent()).toBe('done');
      await shot(page, '3-upload-done');

      await page.getByRole('link', { name: 'Open the quality report and downloads' }).click();
      await page.waitForURL(/\/datasets\/[0-9a-f-]{36}$/);
      datasetId = page.url().split('/').pop() as string;
      await ready(page);
      // The quality report: rules with severities and counts.
      const rules = await page.locator('#quality-body tr').count();
      expect(rules).toBeGreaterThan(3);
      expect(await page.locator('#quality-summary').textContent()).toMatch(
        /\d+ errors, \d+ warnings/,
      );
      // The antibiogram heat map and the resistance chart.
      expect(await page.locator('#antibiogram td:not(.none)').count()).toBeGreaterThan(5);
      expect(
        await page.evaluate<number>(
          "window.Chart.getChart(document.getElementById('resistance-chart'))?.data.labels.length ?? 0",
        ),
      ).toBeGreaterThan(0);
      await shot(page, '4-dataset');

      // Filter by specimen: the heat map follows.
      await page.getByLabel('Specimen').selectOption('URINE');
      await expect
        .poll(async () => page.locator('#antibiogram tbody th').allTextContents())
        .not.toContain('STAAUR');
      await shot(page, '5-dataset-urine');

      // Each GLASS file, named for GLASS, with its content.
      const download = async (name: string) => {
        const [file] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('link', { name, exact: true }).click(),
        ]);
        expect(file.suggestedFilename()).toBe(name);
        return readFileSync(await file.path(), 'utf8');
      };
      const ris = await download('KEN_2024_LAB-A_RIS.csv');
      expect(ris.split('\r\n')[0] ?? ris.split('\n')[0]).toMatch(
        /^COUNTRY,YEAR,SPECIMEN,PATHOGEN,GENDER,ORIGIN,AGEGROUP,ANTIBIOTIC,RESISTANT/,
      );
      expect(ris).toContain('KEN,2024,BLOOD,ESCCOL,');
      const sample = await download('KEN_2024_LAB-A_SAMPLE.csv');
      expect(sample).toMatch(
        /^COUNTRY,YEAR,SPECIMEN,GENDER,ORIGIN,AGEGROUP,NUMSAMPLEDPATIENTS,BATCHID/,
      );
      expect(sample).toContain('KEN,2024,BLOOD,');
      const isolates = await download('KEN_2024_LAB-A_isolates.csv');
      expect(isolates).toMatch(/^isolate_id,source_row,patient_id,specimen_date/);
      expect(isolates).toContain('P01100135');
      const issues = await download('KEN_2024_LAB-A_quality_issues.csv');
      expect(issues).toMatch(/^row,rule,severity,code,message,rule_count/);

      // Monitoring: checks, alerts and processing metrics.
      await page.getByRole('link', { name: 'Monitoring' }).click();
      await page.waitForURL(`${glass.url}/monitoring`);
      await ready(page);
      expect(await page.locator('#checks-body tr').count()).toBeGreaterThan(1);
      expect(await page.locator('#alerts-body tr').count()).toBe(4);
      expect(await page.locator('#processing').textContent()).toContain('Datasets done');
      await shot(page, '6-monitoring');

      // Keyboard: the skip link is the first stop and leads to the content.
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement?.textContent')).toBe(
        'Skip to content',
      );

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${glass.url}/sign-in`);
      await page.goto(`${glass.url}/datasets`);
      await page.waitForURL(/\/sign-in/);
      await shot(page, '7-signed-out');
      expect(seen.violations).toEqual([]);
      expect(seen.errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a viewer sees no isolate download and cannot reach it; no upload link', {
    timeout: 60_000,
  }, async () => {
    expect(datasetId).not.toBe('');
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const seen = await watch(context);
    const page = await context.newPage();
    try {
      await signIn(page, glass.url, viewerKey);
      expect(await page.locator('#who-role').textContent()).toBe('viewer');
      expect(await page.getByRole('link', { name: 'Upload', exact: true }).count()).toBe(0);
      await page.goto(`${glass.url}/datasets/${datasetId}`);
      await ready(page);
      expect(await page.getByRole('link', { name: 'KEN_2024_LAB-A_isolates.csv' }).count()).toBe(0);
      expect(await page.locator('#downloads').textContent()).toContain('needs the analyst role');
      expect(await page.getByRole('link', { name: 'KEN_2024_LAB-A_RIS.csv' }).count()).toBe(1);
      const status = await page.evaluate(
        (id) => fetch(`/api/datasets/${id}/isolates.csv`).then((r) => r.status),
        datasetId,
      );
      expect(status).toBe(403);
      await shot(page, '8-dataset-viewer');
      expect(seen.violations).toEqual([]);
      expect(seen.errors).toEqual([]);
      // The detector itself: an image from another origin is refused by the policy, and seen.
      await page.evaluate(
        "document.body.append(Object.assign(document.createElement('img'), { src: 'https://example.invalid/pixel.png' }))",
      );
      await expect.poll(() => seen.violations.join('\n')).toMatch(/img-src/);
    } finally {
      await context.close();
    }
  });
});
