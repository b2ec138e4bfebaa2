// End-to-end journeys of the console and the public registry pages, in
// Debian's headless Chromium driven by playwright-core, against a real
// server on a freshly seeded database (run.sh sets CONSOLE_BASE and the
// tokens). Each page visited is screenshot into artifacts/ and checked
// with axe-core: no serious or critical violation. Any browser console
// error (a Content-Security-Policy refusal, a failed module) fails the
// journey.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.CONSOLE_BASE;
const tokens = {
  province: process.env.PROVINCE_TOKEN, maker: process.env.PROVINCE_MAKER_TOKEN, city: process.env.CITY_TOKEN,
  e1: process.env.ENTERPRISE_TOKEN, e2: process.env.ENTERPRISE_E2_TOKEN, verifier: process.env.VERIFIER_TOKEN, auditor: process.env.AUDITOR_TOKEN,
};
assert.ok(base, 'CONSOLE_BASE is not set: run console/e2e/run.sh');
for (const [k, v] of Object.entries(tokens)) assert.ok(v, `token ${k} is not set: run console/e2e/run.sh`);

const artifacts = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });
const run = Date.now().toString(36);

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
});
after(async () => {
  await browser?.close();
});

// journey opens a fresh browser context (its own sessionStorage) whose
// pages fail the test on any console error, and numbers its screenshots.
async function journey(name, lang = 'zh-CN') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: lang, timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  const errors = [];
  // A 4xx the API answered is shown on the page (a test may provoke one);
  // the browser also logs it, which is not an error of the page's.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  // Only the API may answer 4xx (a journey provokes some); a page, script,
  // stylesheet or icon that fails to load is an error.
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.origin === base && !u.pathname.startsWith('/v1/') && r.status() >= 400) errors.push(`${r.status()} ${u.pathname}`);
  });
  page.on('dialog', (d) => d.dismiss());
  let n = 0;
  const j = {
    page, context, errors,
    // look screenshots the page and runs axe on it.
    async look(what) {
      await page.waitForLoadState('networkidle');
      // Nothing still loading, and every chart drawn (uPlot draws on the
      // next animation frame).
      await page.waitForFunction(() => ![...document.querySelectorAll('main [role=status]')].some((e) => /加载中|Loading/.test(e.textContent)) &&
        [...document.querySelectorAll('figure.chart')].every((f) => f.querySelector('canvas')));
      const file = `${artifacts}${name}-${String(++n).padStart(2, '0')}-${what}.png`;
      await page.screenshot({ path: file, fullPage: true });
      await page.evaluate(axeSource);
      const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((x) => x.target.join(' ')).slice(0, 3).join(', ')}`), [],
        `axe on ${name}/${what}`);
      assert.deepEqual(errors, [], `browser console errors on ${name}/${what}`);
      // No label left in the API's snake_case where the page has words.
      const raw = await page.evaluate(() => [...document.querySelectorAll('main dt, main th, main label, main h2, main h3')]
        .map((e) => e.textContent.trim()).filter((s) => /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(s)));
      assert.deepEqual(raw, [], `untranslated labels on ${name}/${what}`);
    },
    async signIn(token) {
      await page.goto(base + '/console/#/signin');
      await page.fill('#token', token);
      await page.click('#signin-form button[type=submit]');
      await page.waitForSelector('#signout');
    },
    async signOut() {
      await page.click('#signout');
      await page.waitForSelector('#signin-form');
    },
    async close() {
      await context.close();
    },
  };
  if (lang === 'en') await page.addInitScript(() => localStorage.setItem('cl.lang', 'en'));
  return j;
}

// submitConfirmed submits form and confirms the dialog it opens.
async function submitConfirmed(page, form) {
  await form.locator('button[type=submit]').click();
  const dlg = page.locator('dialog.confirm[open]');
  await dlg.waitFor();
  await dlg.locator('button.danger').click();
}

async function api(method, path, token, body) {
  const headers = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
  if (method !== 'GET') headers['Idempotency-Key'] = `e2e-${run}-${Math.random().toString(36).slice(2)}`;
  const r = await fetch(base + path, { method, headers, body: method === 'GET' ? undefined : JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

describe('console', () => {
  test('the pages carry a strict Content-Security-Policy and refuse framing', async () => {
    for (const p of ['/console/', '/registry/', '/console/assets/console.js', '/console/vendor/uplot/uPlot.esm.js']) {
      const r = await fetch(base + p);
      assert.equal(r.status, 200, p);
      const csp = r.headers.get('content-security-policy');
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(r.headers.get('x-frame-options'), 'DENY');
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    }
    const missing = await fetch(base + '/console/assets/nope.js');
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type'), /application\/problem\+json/);
  });

  test('the province approves a source, stockpiles it and decides an application', async () => {
    // The city proposes the source through its own page.
    const enterprise = `e2e-works-${run}`;
    const city = await journey('city-source');
    await city.signIn(tokens.city);
    await city.page.goto(base + '/console/#/propose');
    await city.look('city-propose');
    const f = city.page.locator('form.action-form');
    await f.locator('input[name=enterprise]').fill(enterprise);
    await f.locator('select[name=route]').selectOption('closure');
    await f.locator('input[name=tonnes]').fill('3000');
    await f.locator('input[name=formed_on]').fill('2024-06-30');
    await f.locator('input[name=evidence_ref]').fill(`JN-E2E-${run}`);
    await f.locator('textarea[name=reason]').fill('closure of kiln line (e2e)');
    await f.locator('button[type=submit]').click();
    await city.page.waitForURL(/#\/sources\/[0-9a-f-]{36}$/);
    await city.page.waitForSelector('.badge-proposed');
    await city.look('city-source-proposed');
    await city.page.goto(base + '/console/#/sources');
    await city.look('city-sources');
    await city.close();

    const j = await journey('province-source');
    const { page } = j;
    await j.signIn(tokens.province);
    await page.waitForSelector('.inbox-cards .count');
    await page.waitForFunction(() => [...document.querySelectorAll('.inbox-cards .count')].every((e) => e.textContent !== '…'));
    await page.waitForSelector('figure.chart canvas');
    await j.look('dashboard');
    await page.click('a[href="#/sources"]');
    const row = page.locator('tr', { hasText: enterprise });
    await row.waitFor();
    await j.look('sources-inbox');
    await row.locator('a').first().click();
    await page.waitForSelector('.badge-proposed');
    await j.look('source-proposed');
    const approve = page.locator('form.action-form').first();
    await approve.locator('select[name=approve]').selectOption('true');
    await approve.locator('textarea[name=reason]').fill('evidence checked (e2e)');
    await submitConfirmed(page, approve);
    await page.waitForSelector('.badge-recognised');
    await j.look('source-recognised');
    const stock = page.locator('form.action-form').first();
    await stock.locator('textarea[name=reason]').fill('stockpile the closure (e2e)');
    await submitConfirmed(page, stock);
    await page.waitForSelector('td:has-text("收储入库")');
    assert.equal(await page.locator('form.action-form').count(), 0, 'nothing left to stockpile: no form');
    await j.look('source-stockpiled');

    // The application the city approved: the gap computation, then the decision.
    await page.click('nav a[href="#/applications"]');
    const app = page.locator('tr', { hasText: 'E2-COKE-1' });
    await app.waitFor();
    await j.look('applications-inbox');
    await app.locator('a').first().click();
    await page.waitForSelector('ol.gap');
    assert.match(await page.locator('ol.gap li').nth(1).innerText(), /= 缺口 10,000$/);
    await j.look('application-city-approved');
    const decide = page.locator('form.action-form').first();
    await decide.locator('select[name=approve]').selectOption('true');
    await decide.locator('input[name=draw_province]').fill('5000');
    await decide.locator('input[name=draw_city]').fill('5000');
    await decide.locator('textarea[name=reason]').fill('reallocation approved (e2e)');
    await submitConfirmed(page, decide);
    await page.waitForSelector('.badge-approved');
    await page.waitForSelector('text=来源追溯');
    // The draws landed: 5,000 from the province, 5,000 from Jinan.
    const drawn = await page.locator('section.card', { has: page.locator('h2', { hasText: /^已分配$/ }) }).locator('table').first().innerText();
    assert.match(drawn, /省级\s+5,000/);
    assert.match(drawn, /济南\s+5,000/);
    await j.look('application-approved');
    await j.close();
  });

  test('a checker approves the correction its maker could not', async () => {
    const j = await journey('maker-checker');
    const { page } = j;
    await j.signIn(tokens.maker);
    await page.click('nav a[href="#/corrections"]');
    await page.waitForURL(/#\/corrections$/);
    // The maker's inbox (pending: proposed by others) does not hold its own.
    await page.waitForSelector('main .empty');
    await j.look('corrections-inbox-maker');
    await page.selectOption('#status-filter', 'proposed');
    const row = page.locator('tbody tr').first();
    await row.waitFor();
    await row.locator('a').first().click();
    await page.waitForSelector('.badge-proposed');
    // The maker is told it may not check its own, and gets no form ...
    await page.waitForSelector('#maker-note');
    assert.match(await page.innerText('#maker-note'), /制单人不能复核自己的更正/);
    assert.equal(await page.locator('form.action-form').count(), 0);
    await j.look('maker-refused');
    // ... which the API would refuse anyway.
    const id = page.url().split('/').pop();
    const refused = await api('POST', `/v1/quota/corrections/${id}/approval`, tokens.maker, { approve: true, reason: 'my own (e2e)' });
    assert.equal(refused.json.code, 'maker_checker', JSON.stringify(refused.json));
    await j.signOut();

    await j.signIn(tokens.province);
    await page.click('nav a[href="#/corrections"]');
    await page.locator('tbody tr').first().waitFor();
    await page.locator('tbody tr a').first().click();
    await page.waitForSelector('.badge-proposed');
    const g = page.locator('form.action-form').first();
    await g.locator('select[name=approve]').selectOption('true');
    await g.locator('textarea[name=reason]').fill('survey report checked (e2e)');
    await submitConfirmed(page, g);
    await page.waitForSelector('.badge-applied');
    await j.look('checker-applied');
    await j.close();
  });

  test('an enterprise accepts a trade and retires units; the public page shows the certificate', async () => {
    const j = await journey('enterprise');
    const { page } = j;
    await j.signIn(tokens.e2);
    await page.click('nav a[href="#/trades"]');
    const offer = page.locator('tr', { hasText: '待接受' }).first();
    await offer.waitFor();
    await j.look('trades');
    await offer.locator('a').first().click();
    await page.waitForSelector('.badge-offered');
    await j.look('trade-offered');
    await submitConfirmed(page, page.locator('form.action-form').first());
    await page.waitForSelector('.badge-settled');
    await j.look('trade-settled');
    await page.click('nav a[href="#/holdings"]');
    await page.waitForSelector('td:has-text("CN37-SDCER")');
    await j.look('holdings');

    await page.click('nav a[href="#/retire"]');
    const f = page.locator('form.action-form');
    await f.waitFor();
    await j.look('retire-form');
    const beneficiary = `济南马拉松 e2e ${run}`;
    await f.locator('input[name=units]').fill('1');
    assert.equal(await f.locator('select[name=vintage] option').count(), 1);
    await f.locator('select[name=purpose]').selectOption('event_neutrality');
    await f.locator('input[name=beneficiary]').fill(beneficiary);
    await submitConfirmed(page, f);
    const certLink = page.locator('#certificate-link');
    await certLink.waitFor();
    // The page is drawn again from the holdings as they are now: E2 has
    // no unit left, so there is no form to click a second time.
    await page.waitForSelector('main .empty');
    assert.equal(await page.locator('form.action-form').count(), 0);
    await j.look('retired');
    await certLink.click();
    await page.waitForSelector('#certificate');
    assert.match(await page.locator('#certificate').innerText(), new RegExp(beneficiary));
    const serial = (await page.locator('#certificate dd.mono').nth(1).innerText()).split(',')[0].trim();
    await j.look('certificate');
    await page.emulateMedia({ media: 'print' });
    await page.screenshot({ path: `${artifacts}enterprise-print-certificate.png`, fullPage: true });
    assert.equal(await page.locator('header.top').isVisible(), false, 'the print stylesheet hides the header');
    assert.equal(await page.locator('main > h1').isVisible(), false, 'and the page heading the certificate repeats');
    await page.emulateMedia({ media: 'screen' });
    await j.close();

    // Anyone, with no token, finds it by a serial number.
    const pub = await journey('public');
    await pub.page.goto(base + '/registry/');
    await pub.page.waitForSelector('#lookup');
    await pub.look('registry-home');
    await pub.page.fill('#lookup', serial);
    await pub.page.click('form.lookup button[type=submit]');
    await pub.page.waitForSelector('#certificate');
    assert.match(await pub.page.locator('#certificate').innerText(), new RegExp(beneficiary));
    await pub.look('certificate-by-serial');
    await pub.page.goto(base + '/registry/#/lookup/CN37-SDCER-07-0001-999999-999999-2026');
    await pub.page.waitForSelector('text=没有找到这张证书');
    await pub.look('certificate-not-found');
    await pub.close();
  });

  test('the language switch turns every word to English and back, and is remembered', async () => {
    const j = await journey('language');
    const { page } = j;
    await page.goto(base + '/registry/');
    await page.waitForSelector('h1');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.innerText('h1'), '公共登记簿');
    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    assert.equal(await page.innerText('h1'), 'Public registry');
    await j.look('registry-en');
    await page.reload();
    await page.waitForSelector('h1');
    assert.equal(await page.innerText('h1'), 'Public registry', 'the choice survives a reload');
    // Every problem code of the contract has words in both languages.
    const doc = await (await fetch(base + '/openapi.json')).json();
    const codes = doc.components.schemas.Problem.properties.code.enum;
    const missing = await page.evaluate(async (cs) => {
      const m = await import('/console/assets/i18n.js');
      const out = [];
      for (const l of ['zh-CN', 'en']) {
        m.setLang(l);
        out.push(...cs.filter((c) => !m.problemText(c)).map((c) => `${l}:${c}`));
      }
      m.setLang('en');
      return out;
    }, codes);
    assert.deepEqual(missing, [], 'problem codes without words');
    await j.signIn(tokens.province);
    await page.waitForSelector('.inbox-cards');
    assert.equal(await page.innerText('h1'), 'Dashboard');
    await j.look('dashboard-en');
    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
    assert.equal(await page.innerText('h1'), '总览');
    await j.close();
  });

  test('an invalid form shows the API\'s problem in the page\'s language; a double submission posts once; a lost answer is retried under its key', async () => {
    const j = await journey('forms');
    const { page } = j;
    await j.signIn(tokens.city);
    await page.goto(base + '/console/#/propose');
    const f = page.locator('form.action-form');
    await f.waitFor();
    await f.locator('input[name=enterprise]').fill(`e2e-bad-${run}`);
    await f.locator('input[name=tonnes]').fill('lots');
    await f.locator('input[name=formed_on]').fill('2024-06-30');
    await f.locator('input[name=evidence_ref]').fill('X');
    await f.locator('button[type=submit]').click();
    const problem = f.locator('.problem');
    await problem.waitFor();
    const text = await problem.innerText();
    assert.match(text, /code: (invalid_request|invalid_amount)/);
    assert.match(text, /tonnes/);
    assert.equal(await f.locator('input[name=tonnes]').getAttribute('aria-invalid'), 'true', 'the field the API names is marked');
    await j.look('invalid-form');

    // A double click on a form that writes: one request, one source.
    const enterprise = `e2e-double-${run}`;
    await f.locator('input[name=enterprise]').fill(enterprise);
    await f.locator('input[name=tonnes]').fill('1200');
    await f.locator('input[name=evidence_ref]').fill(`JN-E2E-D-${run}`);
    const posts = [];
    page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1/quota/sources')) posts.push(r.headers()['idempotency-key']); });
    await f.locator('button[type=submit]').dblclick();
    await page.waitForURL(/#\/sources\/[0-9a-f-]{36}$/);
    await page.waitForSelector('.badge-proposed');
    assert.equal(posts.length, 1, `POSTs sent: ${posts.length}`);
    const listed = await api('GET', `/v1/quota/sources?enterprise=${encodeURIComponent(enterprise)}`, tokens.city);
    assert.equal(listed.json.items.length, 1, 'the double click made one source');

    // An unknown outcome: the request reaches the server and commits, but
    // its answer is lost. After a reload, submitting the same entry again
    // sends the same key, and the server replays rather than posts twice.
    const lost = `e2e-lost-${run}`;
    await page.goto(base + '/console/#/propose');
    const g = page.locator('form.action-form');
    const fill = async () => {
      await g.locator('input[name=enterprise]').fill(lost);
      await g.locator('input[name=tonnes]').fill('1300');
      await g.locator('input[name=formed_on]').fill('2024-06-30');
      await g.locator('input[name=evidence_ref]').fill(`JN-E2E-L-${run}`);
    };
    await fill();
    const keys = [];
    await page.route('**/v1/quota/sources', async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      await route.fetch(); // the server commits ...
      await route.abort('connectionreset'); // ... and the browser never hears
    });
    await g.locator('button[type=submit]').click();
    await g.locator('.problem').waitFor();
    assert.match(await g.locator('.problem').innerText(), /无法连接服务器/);
    await page.unroute('**/v1/quota/sources');
    page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1/quota/sources')) keys.push(r.headers()['idempotency-key']); });
    await page.reload();
    await g.waitFor();
    await fill();
    const replay = page.waitForResponse((r) => r.url().endsWith('/v1/quota/sources') && r.request().method() === 'POST');
    await g.locator('button[type=submit]').click();
    const answer = await replay;
    assert.equal(answer.headers()['idempotent-replayed'], 'true', 'the second submission is a replay');
    await page.waitForURL(/#\/sources\/[0-9a-f-]{36}$/);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'the same key after an unknown outcome');
    const once = await api('GET', `/v1/quota/sources?enterprise=${encodeURIComponent(lost)}`, tokens.city);
    assert.equal(once.json.items.length, 1, 'a lost answer and a retry made one source');
    // A new submission afterwards gets a new key.
    await page.goto(base + '/console/#/propose');
    await g.waitFor();
    await g.locator('input[name=enterprise]').fill(`e2e-after-${run}`);
    await g.locator('input[name=tonnes]').fill('1400');
    await g.locator('input[name=formed_on]').fill('2024-06-30');
    await g.locator('input[name=evidence_ref]').fill(`JN-E2E-A-${run}`);
    await g.locator('button[type=submit]').click();
    await page.waitForURL(/#\/sources\/[0-9a-f-]{36}$/);
    assert.equal(keys.length, 3);
    assert.notEqual(keys[2], keys[0], 'a fresh key for a new submission');
    await j.close();
  });

  test('signing in through the identity provider: OIDC code flow with PKCE', async () => {
    const j = await journey('oidc');
    const { page } = j;
    await page.goto(base + '/console/');
    await page.waitForSelector('#oidc-signin');
    await j.look('signin');
    await page.click('#oidc-signin');
    // The provider answers at once (a live session); the page exchanges
    // the code with its verifier and keeps the token in sessionStorage.
    await page.waitForSelector('#signout');
    assert.doesNotMatch(page.url(), /[?&](code|state)=/, 'the code left the address bar');
    assert.match(await page.innerText('#who'), /oidc-auditor/);
    await page.waitForSelector('.inbox-cards');
    await page.waitForFunction(() => [...document.querySelectorAll('.inbox-cards .count')].every((e) => e.textContent !== '…'));
    assert.equal(await page.locator('.inbox-cards .count', { hasText: '—' }).count(), 0, 'the API accepted the provider\'s token');
    await j.look('dashboard');
    assert.ok(await page.evaluate(() => sessionStorage.getItem('cl.token')), 'token in sessionStorage');
    assert.deepEqual(await j.context.cookies(base), [], 'no cookie');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cl.oidc')), null, 'the verifier is gone');
    // An answer this tab did not ask for is refused and signs no one in.
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(base + '/console/?code=forged&state=forged#/dashboard');
    await page.waitForSelector('#oidc-failure');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cl.token')), null);
    await j.look('forged-answer');
    await j.close();
  });

  test('the province unfreezes a frozen holding from its inbox', async () => {
    const frozen = await api('POST', '/v1/holders/E1/freeze', tokens.province, { decision_ref: `SDEE-E2E-${run}`, reason: 'inquiry (e2e)' });
    assert.equal(frozen.status, 201, JSON.stringify(frozen.json));
    const j = await journey('frozen');
    const { page } = j;
    await j.signIn(tokens.province);
    await page.waitForSelector('.inbox-cards');
    await page.waitForFunction(() => document.querySelector('a[href="#/frozen"] .count')?.textContent === '1');
    await page.click('a[href="#/frozen"] .count');
    const row = page.locator('tr', { hasText: 'holder:E1:SDCER' });
    await row.waitFor();
    await j.look('frozen-inbox');
    await row.locator('input[name=decision_ref]').fill(`SDEE-E2E-U-${run}`);
    await row.locator('input[name=reason]').fill('inquiry closed (e2e)');
    await submitConfirmed(page, row.locator('form'));
    await page.waitForSelector('main .empty');
    await j.look('frozen-none');
    const holder = await api('GET', '/v1/accounts/holder:E1:SDCER', tokens.province);
    assert.equal(holder.json.status, 'active');
    await j.close();
  });

  test('the auditor sees the province\'s pages with no actions; the verifier its batches', async () => {
    const j = await journey('roles');
    const { page } = j;
    await j.signIn(tokens.auditor);
    await page.waitForSelector('.inbox-cards');
    await page.waitForSelector('figure.chart canvas');
    await j.look('auditor-dashboard');
    for (const [href, what] of [['#/certifications', 'auditor-certifications'], ['#/government', 'auditor-government'], ['#/frozen', 'auditor-frozen']]) {
      await page.goto(base + '/console/' + href);
      await page.waitForSelector('main table, main .empty');
      await j.look(what);
    }
    await page.goto(base + '/console/#/applications');
    await page.selectOption('#status-filter', 'approved');
    await page.locator('tbody tr a').first().click();
    await page.waitForSelector('.badge-approved');
    await page.waitForSelector('text=审计角色只读');
    assert.equal(await page.locator('form.action-form').count(), 0, 'an auditor gets no action forms');
    await j.look('auditor-application');
    await j.signOut();

    await j.signIn(tokens.verifier);
    await page.waitForSelector('main table, main .empty');
    await j.look('verifier-assigned');
    await page.selectOption('#status-filter', 'issued');
    await page.locator('tbody tr a').first().click();
    await page.waitForSelector('.badge-issued');
    await j.look('verifier-batch');
    await j.close();
  });
});
