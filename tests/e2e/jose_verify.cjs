// node `jose` verifies a sigild token with createRemoteJWKSet + jwtVerify.
//
// Usage: node jose_verify.cjs NODE_MODULES BASE_URL ISSUER ISSUE_JSON_FILE
//
// NODE_MODULES holds jose (scripts/install-deps.sh puts it in
// .deps/node/node_modules); BASE_URL is sigild's --http_listen as
// http://host:port. The key set URL comes from OIDC discovery. Exits 0 when
// the token verifies with typ at+jwt, issuer and audience, and a tampered
// token, another audience and another issuer are rejected.
'use strict';

const fs = require('fs');
const path = require('path');
const {createRequire} = require('module');

function fail(message) {
  console.error(`jose_verify: FAIL: ${message}`);
  process.exit(1);
}

async function expectRejected(name, promise, code) {
  try {
    await promise;
  } catch (e) {
    if (e.code !== code) fail(`${name}: rejected with ${e.code}, want ${code}`);
    return;
  }
  fail(`jose accepted ${name}`);
}

async function main() {
  if (process.argv.length !== 6) {
    fail('usage: jose_verify.cjs NODE_MODULES BASE_URL ISSUER ISSUE_JSON_FILE');
  }
  const [modules, baseUrl, issuer, issueFile] = process.argv.slice(2);
  const jose = createRequire(path.join(modules, 'jose.cjs'))('jose');
  const token = JSON.parse(fs.readFileSync(issueFile, 'utf8')).access_token;

  const response = await fetch(`${baseUrl}/.well-known/openid-configuration`);
  if (!response.ok) fail(`discovery answered ${response.status}`);
  const config = await response.json();
  if (config.issuer !== issuer) fail(`discovery issuer is ${config.issuer}`);
  const jwks = jose.createRemoteJWKSet(new URL(config.jwks_uri));
  const options = {issuer, audience: 'A', typ: 'at+jwt'};

  const {payload, protectedHeader} = await jose.jwtVerify(token, jwks, options)
      .catch((e) => fail(`jose rejected the token: ${e.code} ${e.message}`));
  if (protectedHeader.typ !== 'at+jwt') fail(`typ is ${protectedHeader.typ}`);
  if (payload.sub !== 'u') fail(`sub is ${payload.sub}`);

  const [head, body, signature] = token.split('.');
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
  await expectRejected('a token with a changed signature',
      jose.jwtVerify([head, body, flipped].join('.'), jwks, options),
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  const claims = JSON.parse(Buffer.from(body, 'base64url'));
  claims.sub = 'mallory';
  const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
  await expectRejected('a token with a changed subject',
      jose.jwtVerify([head, forged, signature].join('.'), jwks, options),
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await expectRejected('another audience',
      jose.jwtVerify(token, jwks, {...options, audience: 'Z'}),
      'ERR_JWT_CLAIM_VALIDATION_FAILED');
  await expectRejected('another issuer',
      jose.jwtVerify(token, jwks, {...options, issuer: 'https://other.test'}),
      'ERR_JWT_CLAIM_VALIDATION_FAILED');
  console.log('jose_verify: jose verifies the token as at+jwt for A; ' +
              'rejects tampering, audience Z and another issuer');
}

main().catch((e) => fail(e.stack));
