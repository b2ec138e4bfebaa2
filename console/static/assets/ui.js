// Building blocks of the pages: elements (text only, never parsed HTML),
// tables, detail lists, paged lists, forms that write, and the errors the
// API answers, in the page's language.

import { ApiError, Submission, get } from './api.js';
import { amount, count, problemText, t, tOr, when, day } from './i18n.js';

// h makes an element; attrs with on* names are listeners, others
// attributes; children are nodes or strings (as text).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) {
      // Listeners only: an on* attribute would be inline script (and the
      // CSP would refuse it anyway).
      if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    } else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Fields whose values are amounts (decimal strings), times, days, or
// words the dictionary knows.
const amountFields = /(^|_)(tonnes|grams|units|amount|price_per_unit|emissions|required|own_sources|gap|requested|threshold|delta|in_reserve|allocated|consumed|stockpiled|recovered|transferred_in|transferred_out|corrected_up|corrected_down|issued|held|reserved|retired|cancelled|surrendered|points|balance|records|amount_cny|refunded_cny|corrected)$/;
const timeFields = /(_at|^at|_as_of|^as_of)$/;
const dayFields = /(_on|^period)$/;
const plainNumbers = /^(vintage|year|compliance_year|seq|number|status_seq|notice_days|first_unit|last_unit)$/;
const wordFields = { action: 'action', status: 'status', state: 'status', route: 'route', purpose: 'purpose', city: 'city', reserve: 'city', source_city: 'city', project_city: 'city', flow: 'flow', measure: 'measure' };

// show renders one field's value as text for a person.
export function show(field, v) {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'boolean') return v ? t('common.yes') : t('common.no');
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${x}`).join('; ');
  if (wordFields[field]) return tOr(wordFields[field], v);
  if (amountFields.test(field)) return amount(String(v));
  if (timeFields.test(field)) return when(v);
  if (dayFields.test(field) && /^\d{4}-\d{2}-\d{2}$/.test(v)) return day(v);
  if (typeof v === 'number') return plainNumbers.test(field) ? String(v) : count(v);
  return String(v);
}

export function label(field) {
  const s = t('field.' + field);
  return s === 'field.' + field ? field : s;
}

// table renders rows under columns: a column is a field name or
// {field, label, render(row)}.
export function table(columns, rows, { caption, empty } = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty || t('common.empty'));
  const cols = columns.map((c) => (typeof c === 'string' ? { field: c } : c));
  return h('div', { class: 'table-wrap', tabindex: 0 },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: amountFields.test(c.field || '') ? 'num' : null }, c.label || label(c.field))))),
      h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => h('td', { class: amountFields.test(c.field || '') ? 'num' : null }, c.render ? c.render(r) : show(c.field, r[c.field]))))))));
}

// details renders an object's scalar fields as a definition list, then
// each array of objects (a trail, a lineage, blocks) as a table.
export function details(obj, { skip = [] } = {}) {
  const scalars = [];
  const lists = [];
  const nested = [];
  for (const [k, v] of Object.entries(obj || {})) {
    if (skip.includes(k)) continue;
    if (Array.isArray(v) && v.length && typeof v[0] === 'object') lists.push([k, v]);
    else if (v && typeof v === 'object' && !Array.isArray(v)) nested.push([k, v]);
    else scalars.push([k, v]);
  }
  return h('div', { class: 'details' },
    h('dl', {}, scalars.filter(([, v]) => v !== '' && v !== undefined).map(([k, v]) => [h('dt', {}, label(k)), h('dd', {}, show(k, v))])),
    nested.map(([k, v]) => h('section', {}, h('h3', {}, label(k)), details(v))),
    lists.map(([k, v]) => h('section', {}, h('h3', {}, k === 'trail' ? t('common.trail') : k === 'lineage' ? t('common.lineage') : label(k)),
      table(Object.keys(v[0]).filter((f) => typeof v[0][f] !== 'object' || v[0][f] === null), v))));
}

export function trail(items) {
  return table(['seq', 'action', 'actor', { field: 'reason' }, { field: 'at' }], items);
}

// problemView shows an error the way the API gave it: the code in plain
// words of the page's language, the API's detail, and the field it names.
export function problemView(err) {
  if (!(err instanceof ApiError)) return h('div', { class: 'problem', role: 'alert' }, String(err));
  if (err.status === 0) return h('div', { class: 'problem', role: 'alert' }, t('err.network'));
  const p = err.problem;
  const words = problemText(p.code) || p.title || t('err.unknown', { status: err.status });
  return h('div', { class: 'problem', role: 'alert', 'data-code': p.code || '' },
    h('strong', {}, words),
    p.detail ? h('p', { class: 'problem-detail' }, p.detail) : null,
    h('p', { class: 'problem-meta' }, [p.code ? `code: ${p.code}` : '', p.field ? ` · field: ${p.field}` : '', ` · HTTP ${err.status}`].join('')));
}

// loading runs fn into el: a spinner text first, then fn's nodes or the
// problem.
export async function loading(el, fn) {
  clear(el, h('p', { class: 'muted', role: 'status' }, t('common.loading')));
  try {
    clear(el, await fn());
  } catch (e) {
    clear(el, problemView(e));
  }
}

// pagedList shows a list route page by page (next_cursor), with a
// caption that counts what is shown.
export function pagedList(path, query, columns, opts = {}) {
  const box = h('div', { class: 'paged' });
  const body = h('div');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  const status = h('p', { class: 'muted', role: 'status' });
  box.append(body, status, more);
  let rows = [];
  let cursor = '';
  async function page() {
    more.disabled = true;
    try {
      const res = await get(path, { ...query, limit: opts.limit || 50, cursor: cursor || undefined });
      rows = rows.concat(res.items || []);
      cursor = res.next_cursor || '';
      clear(body, table(columns, rows, { empty: opts.empty }));
      status.textContent = rows.length ? t('common.items', { n: count(rows.length) }) : '';
      more.hidden = !cursor;
    } catch (e) {
      clear(body, problemView(e));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', page);
  page();
  return box;
}

export function link(href, text) {
  return h('a', { href }, text);
}

let dialogSeq = 0;

// confirmDialog asks before an irreversible step; resolves true on
// confirm.
export function confirmDialog(message) {
  return new Promise((resolve) => {
    const id = 'confirm-title-' + ++dialogSeq;
    const said = 'confirm-text-' + dialogSeq;
    const ok = h('button', { type: 'button', class: 'danger' }, t('common.confirm'));
    const no = h('button', { type: 'button', class: 'secondary' }, t('common.cancel'));
    const dlg = h('dialog', { 'aria-labelledby': id, 'aria-describedby': said, class: 'confirm' },
      h('h2', { id }, t('confirm.title')), h('div', { id: said }, h('p', {}, message), h('p', {}, t('confirm.irreversible'))), h('div', { class: 'buttons' }, no, ok));
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    ok.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}

let fieldSeq = 0;

// form builds a form that writes once per submission: fields are
// {name, label, type: text|number|select|textarea|checkbox, options,
// required, value}; body(values) makes the request body; confirm (a
// message) asks first. onDone gets the API's answer.
export function form({ title, fields, method = 'POST', path, body, confirm, submitLabel, onDone, danger }) {
  const sub = new Submission();
  const out = h('div', { class: 'form-result', 'aria-live': 'polite' });
  const inputs = {};
  const rows = fields.map((f) => {
    const id = 'f' + ++fieldSeq + '-' + f.name;
    let input;
    if (f.type === 'select') {
      input = h('select', { id, name: f.name, required: f.required }, f.options.map(([v, text]) => h('option', { value: v, selected: v === f.value }, text)));
    } else if (f.type === 'textarea') {
      input = h('textarea', { id, name: f.name, required: f.required, rows: 3, maxlength: f.maxlength || 1000 }, f.value || '');
    } else if (f.type === 'checkbox') {
      input = h('input', { id, name: f.name, type: 'checkbox', checked: f.value });
    } else {
      input = h('input', { id, name: f.name, type: 'text', inputmode: f.type === 'number' ? 'decimal' : null, required: f.required, value: f.value ?? '', placeholder: f.placeholder, autocomplete: 'off', maxlength: f.maxlength || 500 });
    }
    inputs[f.name] = input;
    return h('div', { class: f.type === 'checkbox' ? 'field check' : 'field' }, h('label', { for: id }, f.label || label(f.name)), input, f.hint ? h('small', {}, f.hint) : null);
  });
  const button = h('button', { type: 'submit', class: danger ? 'danger' : null }, submitLabel || t('common.submit'));
  const el = h('form', { class: 'action-form', novalidate: true }, title ? h('h3', {}, title) : null, rows, h('div', { class: 'buttons' }, button), out);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (sub.busy) return;
    const values = {};
    for (const [k, input] of Object.entries(inputs)) values[k] = input.type === 'checkbox' ? input.checked : input.value.trim();
    if (confirm && !(await confirmDialog(typeof confirm === 'function' ? confirm(values) : confirm))) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    clear(out);
    for (const input of Object.values(inputs)) input.removeAttribute('aria-invalid');
    try {
      const res = await sub.send(method, typeof path === 'function' ? path(values) : path, body ? body(values) : values);
      if (res.skipped) return;
      clear(out, h('p', { class: 'ok', role: 'status' }, t('common.saved')));
      if (onDone) onDone(res.data);
    } catch (err) {
      clear(out, problemView(err));
      // The field the API names is marked and takes the focus.
      const bad = err instanceof ApiError && inputs[err.problem.field];
      if (bad) {
        bad.setAttribute('aria-invalid', 'true');
        bad.focus();
      }
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });
  return el;
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

// statusBadge shows a status; kind picks words of its own where the same
// value means another thing (a correction's "proposed" awaits a checker).
export function statusBadge(s, kind) {
  const words = kind ? tOr('status.' + kind, s) : s;
  return h('span', { class: 'badge badge-' + s }, kind && words !== s ? words : tOr('status', s));
}

export const cityOptions = ['3701', '3702', '3703', '3704', '3705', '3706', '3707', '3708', '3709', '3710', '3711', '3713', '3714', '3715', '3716', '3717'];
