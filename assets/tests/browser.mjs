// Browser checks of lookout's web app, run by `cargo test --test browser`
// (tests/browser.rs), which starts the server, seeds data and passes:
//   LOOKOUT_URL       the server's base URL
//   LOOKOUT_SEED      JSON facts about the seeded data
//   LOOKOUT_CHROMIUM  the Chromium executable (Debian's /usr/bin/chromium)
//   SCREENSHOT_DIR    where screenshots go
// Prints `ok - …` / `not ok - …` per check, then `BENCH {json}`; exits 1
// when a check failed.
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const base = process.env.LOOKOUT_URL;
const seed = JSON.parse(process.env.LOOKOUT_SEED ?? '{}');
const shots = process.env.SCREENSHOT_DIR ?? 'screenshots';
const executablePath = process.env.LOOKOUT_CHROMIUM ?? '/usr/bin/chromium';
if (!base) {
  console.error('LOOKOUT_URL is not set');
  process.exit(2);
}

const TIMEOUT = 10_000;
let failed = 0;
const bench = {};

async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}: ${String(error?.message ?? error).split('\n').slice(0, 6).join(' | ')}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Gzipped size of what the first page load fetches: index.html's scripts and styles. */
async function bundleSize() {
  const html = await (await fetch(`${base}/`)).text();
  const urls = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let raw = 0;
  let gzip = 0;
  const files = {};
  for (const url of urls) {
    const bytes = Buffer.from(await (await fetch(base + url)).arrayBuffer());
    const zipped = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gzip += zipped;
    files[url] = { raw: bytes.length, gzip: zipped };
  }
  return { raw, gzip, files };
}

// launch() starts Chromium on a new, empty temporary profile
// (--user-data-dir) of its own and deletes it on close.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 30_000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--disable-dev-shm-usage',
  ],
});

const problems = [];
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
    else if (message.type() === 'error' && !/status of (400|404|503)/.test(text)) problems.push(`console error: ${text}`);
  });
  return page;
}

try {
  const page = await newPage();

  await check('bundle is under 250 KB gzipped', async () => {
    const size = await bundleSize();
    bench.bundle = size;
    console.log(`# initial JS+CSS: ${(size.raw / 1024).toFixed(1)} KiB raw, ${(size.gzip / 1024).toFixed(1)} KiB gzipped`);
    assert(size.gzip > 0, 'no scripts or styles found in index.html');
    assert(size.gzip < 250 * 1024, `${size.gzip} bytes gzipped`);
  });

  await check('the server sends a strict CSP and caching headers', async () => {
    const index = await fetch(`${base}/traces`);
    const csp = index.headers.get('content-security-policy') ?? '';
    assert(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `CSP: ${csp}`);
    assert(index.headers.get('cache-control') === 'no-cache', 'index.html must not be cached');
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const response = await fetch(base + asset);
    assert(/immutable/.test(response.headers.get('cache-control') ?? ''), 'hashed assets are immutable');
    assert(/javascript/.test(response.headers.get('content-type') ?? ''), 'JavaScript content type');
    const missing = await fetch(`${base}/assets/missing-00000000.js`);
    assert(missing.status === 404 && (await missing.json()).error, 'missing asset is a JSON 404');
    const api = await fetch(`${base}/api/no-such-route`);
    assert(api.status === 404 && (await api.json()).error.code === 'not_found', 'unknown API path is a JSON 404');
  });

  await check('trace list shows the seeded traces', async () => {
    await page.goto(`${base}/traces?lookback=1h`);
    for (const id of [seed.checkout_trace, seed.other_trace, seed.big_trace]) {
      await page.locator(`.trace-row[data-trace-id="${id}"]`).waitFor();
    }
    const checkout = page.locator(`.trace-row[data-trace-id="${seed.checkout_trace}"]`);
    const text = await checkout.innerText();
    assert(text.includes('GET /checkout') && text.includes('frontend'), `row text: ${text}`);
    await page.locator('.scatter canvas').first().waitFor();
    await page.screenshot({ path: join(shots, 'traces.png'), fullPage: true });
  });

  await check('trace search filters by service and status', async () => {
    await page.goto(`${base}/traces?service=payments&status=error&lookback=1h`);
    await page.locator(`.trace-row[data-trace-id="${seed.checkout_trace}"]`).waitFor();
    const ids = await page.locator('.trace-row[data-trace-id]').evaluateAll((rows) => rows.map((r) => r.dataset.traceId));
    assert(ids.length === 1 && ids[0] === seed.checkout_trace, `found ${ids.join(', ')}`);
    assert((await page.locator('#f-service').inputValue()) === 'payments', 'the form shows the URL state');
  });

  await check('waterfall has one row per span in tree order', async () => {
    await page.goto(`${base}/traces?lookback=1h`);
    await page.locator(`.trace-row[data-trace-id="${seed.checkout_trace}"]`).click();
    await page.waitForURL(`**/traces/${seed.checkout_trace}`);
    await page.locator('.wf-row').first().waitFor();
    const rows = await page.locator('.wf-row').evaluateAll((elements) =>
      elements.map((e) => ({ id: e.dataset.spanId, name: e.querySelector('.wf-op')?.textContent, level: e.getAttribute('aria-level') })),
    );
    assert(
      JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(seed.tree_order),
      `order ${rows.map((r) => r.name).join(' > ')}`,
    );
    assert(JSON.stringify(rows.map((r) => r.name)) === JSON.stringify(seed.tree_names), 'span names');
    assert(rows.map((r) => r.level).join(',') === '1,2,3,2,3,2', `levels ${rows.map((r) => r.level)}`);
    const errorRow = page.locator(`.wf-row[data-span-id="${seed.charge_span}"] .error-mark`);
    assert((await errorRow.count()) === 1, 'the failed span is marked');
  });

  await check('clicking a span shows its attributes', async () => {
    await page.locator(`.wf-row[data-span-id="${seed.charge_span}"]`).click();
    const detail = page.getByTestId('span-detail');
    await detail.waitFor();
    const text = await detail.innerText();
    for (const [key, value] of Object.entries(seed.charge_attributes)) {
      assert(text.includes(key) && text.includes(value), `missing ${key}=${value}`);
    }
    assert(text.includes('card declined'), 'status message');
    assert(text.includes('retry'), 'event');
    assert(page.url().includes(`span=${seed.charge_span}`), 'selection is in the URL');
    await page.getByTestId('trace-logs').locator('.log-row[data-log-id]').first().waitFor();
    const logCount = await page.getByTestId('trace-logs').locator('.log-row[data-log-id]').count();
    assert(logCount === seed.log_expected, `trace logs: ${logCount}`);
    await page.screenshot({ path: join(shots, 'trace.png'), fullPage: true });
  });

  await check('keyboard moves through the waterfall and collapses subtrees', async () => {
    const tree = page.getByTestId('waterfall');
    await tree.focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    assert(page.url().includes(seed.tree_order[1]), 'ArrowDown selects the next span');
    await page.keyboard.press('ArrowLeft');
    const rows = await page.locator('.wf-row').count();
    assert(rows === seed.tree_order.length - 1, `collapsing hides the child (rows: ${rows})`);
    await page.keyboard.press('ArrowRight');
    assert((await page.locator('.wf-row').count()) === seed.tree_order.length, 'expanding shows it again');
  });

  await check('a deep link reloads to the same view', async () => {
    const url = `${base}/traces/${seed.checkout_trace}?span=${seed.charge_span}`;
    await page.goto(url);
    await page.getByTestId('span-detail').waitFor();
    await page.reload();
    await page.getByTestId('span-detail').waitFor();
    const title = await page.locator('.span-title').innerText();
    assert(title === 'charge', `title after reload: ${title}`);
    assert(page.url() === url, `url changed: ${page.url()}`);
    const logsUrl = `${base}/logs?q=${encodeURIComponent(seed.log_query)}&level=error`;
    await page.goto(logsUrl);
    await page.getByTestId('log-total').waitFor();
    await page.reload();
    await page.getByTestId('log-total').waitFor();
    assert((await page.getByLabel('Log query').inputValue()) === seed.log_query, 'query kept');
    assert((await page.locator('#l-level').inputValue()) === 'error', 'level kept');
    await page.goBack();
    await page.waitForURL(`**/traces/${seed.checkout_trace}?span=${seed.charge_span}`);
    await page.getByTestId('span-detail').waitFor();
  });

  await check('a log query returns the expected rows', async () => {
    await page.goto(`${base}/logs?lookback=2h`);
    await page.getByTestId('log-total').waitFor();
    const input = page.getByLabel('Log query');
    await input.fill(seed.log_query);
    await input.press('Enter');
    await page.waitForURL(/q=/);
    await page.waitForFunction((n) => document.querySelectorAll('.log-row[data-log-id]').length === n, seed.log_expected);
    const total = await page.getByTestId('log-total').innerText();
    assert(total === String(seed.log_expected), `total ${total}`);
    const bodies = await page.locator('.log-row[data-log-id] .log-body').allInnerTexts();
    assert(bodies.every((b) => b.includes('payment declined')), `bodies: ${bodies.join(' | ')}`);
    const times = await page.locator('.log-row[data-log-id] time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime'))));
    assert(times.every((t, i) => i === 0 || times[i - 1] >= t), 'newest first');
    await page.locator('.log-row[data-log-id] .log-summary').first().click();
    const detail = page.locator('.log-detail').first();
    await detail.waitFor();
    const text = await detail.innerText();
    assert(text.includes('order') && text.includes('amount'), 'attributes tree');
    assert((await detail.locator(`a[href^="/traces/${seed.checkout_trace}"]`).count()) === 1, 'trace link');
    await page.locator('.histogram canvas').first().waitFor();
    await page.screenshot({ path: join(shots, 'logs.png'), fullPage: true });
    await detail.locator(`a[href^="/traces/${seed.checkout_trace}"]`).click();
    await page.waitForURL(`**/traces/${seed.checkout_trace}?span=${seed.charge_span}`);
    await page.getByTestId('span-detail').waitFor();
  });

  await check('dragging across the histogram zooms the time range', async () => {
    await page.goto(`${base}/logs?lookback=2h`);
    const over = page.locator('.histogram .u-over');
    await over.waitFor();
    const box = await over.boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.5, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, y, { steps: 5 });
    await page.mouse.up();
    await page.waitForURL(/start=\d+&end=\d+|end=\d+&start=\d+/);
    const url = new URL(page.url());
    const start = Number(url.searchParams.get('start'));
    const end = Number(url.searchParams.get('end'));
    assert(end > start && end - start < 2 * 3600 * 1000 * 0.3, `range ${start}..${end}`);
    assert((await page.getByLabel('Time range').inputValue()) === 'custom', 'the picker shows a custom range');
    await page.goBack();
    await page.waitForURL(/lookback=2h/);
  });

  await check("a bad query shows the parser's message", async () => {
    await page.goto(`${base}/logs`);
    const input = page.getByLabel('Log query');
    await input.fill(seed.bad_query);
    await input.press('Enter');
    const message = await page.getByTestId('query-error').innerText();
    assert(message === seed.bad_query_message, `shown: ${message}; API: ${seed.bad_query_message}`);
    await page.screenshot({ path: join(shots, 'logs-bad-query.png') });
  });

  await check('infinite scroll loads the next page', async () => {
    await page.goto(`${base}/logs?lookback=2h`);
    await page.waitForFunction(() => document.querySelectorAll('.log-row[data-log-id]').length >= 200);
    const before = await page.locator('.log-row[data-log-id]').count();
    await page.locator('.sentinel').scrollIntoViewIfNeeded();
    await page.waitForFunction((n) => document.querySelectorAll('.log-row[data-log-id]').length > n, before);
  });

  await check('live tail shows a record ingested after it started', async () => {
    await page.goto(`${base}/logs?live=1&service=tailer`);
    await page.waitForFunction(() => document.querySelector('[data-testid="live-status"]')?.textContent?.startsWith('Streaming'));
    const marker = `tail-marker-${Date.now()}`;
    const response = await fetch(`${base}/api/ingest/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify({ level: 'warn', service: 'tailer', message: marker }) + '\n',
    });
    assert(response.ok, `ingest: ${response.status}`);
    await page.locator('.log-row.fresh .log-body', { hasText: marker }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(shots, 'logs-live.png') });
    // Leaving the page closes the EventSource. The server notices a closed
    // stream only when it next writes to it (a record or its 15 s
    // keep-alive), and a graceful stop waits for open streams: two more
    // records end it now rather than at the next keep-alive.
    await page.goto(`${base}/system`);
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await fetch(`${base}/api/ingest/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: JSON.stringify({ level: 'warn', service: 'tailer', message: `after tail ${i}` }) + '\n',
      });
    }
  });

  await check('the system page shows healthy', async () => {
    await page.goto(`${base}/system`);
    const status = page.getByTestId('health-status');
    await status.waitFor();
    assert((await status.innerText()).trim() === 'healthy', `status ${await status.innerText()}`);
    for (const name of ['writer', 'sqlite', 'disk', 'queue']) {
      assert((await page.locator(`[data-check="${name}"]`).count()) === 1, `check ${name}`);
    }
    const text = await page.locator('main').innerText();
    assert(/spans ingested\s+[\d,.]+/i.test(text), `ingest counters: ${text.slice(0, 400)}`);
    await page.screenshot({ path: join(shots, 'system.png'), fullPage: true });
  });

  await check('time to first render of a 5,000-span trace', async () => {
    const runs = [];
    for (let run = 0; run < 3; run++) {
      const started = Date.now();
      await page.goto(`${base}/traces/${seed.big_trace}`);
      await page.locator('.wf-row').first().waitFor();
      await page.waitForFunction(() => performance.getEntriesByName('lookout:trace-render').length > 0);
      const total = Date.now() - started;
      const render = await page.evaluate(() => performance.getEntriesByName('lookout:trace-render')[0].duration);
      runs.push({ total, render });
    }
    const facts = await page.locator('.trace-facts').innerText();
    assert(facts.includes('5,000') || facts.includes('5000'), `facts: ${facts}`);
    const rendered = await page.locator('.wf-row').count();
    assert(rendered > 10 && rendered < 200, `virtualised rows in the DOM: ${rendered}`);
    // Scroll to the end: the last span of the tree order is reachable.
    await page.getByTestId('waterfall').focus();
    await page.keyboard.press('End');
    await page.waitForFunction(() => new URL(location.href).searchParams.has('span'));
    bench.trace5000 = {
      navigation_to_render_ms: median(runs.map((r) => r.total)),
      data_to_render_ms: Number(median(runs.map((r) => r.render)).toFixed(1)),
      runs,
    };
    console.log(`# 5,000-span trace: ${bench.trace5000.navigation_to_render_ms} ms from navigation, ${bench.trace5000.data_to_render_ms} ms from data to painted (median of 3)`);
    await page.keyboard.press('Home');
    await page.screenshot({ path: join(shots, 'trace-5000.png') });
  });

  await check('time to first render of 1,000 log rows', async () => {
    const runs = [];
    for (let run = 0; run < 3; run++) {
      const started = Date.now();
      await page.goto(`${base}/logs?lookback=2h&limit=1000`);
      await page.waitForFunction(() => document.querySelectorAll('.log-row[data-log-id]').length >= 1000);
      await page.waitForFunction(() => performance.getEntriesByName('lookout:logs-render').length > 0);
      const total = Date.now() - started;
      const render = await page.evaluate(() => performance.getEntriesByName('lookout:logs-render')[0].duration);
      runs.push({ total, render });
    }
    bench.logs1000 = {
      navigation_to_render_ms: median(runs.map((r) => r.total)),
      data_to_render_ms: Number(median(runs.map((r) => r.render)).toFixed(1)),
      runs,
    };
    console.log(`# 1,000 log rows: ${bench.logs1000.navigation_to_render_ms} ms from navigation, ${bench.logs1000.data_to_render_ms} ms from data to painted (median of 3)`);
  });

  await check('dark theme renders', async () => {
    const dark = await newPage({ colorScheme: 'dark' });
    await dark.goto(`${base}/traces/${seed.checkout_trace}?span=${seed.charge_span}`);
    await dark.getByTestId('span-detail').waitFor();
    assert((await dark.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'data-theme=dark');
    await dark.screenshot({ path: join(shots, 'trace-dark.png'), fullPage: true });
    await dark.goto(`${base}/logs?lookback=2h`);
    await dark.locator('.histogram canvas').first().waitFor();
    await dark.locator('.log-row[data-log-id]').first().waitFor();
    await dark.screenshot({ path: join(shots, 'logs-dark.png') });
    await dark.goto(`${base}/system`);
    await dark.getByTestId('health-status').waitFor();
    await dark.screenshot({ path: join(shots, 'system-dark.png') });
    await dark.context().close();
  });

  await check('no CSP violations or script errors', async () => {
    assert(problems.length === 0, problems.join(' | '));
  });
} finally {
  await browser.close();
}

console.log(`# screenshots: ${shots}`);
console.log(`BENCH ${JSON.stringify(bench)}`);
process.exit(failed ? 1 : 0);
