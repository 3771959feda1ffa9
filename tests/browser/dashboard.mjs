// Opens the nd-hub dashboard in headless Chromium (Debian's, no download),
// prints READY once the page's WebSocket is connected, then waits until the
// page shows what the test expects, saves a screenshot, and prints what the
// page shows as one JSON line. Driven by hub/tests/dashboard.rs.
//
//   node dashboard.mjs URL EXPECT_JSON SCREENSHOT
//
// EXPECT_JSON: {"layers": {"IP": 12, ...}, "hostnames": [...], "arp_notes": n}
import { chromium } from 'playwright-core';

const [url, expectJson, screenshot] = process.argv.slice(2);
const expect = JSON.parse(expectJson);
const TIMEOUT = 60_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const scheme of ['light', 'dark']) {
    const page = await browser.newPage({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(url);
    await page.waitForSelector('#connection[data-state="open"]', { timeout: TIMEOUT });
    if (scheme === 'light') {
      console.log('READY');
      // Wait for the test's kitchens: every expected layer count, hostname and ARP note.
      await page.waitForFunction((e) => {
        const counts = {};
        for (const tr of document.querySelectorAll('#packet-counts tbody tr'))
          counts[tr.dataset.layer] = Number(tr.children[1].textContent.replace(/\D/g, ''));
        const hosts = new Set([...document.querySelectorAll('#dns-feed li')].map((li) => li.dataset.hostname));
        const notes = document.querySelectorAll('#arp-feed .note').length;
        return Object.entries(e.layers).every(([l, n]) => counts[l] === n)
          && e.hostnames.every((h) => hosts.has(h)) && notes >= e.arp_notes;
      }, expect, { timeout: TIMEOUT, polling: 200 }).catch(() => {});
    }
    // Whatever the page shows now, for the test to assert on.
    const shown = await page.evaluate(() => ({
      connection: document.querySelector('#connection').dataset.state,
      layers: Object.fromEntries([...document.querySelectorAll('#packet-counts tbody tr')]
        .map((tr) => [tr.dataset.layer, Number(tr.children[1].textContent.replace(/\D/g, ''))])),
      hostnames: [...document.querySelectorAll('#dns-feed li')].map((li) => li.dataset.hostname),
      arp: [...document.querySelectorAll('#arp-feed li')].map((li) => li.textContent),
      kitchens: document.querySelector('#kitchens').textContent,
      eaters: document.querySelector('#eater-count').textContent,
      chart_lines: document.querySelectorAll('#chart polyline').length,
      background: getComputedStyle(document.body).backgroundColor,
    }));
    shown.scheme = scheme;
    shown.errors = errors;
    await page.screenshot({ path: screenshot.replace(/\.png$/, `-${scheme}.png`), fullPage: true });
    console.log(JSON.stringify(shown));
    await page.close();
  }
} finally {
  await browser.close();
}
