// A development OpenID provider for the jupyterhub-imagine demo and tests.
//
// Built on oidc-provider (panva). Shaped like EGI Check-in, Keycloak or UmbrellaID so that the
// hub talks to the same routes and claim layouts it meets in production. Never expose it: it
// keeps everything in memory and its users come from a JSON file.
//
// Configuration: one JSON object, given as the first argument (inline JSON or a path to a file)
// or in the IMAGINE_OIDC_CONFIG environment variable. Keys:
//   port (0 = pick a free one), host ("127.0.0.1"), shape ("checkin" | "keycloak" | "umbrellaid"),
//   realm (keycloak, default "imagine"), legacy_auth_prefix (keycloak < 17: "/auth/realms/..."),
//   clients: [{client_id, client_secret, redirect_uris, post_logout_redirect_uris,
//              token_endpoint_auth_method}],
//   users: [{username, password, claims: {sub, ...}, access_token_claims: {...}}],
//   admin_token (enables the loopback test hooks under /_admin/), ttl: {access_token, id_token,
//   refresh_token} in seconds.
// When listening it prints one line: READY <issuer>
//
// Pages (for scripted clients and browser tests):
//   login   <issuer>/interaction/<uid>: <form id="login-form" method="post"> with
//           <input name="username" id="username">, <input name="password" id="password"
//           type="password"> and <button type="submit" id="submit">Sign in</button>. A wrong
//           password shows the form again (HTTP 200) with "Invalid username or password.".
//           Consent is granted automatically: one submit ends at the client's redirect_uri.
//   logout  end_session_endpoint: <form id="op.logoutForm"> (hidden xsrf) and
//           <button name="logout" value="yes" id="logout">Sign out</button>, pressed by a script;
//           without JavaScript POST xsrf + logout=yes to the form's action.
// Test hooks (only with admin_token; header "Authorization: Bearer <admin_token>"), POST JSON:
//   /_admin/rotate-keys {keep_old}, /_admin/ttl {access_token, id_token, refresh_token},
//   /_admin/next-id-token {mode, nonce}, /_admin/users/<username> {claims, access_token_claims}.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const KEYCLOAK_ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  userinfo: '/protocol/openid-connect/userinfo',
  jwks: '/protocol/openid-connect/certs',
  end_session: '/protocol/openid-connect/logout',
  introspection: '/protocol/openid-connect/token/introspect',
  revocation: '/protocol/openid-connect/revoke',
};

const PROFILE = ['name', 'given_name', 'family_name', 'preferred_username'];

function loadConfig() {
  const raw = process.argv[2] || process.env.IMAGINE_OIDC_CONFIG;
  if (!raw) {
    throw new Error('give the configuration as JSON in argv[2] or IMAGINE_OIDC_CONFIG');
  }
  const text = raw.trim().startsWith('{') ? raw : fs.readFileSync(raw, 'utf8');
  return JSON.parse(text);
}

// What differs between the shapes: where the issuer lives, route names, claim layout.
function shapeOf(config) {
  const shape = config.shape || 'checkin';
  if (shape === 'checkin') {
    return {
      name: shape,
      prefix: '/auth/realms/egi',
      routes: KEYCLOAK_ROUTES,
      claims: {
        openid: ['sub'],
        profile: PROFILE,
        email: ['email', 'email_verified'],
        eduperson_entitlement: ['eduperson_entitlement'],
        eduperson_scoped_affiliation: ['eduperson_scoped_affiliation'],
        voperson_id: ['voperson_id'],
      },
      jwtAccessTokens: false,
    };
  }
  if (shape === 'keycloak') {
    const realm = config.realm || 'imagine';
    return {
      name: shape,
      prefix: `${config.legacy_auth_prefix ? '/auth' : ''}/realms/${realm}`,
      routes: KEYCLOAK_ROUTES,
      // Keycloak's Group Membership mapper puts `groups` (full paths) in userinfo by default;
      // realm and client roles stay in the access token only.
      claims: {
        openid: ['sub'],
        profile: [...PROFILE, 'groups'],
        email: ['email', 'email_verified'],
      },
      jwtAccessTokens: true,
    };
  }
  if (shape === 'umbrellaid') {
    // Issuer unconfirmed upstream; oidc-provider's own route names exercise discovery.
    return {
      name: shape,
      prefix: '/umbrellaid',
      routes: {},
      claims: {
        openid: ['sub'],
        profile: PROFILE,
        email: ['email', 'email_verified'],
        eduperson_entitlement: ['eduperson_entitlement'],
        voperson_id: ['voperson_id'],
      },
      jwtAccessTokens: false,
    };
  }
  throw new Error(`unknown shape ${shape}: use checkin, keycloak or umbrellaid`);
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

function publicPem(jwk) {
  return crypto.createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' });
}

function signJwt(payload, jwk, header = {}) {
  const head = { alg: 'RS256', typ: 'JWT', kid: jwk.kid, ...header };
  const input = `${b64u(JSON.stringify(head))}.${b64u(JSON.stringify(payload))}`;
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  return `${input}.${b64u(crypto.sign('sha256', Buffer.from(input), key))}`;
}

function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
  };
}

function verifyJwt(token, keys) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const { header, payload } = decodeJwt(token);
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'RS256') return null;
  const key = crypto.createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key,
    Buffer.from(parts[2], 'base64url'));
  return ok && payload.exp > now() ? payload : null;
}

// Test hooks: rewrite the next id_token so the hub's refusal paths can be exercised.
function misbehave(idToken, mode, state) {
  const { header, payload } = decodeJwt(idToken);
  const key = state.keys[0];
  switch (mode.mode) {
    case 'tampered': {
      const parts = idToken.split('.');
      const forged = b64u(JSON.stringify({ ...payload, sub: `${payload.sub}-forged` }));
      return `${parts[0]}.${forged}.${parts[2]}`;
    }
    case 'alg-none':
      return `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(payload))}.`;
    case 'hs256-public-key': {
      const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: header.kid }))}.${b64u(JSON.stringify(payload))}`;
      const mac = crypto.createHmac('sha256', publicPem(key)).update(input).digest();
      return `${input}.${b64u(mac)}`;
    }
    case 'wrong-iss':
      return signJwt({ ...payload, iss: 'https://evil.example/' }, key);
    case 'wrong-aud':
      return signJwt({ ...payload, aud: 'another-client', azp: 'another-client' }, key);
    case 'expired':
      return signJwt({ ...payload, iat: now() - 7200, exp: now() - 3600 }, key);
    case 'nonce':
      return signJwt({ ...payload, nonce: mode.nonce }, key);
    case 'unknown-kid':
      return signJwt(payload, newSigningKey());
    default:
      throw new Error(`unknown id_token mode ${mode.mode}`);
  }
}

// One store for every Provider instance, so that sessions and tokens survive a key rotation
// (which builds a new instance with the new key set).
function memoryAdapter() {
  const data = new Map();
  const get = (key) => {
    const entry = data.get(key);
    if (entry && entry.expiresAt && entry.expiresAt < Date.now()) data.delete(key);
    return data.get(key)?.value;
  };
  const set = (key, value, expiresIn) => data.set(key, {
    value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0,
  });
  return class Adapter {
    constructor(name) { this.name = name; }

    key(id) { return `${this.name}:${id}`; }

    async upsert(id, payload, expiresIn) {
      set(this.key(id), payload, expiresIn);
      if (this.name === 'Session') set(`uid:${payload.uid}`, id, expiresIn);
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn);
      if (payload.grantId) {
        const members = get(`grant:${payload.grantId}`) || new Set();
        set(`grant:${payload.grantId}`, members.add(this.key(id)));
      }
    }

    async find(id) { return get(this.key(id)); }

    async findByUid(uid) { const id = get(`uid:${uid}`); return id && this.find(id); }

    async findByUserCode(code) { const id = get(`userCode:${code}`); return id && this.find(id); }

    async consume(id) {
      const payload = get(this.key(id));
      if (payload) payload.consumed = now();
    }

    async destroy(id) { data.delete(this.key(id)); }

    async revokeByGrantId(grantId) {
      for (const key of get(`grant:${grantId}`) || []) data.delete(key);
      data.delete(`grant:${grantId}`);
    }
  };
}

function buildProvider(issuer, shape, config, state) {
  const ttl = state.ttl;
  const provider = new Provider(issuer, {
    adapter: state.adapter,
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris || [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
    })),
    jwks: { keys: state.keys },
    cookies: { keys: state.cookieKeys },
    claims: shape.claims,
    scopes: ['openid', 'offline_access'],
    routes: shape.routes,
    clockTolerance: 0,
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (ctx, sub) => {
      const user = state.users.find((u) => u.claims.sub === sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ ...user.claims }) };
    },
    interactions: { url: async (ctx, interaction) => `${shape.prefix}/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    ttl: {
      AccessToken: () => ttl.access_token,
      IdToken: () => ttl.id_token,
      RefreshToken: () => ttl.refresh_token,
      Interaction: () => 3600,
      Session: () => 86400,
      Grant: () => 86400 * 14,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(v)}</p>`).join(''));
    },
  });
  provider.proxy = false;
  for (const event of ['grant.error', 'server_error', 'userinfo.error', 'end_session.error']) {
    provider.on(event, (ctx, err) => console.error(`${event}: ${err.message} ${err.error_detail || ''}`));
  }
  return provider;
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:26em;margin:3em auto}label,input,button{display:block;width:100%;margin:.3em 0}
input,button{padding:.5em;font-size:1em}.error{color:#b00020}</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

async function logoutSource(ctx, form) {
  // One button; a script presses it, so browsers sign out without a click.
  ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout">Sign out</button>
<script>document.getElementById('logout').click();</script>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
}

function loginPage(shape, client, error) {
  const who = esc(client?.clientName || client?.clientId || 'the application');
  const err = error ? `<p class="error" role="alert">${esc(error)}</p>` : '';
  return page('Sign in', `<p>Development provider (${esc(shape.name)}) for ${who}.</p>${err}
<form method="post" id="login-form" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit" id="submit">Sign in</button>
</form>`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

// Login and consent in one step: the consent is granted for everything the client asked.
async function finishLogin(provider, req, res, details, accountId) {
  const { params, prompt } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });
  const missing = prompt.details || {};
  grant.addOIDCScope(missing.missingOIDCScope?.join(' ') || params.scope || 'openid');
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const result = { consent: { grantId } };
  if (prompt.name === 'login') result.login = { accountId };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function handleInteraction(ctx, req, res) {
  const { state, shape } = ctx;
  const provider = state.provider;
  const details = await provider.interactionDetails(req, res);
  const client = await provider.Client.find(details.params.client_id);
  if (details.prompt.name === 'consent') {
    return finishLogin(provider, req, res, details, details.session.accountId);
  }
  if (req.method === 'GET') return send(res, 200, loginPage(shape, client));
  const form = new URLSearchParams(await readBody(req));
  const user = state.users.find((u) => u.username === form.get('username'));
  if (!user || user.password !== form.get('password')) {
    return send(res, 200, loginPage(shape, client, 'Invalid username or password.'));
  }
  return finishLogin(provider, req, res, details, user.claims.sub);
}

// Keycloak hands out JWT access tokens that also work at userinfo; oidc-provider's opaque
// userinfo tokens are wrapped in a signed JWT here and unwrapped on the way back in.
async function jwtAccessToken(state, shape, body) {
  const token = await state.provider.AccessToken.find(body.access_token);
  const user = state.users.find((u) => u.claims.sub === token.accountId);
  const claims = {
    iss: state.issuer, sub: token.accountId, aud: 'account', azp: token.clientId, typ: 'Bearer',
    iat: now(), exp: now() + body.expires_in, jti: crypto.randomUUID(), scope: token.scope,
    preferred_username: user?.claims.preferred_username, ...(user?.access_token_claims || {}),
  };
  const jwt = signJwt(claims, state.keys[0], { typ: 'at+jwt' });
  state.opaqueFor.set(jwt, body.access_token);
  return jwt;
}

async function rewriteTokenResponse(ctx, text) {
  const { state, shape } = ctx;
  let body;
  try { body = JSON.parse(text); } catch { return text; }
  if (!body.access_token) return text;
  if (shape.jwtAccessTokens) body.access_token = await jwtAccessToken(state, shape, body);
  const mode = state.nextIdToken.shift();
  if (mode && body.id_token) body.id_token = misbehave(body.id_token, mode, state);
  return JSON.stringify(body);
}

function captureResponse(res, rewrite) {
  const chunks = [];
  const origWrite = res.write.bind(res);
  const origEnd = res.end.bind(res);
  res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
  res.end = (chunk, ...rest) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    const text = Buffer.concat(chunks).toString('utf8');
    rewrite(text).then((out) => {
      if (!res.headersSent) res.setHeader('Content-Length', Buffer.byteLength(out));
      origWrite(out);
      origEnd();
    }, (err) => { console.error(err); origEnd(); });
    return res;
  };
}

function unwrapBearer(state, req) {
  const auth = req.headers.authorization || '';
  if (!auth.startsWith('Bearer ')) return;
  const jwt = auth.slice(7);
  if (!state.opaqueFor.has(jwt)) return;
  // The JWT itself must still be valid: its expiry is the contract, not the opaque token's.
  req.headers.authorization = verifyJwt(jwt, state.keys) ? `Bearer ${state.opaqueFor.get(jwt)}` : 'Bearer expired';
}

async function handleAdmin(ctx, req, res, path) {
  const { state, config } = ctx;
  if (!config.admin_token || req.headers.authorization !== `Bearer ${config.admin_token}`) {
    return send(res, 403, '{"error":"forbidden"}', 'application/json');
  }
  const body = req.method === 'POST' ? JSON.parse((await readBody(req)) || '{}') : {};
  if (path === '/_admin/rotate-keys') {
    state.keys = [newSigningKey(), ...(body.keep_old === false ? [] : state.keys)];
    setProvider(state, buildProvider(state.issuer, ctx.shape, config, state));
  } else if (path === '/_admin/ttl') {
    Object.assign(state.ttl, body);
  } else if (path === '/_admin/next-id-token') {
    state.nextIdToken.push(body);
  } else if (path.startsWith('/_admin/users/')) {
    const user = state.users.find((u) => u.username === decodeURIComponent(path.slice(14)));
    if (!user) return send(res, 404, '{"error":"no such user"}', 'application/json');
    Object.assign(user.claims, body.claims || {});
    user.access_token_claims = { ...(user.access_token_claims || {}), ...(body.access_token_claims || {}) };
  } else {
    return send(res, 404, '{"error":"not found"}', 'application/json');
  }
  return send(res, 200, JSON.stringify({ kids: state.keys.map((k) => k.kid), ttl: state.ttl }), 'application/json');
}

function setProvider(state, provider) {
  state.provider = provider;
  state.handler = provider.callback();
}

async function handle(ctx, req, res) {
  const { state, shape } = ctx;
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname.startsWith('/_admin/')) return handleAdmin(ctx, req, res, url.pathname);
  if (!url.pathname.startsWith(shape.prefix)) return send(res, 404, 'not found', 'text/plain');
  const rest = url.pathname.slice(shape.prefix.length) || '/';
  if (rest.startsWith('/interaction/')) return handleInteraction(ctx, req, res);
  const tokenPath = state.provider.pathFor('token');
  if (url.pathname === tokenPath) captureResponse(res, (text) => rewriteTokenResponse(ctx, text));
  if (shape.jwtAccessTokens) unwrapBearer(state, req);
  // oidc-provider finds its mount path from originalUrl minus url.
  req.originalUrl = req.url;
  req.url = rest + url.search;
  return state.handler(req, res);
}

async function main() {
  const config = loadConfig();
  const shape = shapeOf(config);
  const state = {
    keys: [newSigningKey()],
    cookieKeys: [crypto.randomBytes(32).toString('hex')],
    users: (config.users || []).map((u) => structuredClone(u)),
    ttl: { access_token: 3600, id_token: 3600, refresh_token: 14 * 86400, ...(config.ttl || {}) },
    nextIdToken: [],
    opaqueFor: new Map(),
    adapter: memoryAdapter(),
  };
  const ctx = { config, shape, state };
  const server = http.createServer((req, res) => {
    handle(ctx, req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, err.statusCode || 500, page('Error', `<p>${esc(err.message)}</p>`));
    });
  });
  const host = config.host || '127.0.0.1';
  await new Promise((resolve) => server.listen(config.port || 0, host, resolve));
  state.issuer = `http://${host}:${server.address().port}${shape.prefix}`;
  setProvider(state, buildProvider(state.issuer, shape, config, state));
  process.stdout.write(`READY ${state.issuer}\n`);
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
