// The public registry pages (no token): look up a retirement certificate
// by its id or a serial number and print it; the registry's statistics;
// certification batches under public notice; the latest signed journal
// checkpoint. Every call is anonymous, as anyone's would be.

import { ApiError, get } from './api.js';
import { amount, applyLang, lang, setLang, t, tOr, when } from './i18n.js';
import { bars } from './charts.js';
import { clear, details, h, loading, problemView, section, table } from './ui.js';

const main = document.getElementById('main');
const anon = { anonymous: true };
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function page(title, ...children) {
  document.title = `${title} · ${t('app.registry')}`;
  clear(main, h('h1', {}, title), children);
}

function lookupForm(initial = '') {
  const input = h('input', { id: 'lookup', name: 'lookup', type: 'text', required: true, value: initial, autocomplete: 'off', maxlength: 100, placeholder: 'CN37-SDCER-07-0001-1-1-2026' });
  const f = h('form', { class: 'lookup', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'lookup' }, t('field.lookup')), input),
    h('button', { type: 'submit' }, t('reg.lookup.submit')));
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (v) location.hash = '#/lookup/' + encodeURIComponent(v);
  });
  return f;
}

function home() {
  const stats = h('div');
  const notice = h('div');
  const checkpoint = h('div');
  const recent = h('div');
  page(t('app.registry'), section(t('reg.lookup'), h('p', {}, t('reg.lookup.intro')), lookupForm()),
    h('div', { class: 'grid2' }, section(t('reg.stats'), stats), section(t('reg.checkpoint'), checkpoint)),
    section(t('reg.notice'), notice), section(t('reg.recent'), recent));
  loading(stats, async () => {
    const s = await get('/v1/registry/stats', {}, anon);
    const rows = s.by_vintage_and_methodology;
    return [details(s.totals), rows.length ? bars(rows.map((r) => `${r.vintage}`), [
      { label: t('field.held'), values: rows.map((r) => Number(r.held)) },
      { label: t('field.retired'), values: rows.map((r) => Number(r.retired)) },
    ], { title: t('reg.stats') }) : null,
    table(['vintage', 'methodology', 'issued', 'held', 'retired', 'cancelled', 'surrendered'], rows), h('p', { class: 'muted' }, when(s.as_of))];
  });
  loading(notice, async () => {
    const res = await get('/v1/certifications', { limit: 50 }, anon);
    return table(['operator', 'methodology', 'period', 'vintage', 'captured_grams', 'notice_ends_at'], res.items);
  });
  loading(checkpoint, async () => {
    try {
      const c = await get('/v1/public/checkpoints/latest', {}, anon);
      return [h('dl', {},
        h('dt', {}, '#'), h('dd', {}, String(c.number)),
        h('dt', {}, t('field.signed_at')), h('dd', {}, when(c.taken_at)),
        h('dt', {}, t('field.kid')), h('dd', { class: 'mono' }, `${c.kid} (${c.alg})`),
        h('dt', {}, t('field.chain_root')), h('dd', { class: 'mono' }, c.statement.chain_root),
        h('dt', {}, t('field.postings')), h('dd', {}, amount(String(c.statement.postings)))),
      h('p', { class: 'muted' }, h('a', { href: '/v1/public/checkpoints/latest' }, 'JSON'), ' · ', h('a', { href: '/.well-known/jwks.json' }, 'JWKS'))];
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return h('p', { class: 'empty' }, t('reg.checkpoint.none'));
      throw e;
    }
  });
  loading(recent, async () => {
    const res = await get('/v1/retirements', { limit: 10 }, anon);
    return table([{ field: 'id', render: (r) => h('a', { href: `#/certificates/${r.id}` }, r.id.slice(0, 8) + '…') },
      'holder', 'beneficiary', 'purpose', 'vintage', 'tonnes', 'retired_at'], res.items);
  });
}

// lookup finds a certificate by id, or by a serial number any of its
// blocks holds.
async function lookup(q) {
  const el = h('div');
  page(t('reg.lookup'), lookupForm(q), el);
  loading(el, async () => {
    if (uuidRe.test(q)) {
      location.replace(`#/certificates/${q}`);
      return [];
    }
    const res = await get('/v1/retirements', { serial: q, limit: 10 }, anon);
    if (!res.items.length) return h('p', { class: 'empty', role: 'status' }, t('reg.notfound'));
    if (res.items.length === 1) {
      location.replace(`#/certificates/${res.items[0].id}`);
      return [];
    }
    return table([{ field: 'id', render: (r) => h('a', { href: `#/certificates/${r.id}` }, r.id) }, 'holder', 'beneficiary', 'tonnes', 'serials', 'retired_at'], res.items);
  });
}

function certificate(id) {
  const el = h('div');
  page(t('reg.certificate'), el);
  loading(el, async () => {
    let c;
    try {
      c = await get(`/v1/retirements/${encodeURIComponent(id)}`, {}, anon);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.code === 'invalid_request')) return [problemView(e), h('p', {}, t('reg.notfound'))];
      throw e;
    }
    const print = h('button', { type: 'button', class: 'no-print', id: 'print' }, t('common.print'));
    print.addEventListener('click', () => window.print());
    return [h('article', { class: 'certificate', id: 'certificate' },
      h('h2', {}, t('reg.certificate')),
      h('p', { class: 'statement' }, t('reg.certificate.body', { holder: c.holder, beneficiary: c.beneficiary, tonnes: amount(c.tonnes), vintage: c.vintage, purpose: tOr('purpose', c.purpose) })),
      h('dl', {},
        h('dt', {}, t('field.id')), h('dd', { class: 'mono' }, c.id),
        h('dt', {}, t('field.serials')), h('dd', { class: 'mono' }, c.serials.join(', ')),
        h('dt', {}, t('field.retired_at')), h('dd', {}, when(c.retired_at)),
        c.note ? [h('dt', {}, t('field.note')), h('dd', {}, c.note)] : null,
        h('dt', {}, t('field.transaction_id')), h('dd', { class: 'mono' }, c.transaction_id)),
      h('p', { class: 'verify-note' }, `${location.origin}/registry/#/certificates/${c.id}`)),
    h('div', { class: 'buttons' }, print, h('a', { href: '#/', class: 'no-print' }, '← ' + t('app.registry')))];
  });
}

function route() {
  applyLang();
  const btn = document.getElementById('lang');
  btn.textContent = t('lang.switch');
  btn.lang = lang() === 'en' ? 'zh-CN' : 'en';
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const arg = decodeURIComponent(rest.join('/'));
  if (name === 'certificates' && arg) certificate(arg);
  else if (name === 'lookup' && arg) lookup(arg);
  else home();
}

document.getElementById('lang').addEventListener('click', () => {
  setLang(lang() === 'en' ? 'zh-CN' : 'en');
  route();
});
window.addEventListener('hashchange', route);
route();
