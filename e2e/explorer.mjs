#!/usr/bin/env node
// End-to-end test of the Cairn explorer in a real browser (Debian's Chromium via playwright-core).
//
//   node e2e/explorer.mjs --url http://127.0.0.1:7480 --out <dir for screenshots> [--wait 120]
//
// Steps: overview (waits for a judged, rewarded epoch and a caught cheater), map (hexagon click
// lists the cell's devices), a dishonest device's page (reason code + plain words), an epoch page
// and the governance page. Exit code 0 on success; on failure prints why, saves failure.png, exits 1.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { resolve, join } from 'node:path';

function parseArgs(argv) {
  const out = { url: 'http://127.0.0.1:7480', out: 'e2e-screenshots', wait: 120 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const take = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--url') out.url = take();
    else if (a === '--out') out.out = take();
    else if (a === '--wait') out.wait = Number(take());
    else if (a === '-h' || a === '--help') {
      console.log('usage: node explorer.mjs --url http://127.0.0.1:7480 --out DIR [--wait SECONDS]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isFinite(out.wait) || out.wait <= 0) throw new Error('--wait must be a positive number of seconds');
  return out;
}

const REASON_RE = /[a-z]+(_[a-z]+)+/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stepNo = 0;
const t0 = Date.now();
function pass(msg) {
  stepNo++;
  console.log(`ok ${stepNo} - ${msg} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
class Failure extends Error {}
function fail(msg) { throw new Failure(msg); }

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const outDir = resolve(args.out);
  mkdirSync(outDir, { recursive: true });
  const base = args.url.replace(/\/+$/, '') + '/';
  const shot = (page, name, fullPage = true) => page.screenshot({ path: join(outDir, name), fullPage });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pageErrors = [];
  let page = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));
    page.on('console', (m) => { if (m.type() === 'error') console.log(`  browser console: ${m.text()}`); });
    const checkErrors = () => { if (pageErrors.length) fail(`uncaught error in the page:\n${pageErrors.join('\n')}`); };
    const waitReady = async (testid, what) => {
      const sel = `[data-testid="${testid}"]`;
      await page.waitForSelector(sel, { timeout: 30000 }).catch(() => fail(`${what}: no ${sel} element appeared`));
      await page.waitForFunction((s) => { const el = document.querySelector(s); return el && el.dataset.state && el.dataset.state !== 'loading'; }, sel, { timeout: 30000 })
        .catch(() => fail(`${what}: still loading after 30 s`));
      const state = await page.getAttribute(sel, 'data-state');
      if (state === 'error') {
        const msg = await page.textContent(`${sel} [data-testid="error"]`).catch(() => '');
        fail(`${what}: the page shows an error: ${(msg || '').replace(/\s+/g, ' ').trim()}`);
      }
    };

    // 1. Overview: wait for devices, a rewarded epoch and a caught cheater.
    const resp = await page.goto(base + '#/', { waitUntil: 'domcontentloaded' }).catch((e) => fail(`cannot open ${base}: ${e.message}`));
    if (resp && !resp.ok()) fail(`GET ${base} answered HTTP ${resp.status()}`);
    await page.waitForSelector('[data-testid="overview"]').catch(() => fail('the overview page did not render (no [data-testid=overview])'));
    pass('overview page renders');
    const deadline = Date.now() + args.wait * 1000;
    let last = null, lastReload = Date.now(), lastReport = 0;
    for (;;) {
      last = await page.evaluate(() => {
        const ov = document.querySelector('[data-testid="overview"]');
        if (!ov) return null;
        const rewarded = [...document.querySelectorAll('[data-testid="overview-epoch"]')].filter((r) => parseFloat(r.dataset.emitted) > 0).length;
        return {
          state: ov.dataset.state || '', devices: Number(ov.dataset.devices || 0), rewarded,
          fraud: document.querySelectorAll('[data-testid="fraud-device"]').length,
          error: (document.querySelector('[data-testid="overview"] [data-testid="error"]') || {}).textContent || '',
          height: (document.getElementById('nav-height') || {}).textContent || '',
        };
      });
      if (last && last.devices > 0 && last.rewarded > 0 && last.fraud > 0) break;
      if (Date.now() > deadline) {
        const missing = !last ? ['the overview'] : [
          last.devices > 0 ? null : 'devices', last.rewarded > 0 ? null : 'a completed epoch with rewards', last.fraud > 0 ? null : 'a caught cheater (fraud list is empty)'].filter(Boolean);
        fail(`after ${args.wait} s the overview still lacks ${missing.join(', ')}` + (last && last.error ? ` (page error: ${last.error.trim()})` : '') + (last ? ` [height ${last.height}]` : ''));
      }
      if (Date.now() - lastReport > 15000) {
        lastReport = Date.now();
        console.log(`  waiting: height ${last ? last.height : '?'}, devices ${last ? last.devices : 0}, rewarded epochs ${last ? last.rewarded : 0}, caught devices ${last ? last.fraud : 0}`);
      }
      // The page refreshes itself every 5 s; reload now and then in case it got stuck.
      if (Date.now() - lastReload > 30000) { lastReload = Date.now(); await page.reload({ waitUntil: 'domcontentloaded' }); }
      await sleep(1000);
    }
    checkErrors();
    pass(`overview shows ${last.devices} devices, ${last.rewarded} rewarded epoch(s) and ${last.fraud} caught device link(s)`);
    await shot(page, 'overview.png');
    const fraudCandidates = await page.$$eval('[data-testid="fraud-device"]', (as) => as.map((a) => ({ href: a.getAttribute('href'), did: a.dataset.did, reason: a.dataset.reason || '' })));
    const rewardedEpoch = await page.$$eval('[data-testid="overview-epoch"]', (rs) => { const r = rs.find((x) => parseFloat(x.dataset.emitted) > 0); return r ? r.dataset.epoch : null; });

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const ppage = await phone.newPage();
    ppage.on('pageerror', (e) => pageErrors.push('phone: ' + String(e)));
    await ppage.goto(base + '#/', { waitUntil: 'domcontentloaded' });
    await ppage.waitForSelector('[data-testid="fraud-device"]', { timeout: 30000 }).catch(() => fail('phone overview: no fraud device links'));
    const overflow = await ppage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 4) fail(`phone overview is ${overflow}px wider than the screen (tables should scroll inside their box)`);
    if (!(await ppage.isVisible('#menu'))) fail('phone overview: the collapsed-menu button is not visible');
    if (await ppage.isVisible('#nav a[data-nav="map"]')) fail('phone overview: the nav should be collapsed');
    await ppage.screenshot({ path: join(outDir, 'overview-phone.png'), fullPage: false });
    await phone.close();
    pass('overview fits a 390x844 phone screen with a collapsed nav');

    // 2. Map: click a hexagon that has devices.
    await page.goto(base + '#/map', { waitUntil: 'domcontentloaded' });
    await waitReady('map', 'map');
    await page.waitForSelector('svg#map polygon[data-cell]', { timeout: 30000 }).catch(() => fail('map: no hexagons (svg#map polygon[data-cell]) were drawn'));
    await sleep(800); // let a resolution refetch settle
    const target = await page.evaluate(() => {
      const polys = [...document.querySelectorAll('svg#map polygon[data-cell]')].filter((p) => Number(p.dataset.devices || 0) > 0);
      polys.sort((a, b) => Number(b.dataset.devices) - Number(a.dataset.devices));
      for (const p of polys) {
        const r = p.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        if (r.width < 4 || x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
        const hit = document.elementFromPoint(x, y);
        if (hit === p) return { cell: p.dataset.cell, devices: Number(p.dataset.devices), x, y };
      }
      return polys.length ? { cell: null, count: polys.length } : null;
    });
    if (!target) fail('map: no hexagon has devices');
    if (!target.cell) fail(`map: ${target.count} hexagons have devices but none is visible and clickable`);
    await page.mouse.click(target.x, target.y);
    await page.waitForSelector('[data-testid="cell-devices"] a[data-did]', { timeout: 20000 })
      .catch(async () => fail(`map: clicking cell ${target.cell} did not list devices: ${((await page.textContent('[data-testid="cell-devices"]')) || '').replace(/\s+/g, ' ').slice(0, 300)}`));
    const panelText = await page.textContent('[data-testid="cell-devices"]');
    if (!panelText.includes(target.cell)) fail(`map: the side panel does not name the clicked cell ${target.cell}`);
    const listed = await page.$$eval('[data-testid="cell-devices"] a[data-did]', (as) => as.length);
    checkErrors();
    await shot(page, 'map.png', false);
    // zoom in with the + button and check the map still draws
    await page.click('button[aria-label="Zoom in"]');
    await sleep(600);
    if (!(await page.$('svg#map polygon[data-cell]'))) fail('map: hexagons vanished after zooming in');
    pass(`map: clicking hexagon ${target.cell} (${target.devices} devices) lists ${listed} device link(s)`);

    // 3. A dishonest device: last verdict invalid, reason code and plain words shown.
    const candidates = fraudCandidates.filter((c) => REASON_RE.test(c.reason)).concat(fraudCandidates.filter((c) => !REASON_RE.test(c.reason)));
    for (const status of ['failing', 'denylisted']) {
      await page.goto(base + `#/devices?status=${status}`, { waitUntil: 'domcontentloaded' });
      await waitReady('devices', `devices list (${status})`);
      const rows = await page.$$eval('[data-testid="devices"] tr[data-did]', (rs) => rs.map((r) => { const a = r.querySelector('a[data-did]'); return { did: r.dataset.did, reason: r.dataset.lastReason || '', href: a ? a.getAttribute('href') : null }; }));
      for (const r of rows) if (r.reason && r.href && !candidates.some((c) => c.did === r.did)) candidates.push(r);
    }
    if (!candidates.length) fail('no dishonest device found: the fraud list and the failing/denylisted device lists are empty');
    let found = null;
    const tried = [];
    for (const c of candidates.slice(0, 12)) {
      await page.goto(base + c.href, { waitUntil: 'domcontentloaded' });
      await waitReady('device', `device page ${c.did}`);
      const info = await page.evaluate(() => {
        const root = document.querySelector('[data-testid="device"]');
        const rows = [...root.querySelectorAll('tr[data-valid]')];
        // Verdicts are listed newest epoch first; the newest epoch's verdicts are the last ones.
        const lastEpoch = rows.length ? rows[0].dataset.epoch : null;
        const lastInvalid = rows.some((r) => r.dataset.epoch === lastEpoch && r.dataset.valid === 'false');
        const out = { verdicts: rows.length, lastEpoch, lastInvalid: lastInvalid || !!root.dataset.lastReason, reasons: [] };
        for (const el of root.querySelectorAll('tr[data-valid="false"] [data-testid="verdict-reason"]')) {
          const ex = el.closest('tr').querySelector('[data-testid="verdict-explanation"]');
          out.reasons.push({ code: el.textContent.trim(), explanation: ex ? ex.textContent.trim() : '' });
        }
        return out;
      });
      tried.push(`${c.did.slice(0, 20)}… (${info.verdicts} verdicts shown, newest epoch ${info.lastEpoch}, invalid there: ${info.lastInvalid})`);
      if (!info.lastInvalid) continue;
      const good = info.reasons.find((r) => REASON_RE.test(r.code) && r.explanation.length >= 10 && /\s/.test(r.explanation));
      if (good) { found = { ...c, ...good }; break; }
      tried[tried.length - 1] += ': no reason code with a plain-words explanation';
    }
    if (!found) fail(`no device page showed an invalid last verdict with a reason code and explanation; tried:\n  ${tried.join('\n  ')}`);
    const elig = await page.$$eval('[data-testid="eligibility"] li', (ls) => ls.length);
    if (!elig) fail('device page: the eligibility checklist is empty');
    if (!(await page.$('[data-testid="device"] svg.chart'))) fail('device page: no earnings chart');
    checkErrors();
    await shot(page, 'device.png');
    pass(`device ${found.did.slice(0, 24)}… shows reason ${found.code.match(REASON_RE)[0]}: "${found.explanation.slice(0, 70)}${found.explanation.length > 70 ? '…' : ''}"`);

    // 4. Epoch page and governance page.
    let epoch = rewardedEpoch;
    if (!epoch) {
      await page.goto(base + '#/epochs', { waitUntil: 'domcontentloaded' });
      await waitReady('epochs', 'epochs list');
      epoch = await page.$eval('[data-testid="epochs"] tr[data-epoch]', (r) => r.dataset.epoch).catch(() => fail('epochs list is empty'));
    }
    await page.goto(base + `#/epoch/${epoch}`, { waitUntil: 'domcontentloaded' });
    await waitReady('epoch', `epoch ${epoch}`);
    const epochText = await page.textContent('[data-testid="epoch"]');
    for (const want of ['Pools', 'Top earners', 'Reward manifest']) if (!epochText.includes(want)) fail(`epoch ${epoch}: no "${want}" section`);
    checkErrors();
    await shot(page, 'epoch.png');
    pass(`epoch ${epoch} page renders manifest, pools and top earners`);

    await page.goto(base + '#/governance', { waitUntil: 'domcontentloaded' });
    await waitReady('governance', 'governance');
    const govText = await page.textContent('[data-testid="governance"]');
    for (const want of ['Parameters', 'Proposals', 'Denylist']) if (!govText.includes(want)) fail(`governance: no "${want}" section`);
    checkErrors();
    await shot(page, 'governance.png');
    pass('governance page renders parameters, proposals and denylist');

    console.log(`all ${stepNo} checks passed; screenshots in ${outDir}`);
    await browser.close();
    return 0;
  } catch (e) {
    const msg = e instanceof Failure ? e.message : (e && e.stack) || String(e);
    console.error(`FAILED: ${msg}`);
    if (page) await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }).then(() => console.error(`saved ${join(outDir, 'failure.png')}`)).catch(() => {});
    await browser.close().catch(() => {});
    return 1;
  }
}

main().then((code) => process.exit(code), (e) => { console.error(`FAILED: ${e && e.message ? e.message : e}`); process.exit(1); });
