// A real OpenID Connect provider (oidc-provider, OpenID-certified) for gatehouse's identity
// tests: it listens on 127.0.0.1 on a free port, prints {"issuer": "..."} on one line, and
// issues RS256 JWT access tokens through the client-credentials grant for the resource
// `urn:gatehouse`, with `groups` and `repository` claims chosen per client (as a CI issuer
// would). Stops when its standard input closes (the test ends).
import http from 'node:http';
import Provider from 'oidc-provider';

const claimsByClient = {
  'ci-job': { groups: ['readers'], repository: 'acme/api' },
  'ci-writer': { groups: ['readers', 'writers'], repository: 'acme/api' },
  'ci-other-repo': { groups: ['admins'], repository: 'evil/api' },
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: Object.keys(claimsByClient).map((id) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:gatehouse',
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
server.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
