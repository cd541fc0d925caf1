/**
 * Two OpenFed processes behind one (imagined) load balancer: same public URL, same CSRF secret, same
 * token-signing key, one Redis, different ports. A user signs in at node A and gets tokens from node
 * B without being asked again; signing out at B ends the session at A too. With the key set shared in
 * Redis, a key promoted with `openfed keys` using node A's configuration is what node B signs with,
 * without restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { startRedisServer } from '../helpers/redis.js';
import { craftAuthnRequest, decodeSamlResponse, makeKeyPair, readPostForm, redirectQuery } from '../helpers/saml.js';
import { csrfFrom } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';
import { join } from 'node:path';
import type { KeyChange } from '../../src/cli/keys.js';
import { openfed } from '../keys/cli-runner.js';
import { CookieJar, eventually, send, startOpenFed, type OpenFedProcess } from './processes.js';

const SP = 'https://sp.farm.test';
const REALM = 'urn:app:farm';

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis = await startRedisServer();

function farmConfig(keysConfig?: Record<string, unknown>): Record<string, unknown> {
  const keys = makeKeyPair('OpenFed farm test signing');
  return {
    server: { host: '127.0.0.1', port: 0, baseUrl: 'http://sts.farm.test', workers: 1, shutdownGraceMs: 2000 },
    sessions: { redis: { url: redis.url, keyPrefix: keysConfig ? 'managed-keys:' : 'openfed:' } },
    web: { csrfSecret: 'one-csrf-secret-for-every-node-of-the-farm' },
    keys: keysConfig ?? { signing: { keyFile: join(keys.dir, 'key.pem'), certFile: join(keys.dir, 'cert.pem') } },
    relyingParties: [{ entityId: SP, assertionConsumerServices: [{ url: `${SP}/acs` }], attributes: [{ name: 'upn', source: 'upn' }] }],
    wsfedRelyingParties: [{ realm: REALM, replyUrls: ['https://app.farm.test/wsfed'] }],
    log: { level: 'info' },
  };
}

describe('two OpenFed nodes on one Redis', () => {
  let nodeA: OpenFedProcess;
  let nodeB: OpenFedProcess;

  before(async () => {
    const config = farmConfig();
    [nodeA, nodeB] = await Promise.all([startOpenFed(config), startOpenFed(config)]);
  });
  after(async () => {
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
  });

  test('sign in at A, SSO at B (SAML and WS-Fed) without a prompt, sign out at B ends the session at A', async () => {
    assert.notEqual(nodeA.url, nodeB.url);
    const browser = new CookieJar();
    const at = (node: OpenFedProcess, path: string, options: Parameters<typeof send>[1] = {}) =>
      send(`${node.url}${path}`, { ...options, headers: { ...browser.header(), ...options.headers } }).then((a) => browser.take(a));

    const form = await at(nodeA, '/signin');
    assert.equal(form.status, 200);
    const signedIn = await at(nodeA, '/signin', { form: { _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD } });
    assert.equal(signedIn.status, 303, signedIn.text.slice(0, 300));

    // SAML 2.0 at B: the token straight away, no sign-in page.
    const saml = await at(nodeB, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`);
    assert.equal(saml.status, 200, `expected the POST-binding page, got ${saml.status} ${String(saml.headers.location)}`);
    const post = readPostForm(saml.text);
    assert.equal(post.action, `${SP}/acs`);
    const response = decodeSamlResponse(post.fields.SAMLResponse!);
    assert.match(response, /StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"/);
    assert.ok(response.includes(DEMO_USER), 'the assertion names the user who signed in at A');

    // WS-Federation at B: likewise.
    const wsfed = await at(nodeB, `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}`);
    assert.equal(wsfed.status, 200, `expected the WS-Fed POST page, got ${wsfed.status} ${String(wsfed.headers.location)}`);
    const token = readWsfedPost(wsfed.text);
    assert.equal(token.wa, 'wsignin1.0');
    assert.ok(token.assertion.includes(DEMO_USER));

    // Sign out at B.
    const home = await at(nodeB, '/');
    assert.match(home.text, new RegExp(DEMO_USER.replace('.', '\\.')), 'B knows the session made at A');
    const signedOut = await at(nodeB, '/signout', { form: { _csrf: csrfFrom(home.text) } });
    assert.ok(signedOut.status < 400, `sign-out answered ${signedOut.status}`);

    // The next request at A meets the sign-in page, not a token.
    const again = await at(nodeA, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`);
    assert.equal(again.status, 303);
    assert.match(String(again.headers.location), /^\/signin\?pending=/);
    const homeA = await at(nodeA, '/');
    assert.doesNotMatch(homeA.text, new RegExp(DEMO_USER.replace('.', '\\.')));
  });
});

describe('two OpenFed nodes sharing the key set in Redis', () => {
  let nodeA: OpenFedProcess;
  let nodeB: OpenFedProcess;

  before(async () => {
    const config = farmConfig({ autoRollover: false, refreshSeconds: 1, encryptionSecret: 'one-key-encryption-secret-for-the-farm' });
    [nodeA, nodeB] = await Promise.all([startOpenFed(config), startOpenFed(config)]);
  });
  after(async () => {
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
  });

  test('a key added and promoted with openfed keys (node A\'s configuration) signs at node B without restart', async () => {
    const browser = new CookieJar();
    const at = (node: OpenFedProcess, path: string, options: Parameters<typeof send>[1] = {}) =>
      send(`${node.url}${path}`, { ...options, headers: { ...browser.header(), ...options.headers } }).then((a) => browser.take(a));
    const signingCertOfTokenFrom = async (node: OpenFedProcess): Promise<string> => {
      const answer = await at(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`);
      assert.equal(answer.status, 200, `expected a token from ${node.url}, got ${answer.status}`);
      const xml = decodeSamlResponse(readPostForm(answer.text).fields.SAMLResponse!);
      const cert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(xml)?.[1];
      assert.ok(cert, 'the token carries its signing certificate');
      return cert;
    };

    const form = await at(nodeA, '/signin');
    const signedIn = await at(nodeA, '/signin', { form: { _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD } });
    assert.equal(signedIn.status, 303);
    const before = await signingCertOfTokenFrom(nodeB);
    assert.equal(await signingCertOfTokenFrom(nodeA), before, 'both nodes sign with the one primary created at start');

    const env = { OPENFED_CONFIG: join(nodeA.dataDir, 'openfed.yaml') };
    const ca = makeKeyPair('sts.farm.test (CA-issued)');
    const added = await openfed(['keys', 'add', '--cert', join(ca.dir, 'cert.pem'), '--key', join(ca.dir, 'key.pem'), '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    const { thumbprint } = JSON.parse(added.stdout) as KeyChange;
    const promoted = await openfed(['keys', 'promote', thumbprint, '--json'], env);
    assert.equal(promoted.code, 0, promoted.stderr);

    const expected = ca.certPem.replace(/-----[^-]+-----|\s/g, '');
    await eventually('node B signs with the promoted key', async () => ((await signingCertOfTokenFrom(nodeB)) === expected ? true : undefined));
    assert.notEqual(expected, before);
    const metadata = await send(`${nodeB.url}/FederationMetadata/2007-06/FederationMetadata.xml`);
    assert.ok(metadata.text.includes(expected), 'node B publishes the new primary');
    assert.ok(metadata.text.includes(before), 'and still the old one, until it expires');
  });
});
