// node oidc-provider with its default in-memory adapter, for bench/run.sh:
// one confidential client with the client_credentials grant, token
// introspection on, and a resource server whose access tokens are ES256
// JWTs. Prints {"port": N} once it listens on 127.0.0.1.
//
// Usage: node oidc_provider_server.mjs NODE_MODULES
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.argv[2];
const require = createRequire(join(modules, 'resolve.js'));
const { default: Provider } = await import(
  pathToFileURL(require.resolve('oidc-provider')).href);

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }),
  kid: 'bench-es256', alg: 'ES256', use: 'sig' };

export const resource = 'urn:sigil-bench:api';

const provider = new Provider('http://127.0.0.1', {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-client-secret-not-a-real-one',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey] },
  scopes: ['api:read'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter the token is opaque (introspected);
      // with it, an ES256 JWT for that resource server.
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: () => ({
        scope: 'api:read',
        audience: resource,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});

const server = createServer(provider.callback());
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
// Exit (rather than die by the signal) so that profilers write their data.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
