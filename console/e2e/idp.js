// A small OpenID Connect provider for the console's sign-in journey: the
// authorization code flow with PKCE (S256) for one public client, signing
// RS256 access tokens for the API's external audience and publishing its
// key as a JWKS, which the server under test trusts
// (CARBONLEDGER_EXTERNAL_*). It signs in one fixed user without asking
// (an auditor), as a provider with a live session would. It checks what a
// real provider checks of the client: the client id, the exact redirect
// URI, S256, a single-use code bound to its challenge and redirect, and
// answers the token request with CORS for the console's origin only.
//
// Usage: node idp.js <console origin>  (prints its port on stdout)

import { createServer } from 'node:http';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const consoleOrigin = process.argv[2];
export const clientID = 'carbonledger-console';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'e2e-idp-1', alg: 'RS256', use: 'sig' };
const codes = new Map();
let issuer = '';

const b64url = (b) => Buffer.from(b).toString('base64url');

function mint(claims) {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }));
  const body = b64url(JSON.stringify(claims));
  const sig = sign('RSA-SHA256', Buffer.from(`${header}.${body}`), privateKey);
  return `${header}.${body}.${b64url(sig)}`;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  if (req.method === 'GET' && url.pathname === '/jwks') return send(res, 200, { keys: [jwk] });
  if (req.method === 'GET' && url.pathname === '/authorize') {
    const q = url.searchParams;
    const redirect = q.get('redirect_uri');
    if (q.get('client_id') !== clientID || redirect !== consoleOrigin + '/console/') return send(res, 400, { error: 'invalid_request', error_description: 'unknown client or redirect_uri' });
    const back = new URL(redirect);
    back.searchParams.set('state', q.get('state') || '');
    if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') || '') ||
      !(q.get('scope') || '').split(' ').includes('openid')) {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'code flow with S256 PKCE and the openid scope required');
    } else {
      const code = b64url(randomBytes(24));
      codes.set(code, { challenge: q.get('code_challenge'), redirect, at: Date.now() });
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { Location: back.href });
    return res.end();
  }
  if (req.method === 'POST' && url.pathname === '/token') {
    const cors = { 'Access-Control-Allow-Origin': consoleOrigin, Vary: 'Origin' };
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const f = new URLSearchParams(raw);
    const grant = codes.get(f.get('code') || '');
    codes.delete(f.get('code') || '');
    const verifier = f.get('code_verifier') || '';
    if (!grant || Date.now() - grant.at > 60000 || f.get('grant_type') !== 'authorization_code' || f.get('client_id') !== clientID ||
      f.get('redirect_uri') !== grant.redirect || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      return send(res, 400, { error: 'invalid_grant' }, cors);
    }
    const now = Math.floor(Date.now() / 1000);
    const token = mint({ iss: issuer, aud: clientID, sub: 'oidc-auditor', role: 'auditor', iat: now, exp: now + 600 });
    return send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 600 }, cors);
  }
  send(res, 404, { error: 'not_found' });
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${server.address().port}\n`);
});
