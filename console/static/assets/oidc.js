// Sign-in through the identity provider the API trusts: the OpenID
// Connect authorization code flow with PKCE (RFC 7636, S256) for a public
// client. The verifier and state wait in this tab's sessionStorage; the
// code leaves the address bar as soon as the page reads it.

const pendingKey = 'cl.oidc';

export async function loadConfig() {
  try {
    const r = await fetch('/console/config.json', { cache: 'no-store', credentials: 'omit' });
    return r.ok ? (await r.json()).oidc || null : null;
  } catch {
    return null;
  }
}

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const redirectURI = () => location.origin + '/console/';

// begin sends the browser to the provider's authorization endpoint.
export async function begin(cfg) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state }));
  const u = new URL(cfg.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: cfg.client_id, redirect_uri: redirectURI(), scope: cfg.scope || 'openid',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  })) u.searchParams.set(k, v);
  location.assign(u.href);
}

function failure(key, code) {
  const e = new Error(key);
  if (code && /^[a-z_]{1,40}$/.test(code)) e.code = code;
  return e;
}

// complete finishes a sign-in the provider sent back (?code=…&state=…):
// the access token, or null when the address holds no answer. It throws
// (an i18n key as the message) on a refused or forged answer. An answer
// this tab did not ask for is dropped, and only reported when no one is
// signed in (a forged link cannot sign anyone out).
export async function complete(cfg, signedIn) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return null;
  const saved = JSON.parse(sessionStorage.getItem(pendingKey) || 'null');
  sessionStorage.removeItem(pendingKey);
  history.replaceState(null, '', location.pathname + location.hash);
  if (!cfg || !saved) {
    if (signedIn) return null;
    throw failure('oidc.unasked');
  }
  if (q.get('state') !== saved.state) throw failure('oidc.state');
  if (q.has('error')) throw failure('oidc.refused', q.get('error'));
  const body = new URLSearchParams({
    grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectURI(), client_id: cfg.client_id, code_verifier: saved.verifier,
  });
  let r;
  try {
    r = await fetch(cfg.token_endpoint, { method: 'POST', body, credentials: 'omit', cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch {
    throw failure('oidc.unreachable');
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok || typeof data.access_token !== 'string' || String(data.token_type).toLowerCase() !== 'bearer') throw failure('oidc.refused', data.error);
  return data.access_token;
}
