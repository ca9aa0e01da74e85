// A real OpenID Connect provider (oidc-provider, OpenID-certified) for gatehouse's identity
// tests: it listens on 127.0.0.1 on a free port, prints {"issuer": "..."} on one line, and
// stops when its standard input closes (the test ends).
//
// Machines: RS256 JWT access tokens through the client-credentials grant for the resource
// `urn:gatehouse`, with `groups` and `repository` claims chosen per client (as a CI issuer
// would).
//
// People: the public native client `gatehouse-cli` (no secret, PKCE, loopback redirect on any
// port, device flow, rotating refresh tokens) and `other-app` (device flow only, to get ID
// tokens meant for another application). Accounts alice and bob sign in through this file's
// own minimal interaction pages (GET /interaction/:uid shows a login form, POST
// /interaction/:uid/login with login=<account> signs in and grants what was asked); their ID
// tokens carry `email`, `name` and `groups`. Test-only: POST /test/accounts/<account> with
// JSON {"groups": [...], "disabled": true|false} changes an account; a disabled account is
// unknown to the provider, so its refresh tokens are refused.
import http from 'node:http';
import Provider from 'oidc-provider';

const claimsByClient = {
  'ci-job': { groups: ['readers'], repository: 'acme/api' },
  'ci-writer': { groups: ['readers', 'writers'], repository: 'acme/api' },
  'ci-other-repo': { groups: ['admins'], repository: 'evil/api' },
};

const accounts = {
  alice: { name: 'Alice Doe', email: 'alice@example.com', groups: ['readers'], disabled: false },
  bob: { name: 'Bob Roe', email: 'bob@example.com', groups: ['readers', 'writers'], disabled: false },
};

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

// Standard output carries the issuer line only: the test stops reading it after that, so the
// provider's notices (console.info) would fail with EPIPE and end the process.
console.info = (...args) => console.error(...args);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    ...Object.keys(claimsByClient).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    {
      client_id: 'gatehouse-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      client_id: 'other-app',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_CODE],
      response_types: [],
      redirect_uris: [],
    },
  ],
  cookies: { keys: ['gatehouse-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // Scope-requested claims (groups) go into the ID token, as most enterprise IdPs do.
  conformIdTokenClaims: false,
  findAccount: (ctx, sub) => {
    const account = accounts[sub];
    if (!account || account.disabled) return undefined;
    return {
      accountId: sub,
      claims: () => ({
        sub,
        name: account.name,
        email: account.email,
        email_verified: true,
        groups: [...account.groups],
      }),
    };
  },
  // Refresh tokens for every client allowed the grant (without requiring prompt=consent for
  // offline_access), independent of the browser session.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: () => false,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) =>
        claimsByClient[client.clientId] ? 'urn:gatehouse' : oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'db',
        audience: 'urn:gatehouse',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => claimsByClient[token.clientId] ?? {},
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

// Poll the device flow every second (the RFC's default of 5 s would only slow the tests).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body.interval = 1;
  }
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch');
  if (action === undefined && req.method === 'GET') {
    return send(res, 200, 'text/html; charset=utf-8', `<!DOCTYPE html><html><body>
<h1>Sign in to the test IdP</h1><p>Client: ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<input type="text" name="login" placeholder="account"/>
<button type="submit">Sign in</button>
</form></body></html>`);
  }
  if (action !== 'login' || req.method !== 'POST') return send(res, 404, 'text/plain', 'not found');
  const form = new URLSearchParams(await readBody(req));
  const accountId = details.session?.accountId ?? form.get('login');
  const account = accounts[accountId];
  if (!account || account.disabled) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: `no such account: ${accountId}`,
    }, { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope ?? 'openid');
  const missing = details.prompt.details ?? {};
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, {
    login: { accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

async function testAdmin(req, res, name) {
  const account = accounts[name];
  if (!account || req.method !== 'POST') return send(res, 404, 'application/json', '{"error":"no such account"}');
  const change = JSON.parse((await readBody(req)) || '{}');
  if (Array.isArray(change.groups)) account.groups = change.groups.map(String);
  if (typeof change.disabled === 'boolean') account.disabled = change.disabled;
  return send(res, 200, 'application/json', JSON.stringify({ account: name, ...account }));
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  const inter = url.pathname.match(/^\/interaction\/([^/]+)(?:\/([^/]+))?$/);
  const admin = url.pathname.match(/^\/test\/accounts\/([^/]+)$/);
  let handled;
  if (inter) handled = interaction(req, res, inter[1], inter[2]);
  else if (admin) handled = testAdmin(req, res, admin[1]);
  else return callback(req, res);
  return handled.catch((err) => {
    console.error('test route error', err);
    if (!res.headersSent) send(res, 500, 'text/plain', String(err));
  });
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
