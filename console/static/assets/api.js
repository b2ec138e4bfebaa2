// The console's only way to the ledger: the public JSON API, with the
// signed-in user's bearer token. The token lives in this tab's
// sessionStorage (never a cookie, never the URL).

const tokenKey = 'cl.token';

export function token() {
  return sessionStorage.getItem(tokenKey) || '';
}

export function setToken(tok) {
  if (tok) sessionStorage.setItem(tokenKey, tok);
  else sessionStorage.removeItem(tokenKey);
}

// claims decodes the token's payload for the page's own use (which menu
// to show). It proves nothing: the API checks the signature on every call.
export function claims(tok = token()) {
  const parts = tok.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)));
    const c = JSON.parse(json);
    return c && typeof c === 'object' && typeof c.role === 'string' ? c : null;
  } catch {
    return null;
  }
}

// ApiError carries the API's problem+json answer (status, code, detail)
// or, with status 0, a network failure.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get code() {
    return this.problem.code || '';
  }
  // retryable: the write may or may not have happened; the same
  // idempotency key must be sent again, never a new one.
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.code === 'commit_outcome_unknown' || this.code === 'rate_limited';
  }
}

// call sends one request. query is an object of parameters (empty ones
// dropped); body, when given, is sent as JSON with idempotencyKey.
export async function call(method, path, { query, body, idempotencyKey, anonymous } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  const tok = token();
  if (tok && !anonymous) headers.Authorization = 'Bearer ' + tok;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (method !== 'GET') {
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  const type = resp.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await resp.json().catch(() => null) : null;
  if (resp.status === 401 && tok && !anonymous) {
    // The token expired or was revoked: forget it and let the page send
    // its user back to sign-in.
    setToken('');
    window.dispatchEvent(new CustomEvent('cl-signed-out'));
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// newKey is a v4 UUID (crypto.randomUUID needs a secure context; a plain
// http page on a LAN address has only getRandomValues).
export function newKey() {
  if (crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const get = (path, query, opts = {}) => call('GET', path, { ...opts, query });

// Submission gives one form its idempotency key: a new key for each new
// submission, and the same key again when the last attempt's outcome is
// unknown (no answer, 5xx, commit_outcome_unknown, rate_limited) and the
// same body is submitted again, so a retry can never post twice. Such an
// unsettled attempt is kept in sessionStorage by method and path, so a
// reload, a language switch or a new page over the same route still
// retries under its key. A second submission while one is in flight is
// refused (a double click posts once).
const unsettledPrefix = 'cl.unsettled:';

export class Submission {
  constructor() {
    this.busy = false;
  }
  async send(method, path, body) {
    if (this.busy) return { skipped: true };
    this.busy = true;
    const slot = unsettledPrefix + method + ' ' + path;
    const text = JSON.stringify(body ?? {});
    let key;
    try {
      const prev = JSON.parse(sessionStorage.getItem(slot) || 'null');
      key = prev && prev.body === text ? prev.key : newKey();
    } catch {
      key = newKey();
    }
    try {
      const data = await call(method, path, { body, idempotencyKey: key });
      sessionStorage.removeItem(slot);
      return { data };
    } catch (e) {
      if (e instanceof ApiError && e.retryable) sessionStorage.setItem(slot, JSON.stringify({ key, body: text }));
      else sessionStorage.removeItem(slot);
      throw e;
    } finally {
      this.busy = false;
    }
  }
}
