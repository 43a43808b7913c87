// The second real IdP of the end-to-end tests: panva's oidc-provider (pinned in package-lock.json, installed
// with `npm ci` by scripts/setup.sh), on 127.0.0.1 only. Usage: node server.mjs PORT
// Prints "ready <issuer>" on stdout once it listens. Its keys and storage are the in-memory development
// defaults: fine for tests, never for production.
//
// With a second argument DIR (client-authentication mode), it also generates, in DIR: signing keys
// (`keys.json`: private JWKs `es256`, `rs256` registered for the gateway's clients, `unregistered`), a CA,
// a TLS server certificate and the gateway's client certificate (`client.pem`/`client.key`, CN=kong-mtls, by
// the CA) and a rogue one (`rogue.pem`/`rogue.key`, same CN, another CA); it serves the provider over HTTPS
// too (port in `keys.json` as `tls_port`), asking for client certificates (mTLS `tls_client_auth`), and adds
// the gateway's clients `kong-pkjwt-es` / `kong-pkjwt-rs` (private_key_jwt), `kong-csjwt`
// (client_secret_jwt), `kong-mtls` (tls_client_auth). Calling clients `app-groups` and `app-forbidden` get
// opaque tokens with `groups`/`roles` claims (and an `act` claim for the latter) in their introspection;
// `app-mtls` gets certificate-bound tokens (RFC 8705 `cnf.x5t#S256`) when it asks on the HTTPS side with a
// client certificate.
//
// Clients: `kong` (the gateway: introspects every client's tokens; RFC 9701 signed answers with RS256 when it
// asks with Accept: application/token-introspection+jwt) and `app` (a caller: client_credentials). A
// client_credentials token is opaque, unless the request names a `resource`: then it is a JWT access token
// (`typ: at+jwt`, RS256) for that audience.
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
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

const dir = process.argv[3];
const extraClients = [];
let tls;
if (dir) {
  const jwk = (kp) => kp.privateKey.export({ format: 'jwk' });
  const es = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rs = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = (kp, kid) => ({ ...kp.publicKey.export({ format: 'jwk' }), kid });
  const keys = {
    es256: { ...jwk(es), kid: 'gw-es' },
    rs256: { ...jwk(rs), kid: 'gw-rs' },
    unregistered: { ...jwk(other), kid: 'gw-es' },
  };
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ca = (name) => ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.pem`);
  const leaf = (name, cn, by, ext) => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-CAcreateserial',
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  ca('ca');
  ca('rogue-ca');
  leaf('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1\n');
  leaf('client', 'kong-mtls', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue', 'kong-mtls', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  const read = (f) => fs.readFileSync(path.join(dir, f));
  tls = { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem') };
  extraClients.push(
    client('kong-pkjwt-es', undefined, { token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [pub(es, 'gw-es')] } }),
    client('kong-pkjwt-rs', undefined, { token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [pub(rs, 'gw-rs')] } }),
    client('kong-csjwt', 'kong-csjwt-secret-0123456789-0123456789-0123456789',
      { token_endpoint_auth_method: 'client_secret_jwt' }),
    client('kong-mtls', undefined, { token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=kong-mtls' }),
    client('app-groups', 'app-secret'),
    client('app-mtls', 'app-secret', { tls_client_certificate_bound_access_tokens: true }),
    client('app-forbidden', 'app-secret'),
  );
  tls.keysFile = path.join(dir, 'keys.json');
  tls.keys = keys;
}

const peer = (ctx) => ctx.socket?.getPeerCertificate?.();
const provider = new Provider(issuer, {
  clients: [
    client('kong', 'kong-secret', { introspection_signed_response_alg: 'RS256' }),
    client('app', 'app-secret'),
    ...extraClients,
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt',
    'tls_client_auth', 'none'],
  extraTokenClaims: async (_ctx, token) => {
    if (token.clientId === 'app-groups') return { groups: ['admins', 'dev'], roles: 'reader' };
    if (token.clientId === 'app-forbidden') return { groups: ['admins', 'dev'], roles: 'reader', act: { sub: 'x' } };
    return undefined;
  },
  scopes: ['read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    mTLS: {
      enabled: true,
      tlsClientAuth: true,
      certificateBoundAccessTokens: true,
      getCertificate: (ctx) => {
        const p = peer(ctx);
        return p && p.raw ? new crypto.X509Certificate(p.raw) : undefined;
      },
      certificateAuthorized: (ctx) => ctx.socket?.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) =>
        property === 'tls_client_auth_subject_dn' && `CN=${peer(ctx)?.subject?.CN}` === expected,
    },
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
let secure;
const listening = new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const ready = tls
  ? listening.then(() => new Promise((resolve) => {
    secure = https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true,
      rejectUnauthorized: false }, provider.callback());
    secure.listen(0, '127.0.0.1', () => {
      fs.writeFileSync(tls.keysFile, JSON.stringify({ ...tls.keys, tls_port: secure.address().port }));
      resolve();
    });
  }))
  : listening;
ready.then(() => console.log(`ready ${issuer}`));
const stop = () => { secure?.close(); server.close(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
