// The organization's identity provider in the sign-in tests: oidc-provider (an OpenID Connect
// provider library) with its development sign-in pages, which accept any login name.
//
// Usage: node idp.mjs <port> <client id> <client secret> <redirect uri>
// Prints `ready <issuer>` once it listens. Every account's ID token carries `sub` (the login
// name), `email`, `groups` and `tenant`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node idp.mjs <port> <client id> <client secret> <redirect uri>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-idp-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email'],
    profile: ['name', 'groups', 'tenant'],
  },
  // Claims asked for by scope go into the ID token as well, not only to the userinfo endpoint.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          name: id,
          groups: ['finance', 'staff'],
          tenant: 'acme',
        };
      },
    };
  },
});
// Quiet: the tests read stdout for the ready line only.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
