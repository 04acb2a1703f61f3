// ES256 JWT verification rate of node jose and fast-jwt on one core (one
// JavaScript thread), each for SECONDS, on one token signed with a fresh
// P-256 key. fast-jwt's verdict cache is off: every call checks the
// signature. Prints {"jose": {"wall": per_second, "cpu": per_cpu_second},
// "fast_jwt": {...}}: per CPU second (user + system) is what `openssl speed`
// counts too, so the ratio holds on a machine other work shares.
//
// Usage: node jwt_verify.mjs NODE_MODULES SECONDS
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modules, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const require = createRequire(join(modules, 'resolve.js'));
const jose = await import(pathToFileURL(require.resolve('jose')).href);
const { createSigner, createVerifier } = require('fast-jwt');

const { privateKey, publicKey } = generateKeyPairSync('ec', {
  namedCurve: 'P-256',
});
const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
const now = Math.floor(Date.now() / 1000);
const token = createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  algorithm: 'ES256', header: { typ: 'at+jwt', kid: 'bench' } })({
  iss: 'bench', sub: 'alice', aud: 'A', iat: now, exp: now + 3600,
  jti: 'bench-jti', scope: 'orders.read',
});

// Calls `once` until SECONDS have passed; returns calls per second of
// wall-clock and of CPU time.
async function rate(once) {
  let n = 0;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) await once();
    n += 100;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { wall: n / (Number(now - start) / 1e9),
    cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

const joseKey = await jose.importSPKI(publicPem, 'ES256');
const joseRate = await rate(async () => {
  const { payload } = await jose.jwtVerify(token, joseKey, {
    algorithms: ['ES256'], issuer: 'bench', audience: 'A',
  });
  if (payload.sub !== 'alice') throw new Error('jose: wrong subject');
});
const verify = createVerifier({ key: publicPem, algorithms: ['ES256'],
  allowedIss: 'bench', allowedAud: 'A', cache: false });
const fastRate = await rate(() => {
  if (verify(token).sub !== 'alice') throw new Error('fast-jwt: wrong subject');
});
console.log(JSON.stringify({ jose: joseRate, fast_jwt: fastRate }));
