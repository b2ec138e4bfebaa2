// The provincial office's console: pages per role over the public API.
// Routes are the URL's fragment (#/sources/ID), so the token never
// travels in a URL and the server serves one page.

import { ApiError, claims, get, setToken, token } from './api.js';
import { amount, applyLang, count, lang, setLang, t, tOr } from './i18n.js';
import { bars, lines } from './charts.js';
import { begin, complete, loadConfig } from './oidc.js';
import {
  clear, cityOptions, details, form, h, link, loading, pagedList, problemView, section, show, statusBadge, table, trail,
} from './ui.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// What each role sees in its menu: [route, label key]. Auditors see the
// province's pages with no actions.
const menus = {
  province: [['dashboard', 'nav.dashboard'], ['sources', 'nav.sources'], ['applications', 'nav.applications'], ['government', 'nav.government'],
    ['certifications', 'nav.certifications'], ['corrections', 'nav.corrections'], ['frozen', 'nav.frozen']],
  city: [['sources', 'nav.sources'], ['applications', 'nav.applications'], ['propose', 'nav.propose']],
  enterprise: [['holdings', 'nav.holdings'], ['trades', 'nav.trades'], ['retire', 'nav.retire'], ['retirements', 'nav.retirements']],
  verifier: [['assigned', 'nav.assigned']],
};
menus.auditor = menus.province;

const me = () => claims() || {};
// principal is the caller as the API names actors (trail, proposed_by)
// for this service's own tokens: role:sub, then @org: or @city:.
const principal = () => {
  const c = me();
  return `${c.role}:${c.sub}${c.org ? '@org:' + c.org : c.city ? '@city:' + c.city : ''}`;
};
const role = () => me().role || '';
const canAct = (...roles) => roles.includes(role());
const idLink = (base) => ({ field: 'id', render: (r) => link(`#/${base}/${r.id}`, r.id.slice(0, 8) + '…') });
const statusCol = (f = 'status') => ({ field: f, render: (r) => statusBadge(r[f]) });

function renderShell() {
  applyLang();
  const c = me();
  const langBtn = document.getElementById('lang');
  langBtn.textContent = t('lang.switch');
  langBtn.lang = lang() === 'en' ? 'zh-CN' : 'en';
  if (!token() || !c.role) {
    clear(nav);
    clear(who);
    return;
  }
  const scope = c.org ? ` · ${c.org}` : c.city ? ` · ${tOr('city', c.city)}` : '';
  clear(who, t('signin.as', { who: `${tOr('role', c.role)} ${c.sub}${scope}` }), ' ',
    h('button', { type: 'button', class: 'link', id: 'signout', onclick: () => { setToken(''); location.hash = '#/signin'; } }, t('nav.signout')));
  const current = (location.hash.slice(2) || '').split('/')[0];
  nav.setAttribute('aria-label', t('nav.menu'));
  clear(nav, h('ul', {}, (menus[c.role] || []).map(([r, k]) => h('li', {}, h('a', { href: '#/' + r, 'aria-current': current === r ? 'page' : null }, t(k)))),
    h('li', {}, h('a', { href: '/registry/' }, t('nav.registry')))));
}

function page(title, ...children) {
  document.title = `${title} · ${t('app.title')}`;
  clear(main, h('h1', {}, title), children);
  main.focus();
}

// --- sign in ---------------------------------------------------------

function signin(failure) {
  const sso = oidc ? h('div', { class: 'card' },
    h('button', { type: 'button', id: 'oidc-signin', onclick: () => begin(oidc).catch((e) => signin(e.message)) }, t('signin.oidc', { name: oidc.name || t('signin.idp') }))) : null;
  const input = h('textarea', { id: 'token', name: 'token', rows: 5, required: true, autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', { 'aria-live': 'polite' });
  const f = h('form', { class: 'action-form', id: 'signin-form' },
    h('div', { class: 'field' }, h('label', { for: 'token' }, t('signin.token')), input),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, t('signin.submit'))), out);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    const tok = input.value.trim();
    if (!claims(tok)) {
      clear(out, h('div', { class: 'problem', role: 'alert' }, t('signin.bad')));
      return;
    }
    setToken(tok);
    try {
      // Any route every role may read proves the token to the API.
      await get('/v1/indices');
    } catch (err) {
      setToken('');
      clear(out, problemView(err));
      return;
    }
    go(wanted || '#/' + (menus[claims(tok).role] || [['none']])[0][0]);
    wanted = '';
  });
  page(t('signin.title'), failure ? h('div', { class: 'problem', role: 'alert', id: 'oidc-failure' }, h('strong', {}, t('signin.oidc.failed')), h('p', {}, failure)) : null,
    sso, h('p', { class: 'intro' }, t('signin.intro')), f);
}

// --- dashboard -------------------------------------------------------

async function inboxCount(path, query, keep = () => true) {
  const res = await get(path, { ...query, limit: 100 });
  const n = (res.items || []).filter(keep).length;
  return res.next_cursor ? `${count(n)}+` : count(n);
}

function dashboard() {
  const inbox = [
    ['inbox.sources', '#/sources', '/v1/quota/sources', { status: 'proposed' }],
    ['inbox.applications', '#/applications', '/v1/quota/applications', { status: 'city_approved' }],
    ['inbox.government', '#/government', '/v1/quota/applications', { status: 'awaiting_government' }],
    ['inbox.assign', '#/certifications', '/v1/certifications', { status: 'submitted' }, (b) => !b.verifier],
    ['inbox.issue', '#/certifications/verified', '/v1/certifications', { status: 'verified' }],
    ['inbox.corrections', '#/corrections', '/v1/quota/corrections', { status: 'pending' }],
    ['inbox.frozen', '#/frozen', '/v1/accounts', { owner_type: 'holder', status: 'frozen' }],
  ];
  const cards = h('ul', { class: 'inbox-cards' }, inbox.map(([k, href, path, q, keep]) => {
    const n = h('span', { class: 'count' }, '…');
    inboxCount(path, q, keep).then((v) => { n.textContent = v; }, () => { n.textContent = '—'; });
    return h('li', {}, h('a', { href }, n, h('span', {}, t(k))));
  }));
  const reserves = h('div');
  const flows = h('div');
  const pts = h('div');
  const vintage = h('div');
  page(t('nav.dashboard'), section(t('dash.inbox'), cards),
    h('div', { class: 'grid2' }, section(t('dash.reserves'), reserves), section(t('dash.flows'), flows)),
    h('div', { class: 'grid2' }, section(t('dash.points'), pts), section(t('dash.vintage'), vintage)));

  loading(reserves, async () => {
    const res = await get('/v1/quota/reserves');
    const rows = res.rows.filter((r) => r.reserve === 'province' || r.stockpiled !== '0' || r.in_reserve !== '0' || r.transferred_in !== '0');
    const labels = rows.map((r) => tOr('city', r.reserve));
    return [bars(labels, [
      { label: t('field.in_reserve'), values: rows.map((r) => Number(r.in_reserve)) },
      { label: t('field.allocated'), values: rows.map((r) => Number(r.allocated)) },
      { label: t('field.consumed'), values: rows.map((r) => Number(r.consumed)) },
    ], { title: t('dash.reserves') }), table(['reserve', 'in_reserve', 'allocated', 'consumed', 'stockpiled'], rows)];
  });
  loading(flows, async () => {
    const res = await get('/v1/quota/report', { level: 'flows', period: 'month' });
    const byFlow = {};
    const periods = [...new Set(res.rows.map((r) => r.period))].sort();
    for (const r of res.rows) {
      byFlow[r.flow] ??= Object.fromEntries(periods.map((p) => [p, 0]));
      byFlow[r.flow][r.period] += Number(r.tonnes);
    }
    const flowsShown = Object.keys(byFlow);
    if (!periods.length) return h('p', { class: 'empty' }, t('common.empty'));
    return [bars(periods, flowsShown.map((f) => ({ label: tOr('flow', f), values: periods.map((p) => byFlow[f][p]) })), { title: t('dash.flows') }),
      table(['period', 'flow', 'reserve', 'source_city', 'movements', 'tonnes'], res.rows)];
  });
  loading(pts, async () => {
    const res = await get('/v1/points/stats', { group: 'day' });
    const measures = ['credited', 'claimed', 'redeemed', 'lapsed'];
    const days = [...new Set(res.rows.map((r) => r.period))].sort();
    if (!days.length) return h('p', { class: 'empty' }, t('common.empty'));
    const sum = (d, m) => res.rows.filter((r) => r.period === d && r.measure === m).reduce((a, r) => a + Number(r.points), 0);
    return [lines(days, measures.map((m) => ({ label: tOr('measure', m), values: days.map((d) => sum(d, m)) })), { title: t('dash.points') }),
      table(['period', 'operator', 'measure', 'points', 'records'], res.rows)];
  });
  loading(vintage, async () => {
    const res = await get('/v1/registry/stats', {}, { anonymous: true });
    const rows = res.by_vintage_and_methodology;
    return [bars(rows.map((r) => `${r.vintage} ${r.methodology}`), [
      { label: t('field.held'), values: rows.map((r) => Number(r.held)) },
      { label: t('field.retired'), values: rows.map((r) => Number(r.retired)) },
    ], { title: t('dash.vintage') }), table(['vintage', 'methodology', 'issued', 'held', 'reserved', 'retired', 'cancelled', 'surrendered'], rows)];
  });
}

// --- index sources ---------------------------------------------------

function sources() {
  const isCity = role() === 'city';
  const status = h('select', { id: 'status-filter', 'aria-label': t('field.status') },
    ['proposed', 'recognised', 'rejected'].map((s) => h('option', { value: s }, tOr('status', s))));
  const list = h('div');
  const load = () => clear(list, pagedList('/v1/quota/sources', { status: status.value }, [idLink('sources'), 'city', 'enterprise', 'route', 'tonnes', 'formed_on', statusCol(), 'proposed_at']));
  status.addEventListener('change', load);
  page(isCity ? t('inbox.city_sources') : t('inbox.sources'), h('div', { class: 'filters' }, h('label', { for: 'status-filter' }, t('field.status')), status), list);
  load();
}

function sourceDetail(id) {
  page(t('nav.sources'), h('p', {}, link('#/sources', '← ' + t('common.back'))), h('div', { id: 'detail' }));
  const el = document.getElementById('detail');
  loading(el, async () => {
    const s = await get(`/v1/quota/sources/${encodeURIComponent(id)}`);
    const actions = [];
    if (canAct('province') && s.status === 'proposed') {
      actions.push(form({
        title: t('act.approve_source'), path: `/v1/quota/sources/${s.id}/approval`,
        fields: [approveField(), { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => ({ approve: v.approve === 'true', reason: v.reason }),
        confirm: (v) => `${v.approve === 'true' ? t('common.approve') : t('common.reject')}: ${s.enterprise} · ${amount(s.tonnes)} t`,
        onDone: () => sourceDetail(id),
      }));
    }
    if (canAct('province') && s.status === 'recognised' && s.unstockpiled !== '0') {
      // Without tonnes the API stockpiles what is not stockpiled yet.
      actions.push(form({
        title: t('act.stockpile'), path: '/v1/quota/stockpilings',
        fields: [{ name: 'tonnes', type: 'number', hint: `${t('field.unstockpiled')}: ${amount(s.unstockpiled)} t` }, { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => ({ source_id: s.id, index_kind: s.index_kind, reason: v.reason, ...(v.tonnes ? { tonnes: v.tonnes } : {}) }),
        confirm: (v) => `${t('act.stockpile')}: ${amount(v.tonnes || s.unstockpiled)} t`,
        onDone: () => sourceDetail(id),
      }));
    }
    return [section(`${s.enterprise} · ${tOr('route', s.route)}`, statusBadge(s.status), details(s, { skip: ['trail'] })),
      section(t('common.trail'), trail(s.trail || [])), actionsBox(actions)];
  });
}

function approveField() {
  return { name: 'approve', label: t('field.approve'), type: 'select', options: [['true', t('common.approve')], ['false', t('common.reject')]] };
}

function actionsBox(forms) {
  if (role() === 'auditor') return h('p', { class: 'muted' }, t('common.readonly'));
  if (!forms.length) return null;
  return section(t('common.actions'), forms);
}

function propose() {
  page(t('act.propose_source'), form({
    path: '/v1/quota/sources',
    fields: [
      { name: 'enterprise', required: true },
      { name: 'route', type: 'select', options: ['closure', 'production_switch', 'backward_elimination', 'excess_capacity_cut', 'relocation', 'nuclear_replacement', 'key_reduction_work', 'other'].map((r) => [r, tOr('route', r)]) },
      { name: 'tonnes', type: 'number', required: true },
      { name: 'formed_on', required: true, placeholder: '2024-06-30' },
      { name: 'evidence_ref', required: true },
      { name: 'verification_ref' },
      { name: 'reason', type: 'textarea' },
    ],
    body: (v) => ({ city: me().city, enterprise: v.enterprise, route: v.route, tonnes: v.tonnes, formed_on: v.formed_on, evidence_ref: v.evidence_ref, verification_ref: v.verification_ref || undefined, reason: v.reason || undefined }),
    onDone: (s) => { location.hash = `#/sources/${s.id}`; },
  }));
}

// --- applications ----------------------------------------------------

function applications(fixed) {
  const isCity = role() === 'city';
  const statuses = ['submitted', 'city_approved', 'awaiting_government', 'government_approved', 'approved', 'rejected'];
  const initial = fixed || (isCity ? 'submitted' : 'city_approved');
  const status = h('select', { id: 'status-filter', 'aria-label': t('field.status') }, statuses.map((s) => h('option', { value: s, selected: s === initial }, tOr('status', s))));
  const list = h('div');
  const load = () => clear(list, pagedList('/v1/quota/applications', { status: status.value },
    [idLink('applications'), 'project', 'enterprise', 'city', 'sector', 'required', 'own_sources', 'gap', 'requested', statusCol()]));
  status.addEventListener('change', load);
  const title = fixed === 'awaiting_government' ? t('inbox.government') : isCity ? t('inbox.city_review') : t('inbox.applications');
  page(title, fixed ? null : h('div', { class: 'filters' }, h('label', { for: 'status-filter' }, t('field.status')), status), list);
  load();
}

// gap shows how the application's figures follow from each other, as the
// API computed them.
function gap(a) {
  return h('ol', { class: 'gap' },
    h('li', {}, `${t('field.emissions')} ${amount(a.emissions)} × ${t('field.coefficient')} ${a.coefficient} = ${t('field.required')} ${amount(a.required)}`),
    h('li', {}, `${t('field.required')} ${amount(a.required)} − ${t('field.own_sources')} ${amount(a.own_sources)} = ${t('field.gap')} ${amount(a.gap)}`),
    h('li', {}, `${t('field.requested')} ${amount(a.requested)}${a.threshold ? ` · ${t('field.threshold')} ${amount(a.threshold)}` : ''}`));
}

function applicationDetail(id) {
  page(t('nav.applications'), h('p', {}, link('#/applications', '← ' + t('common.back'))), h('div', { id: 'detail' }));
  const el = document.getElementById('detail');
  loading(el, async () => {
    const a = await get(`/v1/quota/applications/${encodeURIComponent(id)}`);
    const again = () => applicationDetail(id);
    const actions = [];
    if (canAct('city') && a.status === 'submitted') {
      actions.push(form({
        title: t('act.review'), path: `/v1/quota/applications/${a.id}/review`,
        fields: [approveField(), { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => ({ approve: v.approve === 'true', reason: v.reason }),
        confirm: (v) => `${t('act.review')}: ${v.approve === 'true' ? t('common.approve') : t('common.reject')} · ${a.project}`, onDone: again,
      }));
    }
    if (canAct('province') && (a.status === 'city_approved' || a.status === 'government_approved')) {
      actions.push(form({
        title: t('act.decide'), path: `/v1/quota/applications/${a.id}/decision`,
        fields: [approveField(),
          { name: 'draw_province', label: `${t('field.draws')}: ${t('city.province')}`, type: 'number', value: '' },
          { name: 'draw_city', label: `${t('field.draws')}: ${tOr('city', a.city)}`, type: 'number', value: '' },
          { name: 'paid', type: 'checkbox', label: t('field.paid') },
          { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => {
          const draws = [];
          if (v.draw_province) draws.push({ reserve: 'province', tonnes: v.draw_province });
          if (v.draw_city) draws.push({ reserve: a.city, tonnes: v.draw_city });
          return v.approve === 'true' ? { approve: true, reason: v.reason, paid: v.paid, ...(draws.length ? { draws } : {}) } : { approve: false, reason: v.reason };
        },
        confirm: (v) => `${v.approve === 'true' ? t('common.approve') : t('common.reject')}: ${a.project} · ${amount(a.requested)} t`,
        onDone: again,
      }));
    }
    if (canAct('province') && a.status === 'awaiting_government') {
      actions.push(form({
        title: t('act.government'), path: `/v1/quota/applications/${a.id}/government-approval`,
        fields: [approveField(), { name: 'document_ref', required: true }, { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => ({ approve: v.approve === 'true', document_ref: v.document_ref, reason: v.reason }),
        confirm: () => `${t('act.government')}: ${a.project}`, onDone: again,
      }));
    }
    const alloc = a.allocation;
    return [section(`${a.project} · ${a.enterprise}`, statusBadge(a.status), gap(a), details(a, { skip: ['trail', 'allocation', 'emissions_breakdown'] })),
      alloc ? section(t('field.allocated'), details(alloc, { skip: ['lineage', 'reserves'] }), table(['reserve', 'tonnes'], alloc.reserves),
        h('h3', {}, t('common.lineage')), table(['reserve', 'source_id', 'source_enterprise', 'source_city', 'route', 'formed_on', 'evidence_ref', 'tonnes'], alloc.lineage)) : null,
      section(t('common.trail'), trail(a.trail || [])), actionsBox(actions)];
  });
}

// --- certifications --------------------------------------------------

function certifications(status = 'submitted', verifierOnly = false) {
  const statuses = ['draft', 'notice', 'submitted', 'verified', 'issued', 'rejected', 'withdrawn'];
  const sel = h('select', { id: 'status-filter' }, statuses.map((s) => h('option', { value: s, selected: s === status }, tOr('status', s))));
  const list = h('div');
  const query = () => ({ status: sel.value, verifier: verifierOnly ? me().org : undefined });
  const load = () => clear(list, pagedList('/v1/certifications', query(),
    [idLink('certifications'), 'operator', 'methodology', 'period', 'vintage', 'captured_grams', 'verifier', statusCol('state'), 'serial']));
  sel.addEventListener('change', load);
  page(verifierOnly ? t('nav.assigned') : t('nav.certifications'), h('div', { class: 'filters' }, h('label', { for: 'status-filter' }, t('field.status')), sel), list);
  load();
}

function certificationDetail(id) {
  const back = role() === 'verifier' ? '#/assigned' : '#/certifications';
  page(t('nav.certifications'), h('p', {}, link(back, '← ' + t('common.back'))), h('div', { id: 'detail' }));
  const el = document.getElementById('detail');
  loading(el, async () => {
    const b = await get(`/v1/certifications/${encodeURIComponent(id)}`);
    const again = () => certificationDetail(id);
    const actions = [];
    if (canAct('province') && b.state === 'submitted' && !b.verifier) {
      const vs = await get('/v1/verifiers', { status: 'active', limit: 100 });
      actions.push(form({
        title: t('act.assign'), path: `/v1/certifications/${b.id}/assignment`,
        fields: [{ name: 'verifier', type: 'select', options: vs.items.map((v) => [v.org, `${v.name} (${v.org})`]) }],
        onDone: again,
      }));
    }
    if (canAct('province') && b.state === 'verified') {
      actions.push(form({
        title: t('act.issue'), path: `/v1/certifications/${b.id}/issuance`, fields: [], body: () => ({}),
        confirm: `${t('act.issue')}: ${b.operator} ${b.period} · ${amount(b.approved_grams)} g`, onDone: again,
      }));
    }
    if (canAct('verifier') && b.state === 'submitted' && b.verifier === me().org) {
      actions.push(form({
        title: t('act.verify'), path: `/v1/certifications/${b.id}/verification`,
        fields: [{ name: 'approved_grams', type: 'number', required: true, hint: `${t('field.captured_grams')}: ${amount(b.captured_grams)}` },
          { name: 'rejected_grams', type: 'number', required: true, value: '0' }, { name: 'report_ref', required: true }],
        confirm: (v) => `${t('act.verify')}: ${amount(v.approved_grams)} g / ${amount(v.rejected_grams)} g`, onDone: again,
      }));
    }
    return [section(`${b.operator} · ${b.period}`, statusBadge(b.state), details(b)), actionsBox(actions)];
  });
}

// --- corrections -----------------------------------------------------

function corrections() {
  // pending is the checker's inbox: proposed by someone else than me.
  const sel = h('select', { id: 'status-filter' }, ['pending', 'proposed', 'applied', 'rejected'].map((s) => h('option', { value: s }, tOr('status.correction', s))));
  const list = h('div');
  const load = () => clear(list, pagedList('/v1/quota/corrections', { status: sel.value },
    [idLink('corrections'), 'source_id', 'holder', 'delta', 'reason', 'proposed_by', 'proposed_at', { field: 'status', render: (r) => statusBadge(r.status, 'correction') }]));
  sel.addEventListener('change', load);
  page(t('inbox.corrections'), h('div', { class: 'filters' }, h('label', { for: 'status-filter' }, t('field.status')), sel), list);
  load();
}

function correctionDetail(id) {
  page(t('nav.corrections'), h('p', {}, link('#/corrections', '← ' + t('common.back'))), h('div', { id: 'detail' }));
  const el = document.getElementById('detail');
  loading(el, async () => {
    const c = await get(`/v1/quota/corrections/${encodeURIComponent(id)}`);
    const actions = [];
    if (canAct('province') && c.status === 'proposed' && c.proposed_by === principal()) {
      actions.push(h('p', { class: 'problem', id: 'maker-note' }, t('correction.maker')));
    } else if (canAct('province') && c.status === 'proposed') {
      actions.push(form({
        title: t('act.approve_correction'), path: `/v1/quota/corrections/${c.id}/approval`,
        fields: [approveField(), { name: 'reason', required: true, type: 'textarea' }],
        body: (v) => ({ approve: v.approve === 'true', reason: v.reason }),
        confirm: (v) => `${v.approve === 'true' ? t('common.approve') : t('common.reject')}: ${amount(c.delta)} t (${c.holder})`,
        onDone: () => correctionDetail(id),
      }));
    }
    return [section(`${amount(c.delta)} t · ${tOr('city', c.holder)}`, statusBadge(c.status, 'correction'), details(c, { skip: ['trail', 'status'] }),
      h('p', {}, link(`#/sources/${c.source_id}`, t('field.source_id') + ' →'))),
    section(t('common.trail'), trail(c.trail || [])), actionsBox(actions)];
  });
}

// --- frozen holdings -------------------------------------------------

function frozen() {
  const holderOf = (acc) => acc.split(':')[1];
  page(t('inbox.frozen'), role() === 'auditor' ? h('p', { class: 'muted' }, t('common.readonly')) : null, pagedList('/v1/accounts', { owner_type: 'holder', status: 'frozen' }, ['id', 'asset', 'balance', statusCol(),
    { field: 'actions', label: t('common.actions'), render: (r) => (canAct('province') ? form({
      path: `/v1/holders/${encodeURIComponent(holderOf(r.id))}/unfreeze`, submitLabel: t('act.unfreeze'),
      fields: [{ name: 'decision_ref', required: true }, { name: 'reason', required: true }],
      confirm: `${t('act.unfreeze')}: ${holderOf(r.id)}`, onDone: frozen,
    }) : '') }]));
}

// --- enterprise ------------------------------------------------------

function holdings() {
  const el = h('div');
  page(t('nav.holdings'), el);
  loading(el, async () => {
    // The blocks page by cursor; the summary comes with every page.
    const res = await get('/v1/holdings', { limit: 200 });
    let blocks = res.blocks;
    let cursor = res.next_cursor || '';
    const list = h('div');
    const more = h('button', { type: 'button', class: 'secondary', hidden: !cursor }, t('common.more'));
    const draw = () => clear(list, table(['serial', 'vintage', 'units', 'methodology', statusCol(), { field: 'reserved', render: (r) => show('reserved', r.reserved) }], blocks));
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        const next = await get('/v1/holdings', { limit: 200, cursor });
        blocks = blocks.concat(next.blocks);
        cursor = next.next_cursor || '';
        more.hidden = !cursor;
        draw();
      } catch (e) {
        clear(list, problemView(e));
      } finally {
        more.disabled = false;
      }
    });
    draw();
    return [section(`${res.holder} · ${t('field.balance')} ${amount(res.balance)}`, statusBadge(res.status),
      table(['vintage', 'methodology', 'units', 'reserved'], res.summary)),
    section(t('field.block'), list, more)];
  });
}

function trades() {
  page(t('nav.trades'), pagedList('/v1/trades', {}, [idLink('trades'), 'seller', 'buyer', 'units', 'price_per_unit', 'amount', statusCol(), 'expires_at']));
}

function tradeDetail(id) {
  page(t('nav.trades'), h('p', {}, link('#/trades', '← ' + t('common.back'))), h('div', { id: 'detail' }));
  const el = document.getElementById('detail');
  loading(el, async () => {
    const tr = await get(`/v1/trades/${encodeURIComponent(id)}`);
    const again = () => tradeDetail(id);
    const org = me().org;
    const actions = [];
    if (tr.status === 'offered' && canAct('enterprise', 'operator') && tr.buyer === org) {
      actions.push(form({
        title: t('act.accept'), path: `/v1/trades/${tr.id}/acceptance`, fields: [], body: () => ({}), submitLabel: t('act.accept'),
        confirm: `${t('act.accept')}: ${amount(tr.units)} × ${amount(tr.price_per_unit)} = ${amount(tr.amount)}`, onDone: again,
      }));
    }
    if (tr.status === 'offered' && (tr.buyer === org || tr.seller === org || canAct('province'))) {
      actions.push(form({
        title: t('act.cancel_trade'), path: `/v1/trades/${tr.id}/cancellation`, fields: [], body: () => ({}), submitLabel: t('act.cancel_trade'), danger: true,
        confirm: `${t('act.cancel_trade')}: ${tr.id}`, onDone: again,
      }));
    }
    return [section(`${tr.seller} → ${tr.buyer}`, statusBadge(tr.status), details(tr, { skip: ['blocks'] }),
      table(['serial', 'vintage', 'units', 'methodology'], tr.blocks)), actionsBox(actions)];
  });
}

// retire shows the retirement form over the holdings as they are now,
// and after a retirement its certificate (done): the page is drawn again,
// so the form is empty and its vintages current, and a second click
// cannot retire the same entry again.
function retire(done) {
  const box = h('div');
  page(t('act.retire'), done ? section(t('reg.certificate'), details(done),
    h('p', {}, h('a', { href: `/registry/#/certificates/${done.id}`, id: 'certificate-link' }, t('reg.certificate') + ' · ' + t('common.print')))) : null, box);
  loading(box, async () => {
    // One retirement covers one vintage: offer the vintages held, with
    // the units not reserved by an open offer.
    const held = await get('/v1/holdings');
    const vintages = [...new Set(held.summary.map((r) => r.vintage))].sort();
    // Units not reserved by an open offer (whole units: exact in BigInt).
    const free = (v) => held.summary.filter((r) => r.vintage === v)
      .map((r) => `${r.methodology} ${t('field.available')} ${amount(String(BigInt(r.units) - BigInt(r.reserved)))}`).join('; ');
    if (!vintages.length) return h('p', { class: 'empty' }, t('common.empty'));
    return form({
      path: '/v1/retirements',
      fields: [
        { name: 'vintage', type: 'select', options: vintages.map((v) => [String(v), `${v} (${free(v)})`]) },
        { name: 'units', type: 'number', required: true },
        { name: 'purpose', type: 'select', options: ['voluntary_neutrality', 'event_neutrality', 'public_institution', 'other'].map((p) => [p, tOr('purpose', p)]) },
        { name: 'beneficiary', required: true },
        { name: 'note', type: 'textarea' },
      ],
      body: (v) => ({ units: v.units, vintage: Number(v.vintage), purpose: v.purpose, beneficiary: v.beneficiary, ...(v.note ? { note: v.note } : {}) }),
      confirm: (v) => `${t('act.retire')}: ${amount(v.units)} t (${v.vintage}) → ${v.beneficiary}`,
      danger: true,
      onDone: (c) => retire(c),
    });
  });
}

function retirements() {
  page(t('nav.retirements'), pagedList('/v1/retirements', { mine: 'true' }, [
    { field: 'id', render: (r) => h('a', { href: `/registry/#/certificates/${r.id}` }, r.id.slice(0, 8) + '…') },
    'beneficiary', 'purpose', 'vintage', 'tonnes', 'serials', 'retired_at']));
}

// --- router ----------------------------------------------------------

const routes = {
  signin, dashboard, sources, propose, corrections, frozen, holdings, trades, retire, retirements,
  applications: () => applications(),
  government: () => applications('awaiting_government'),
  certifications: (arg) => (arg === 'verified' ? certifications('verified') : arg ? certificationDetail(arg) : certifications()),
  assigned: () => certifications('submitted', true),
};
const detailRoutes = { sources: sourceDetail, applications: applicationDetail, corrections: correctionDetail, trades: tradeDetail };

// go moves to a route; when the page is there already, no hashchange
// fires, so it draws it itself.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// The route asked for before signing in, to return to after.
let wanted = '';

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function route() {
  renderShell();
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  if (!token() || !claims()) {
    if (name && name !== 'signin') wanted = location.hash;
    signin(oidcFailure);
    oidcFailure = '';
    return;
  }
  const c = me();
  if (!name || name === 'signin') {
    const first = (menus[c.role] || [])[0];
    if (!first) {
      page(t('app.console'), h('p', {}, t('role.none', { role: c.role })));
      return;
    }
    location.replace('#/' + first[0]);
    return;
  }
  if (arg && detailRoutes[name]) detailRoutes[name](decode(arg));
  else if (routes[name]) routes[name](arg && decode(arg));
  else page(t('app.console'), problemView(new ApiError(404, { code: 'not_found', detail: location.hash })));
}

document.getElementById('lang').addEventListener('click', () => {
  setLang(lang() === 'en' ? 'zh-CN' : 'en');
  route();
});
window.addEventListener('hashchange', route);
// The identity provider's answer, if this load is one, before any route.
const oidc = await loadConfig();
let oidcFailure = '';
try {
  const tok = await complete(oidc, Boolean(token()));
  if (tok) {
    if (!claims(tok)) throw new Error(t('signin.bad'));
    setToken(tok);
    // Set the route without a hashchange: route() below draws it once.
    history.replaceState(null, '', '#/' + ((menus[claims(tok).role] || [['none']])[0][0]));
  }
} catch (e) {
  // Words of the page's language for the failure; the provider's error
  // code (never its free text) beside them.
  oidcFailure = t(e.message) + (e.code ? ` (${e.code})` : '');
}
// The skip link moves focus to the page's content without touching the
// route, which lives in the fragment too.
document.querySelector('a.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
// A call answered 401 (api.js forgot the token): back to sign-in, and
// to this page after it.
window.addEventListener('cl-signed-out', () => {
  if (!location.hash.startsWith('#/signin')) wanted = location.hash;
  route();
});
route();
