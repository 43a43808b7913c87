// DPoP proofs for the benchmark (bench/dpop_rows.py): one Ed25519 key (kept in KEYFILE, made on first use),
// PER_THREAD fresh proofs (random jti, iat now, ath of TOKEN) for GET HTU in OUT-<t>.txt for each of THREADS
// wrk threads, one a line. Prints the key's RFC 7638 thumbprint (the token's cnf.jkt).
// Usage: node dpop_proofs.mjs KEYFILE OUT THREADS PER_THREAD HTU TOKEN
import crypto from 'node:crypto';
import fs from 'node:fs';

const [keyFile, out, threads, perThread, htu, token] = process.argv.slice(2);
if (!fs.existsSync(keyFile)) {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
}
const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
const { x } = crypto.createPublicKey(key).export({ format: 'jwk' });
const b64 = (b) => Buffer.from(b).toString('base64url');
const header = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x } }));
const ath = b64(crypto.createHash('sha256').update(token).digest());
const iat = Math.floor(Date.now() / 1000);
for (let t = 0; t < Number(threads); t += 1) {
  const lines = [];
  for (let i = 0; i < Number(perThread); i += 1) {
    const payload = b64(JSON.stringify({ jti: crypto.randomBytes(12).toString('hex'), htm: 'GET', htu, iat, ath }));
    const input = `${header}.${payload}`;
    lines.push(`${input}.${b64(crypto.sign(null, Buffer.from(input), key))}`);
  }
  fs.writeFileSync(`${out}-${t}.txt`, `${lines.join('\n')}\n`);
}
const canonical = JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x });
console.log(b64(crypto.createHash('sha256').update(canonical).digest()));
