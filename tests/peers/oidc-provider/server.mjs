// The second real IdP of the end-to-end tests: panva's oidc-provider (pinned in package-lock.json, installed
// with `npm ci` by scripts/setup.sh), on 127.0.0.1 only. Usage: node server.mjs PORT
// Prints "ready <issuer>" on stdout once it listens. Its keys and storage are the in-memory development
// defaults: fine for tests, never for production.
//
// Clients: `kong` (the gateway: introspects every client's tokens; RFC 9701 signed answers with RS256 when it
// asks with Accept: application/token-introspection+jwt) and `app` (a caller: client_credentials). A
// client_credentials token is opaque, unless the request names a `resource`: then it is a JWT access token
// (`typ: at+jwt`, RS256) for that audience.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const client = (id, secret, extra = {}) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'read write',
  ...extra,
});

const provider = new Provider(issuer, {
  clients: [
    client('kong', 'kong-secret', { introspection_signed_response_alg: 'RS256' }),
    client('app', 'app-secret'),
  ],
  scopes: ['read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: async (_ctx, resource) => ({
        scope: 'read write',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});

const server = http.createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
