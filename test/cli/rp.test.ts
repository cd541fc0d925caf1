/**
 * `openfed rp add|remove|refresh|list`, spawned as an admin runs them, against live OpenFed servers:
 * two nodes on one real Redis (a farm), and one node with the file store (no Redis). Nodes pick the
 * changes up through the store's version within relyingPartyRegistry.pollSeconds (1 s here).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { SAML } from '@node-saml/node-saml';
import request from 'supertest';
import { stringify } from 'yaml';
import type { RpListing } from '../../src/cli/rp.js';
import { parseXml } from '../../src/xml/parse.js';
import { craftAuthnRequest, decodeSamlResponse, redirectQuery } from '../helpers/saml.js';
import { startRedisServer } from '../helpers/redis.js';
import { signOnThroughForm, startTestServer, type TestServer } from '../helpers/server.js';
import { signElement } from '../../src/xml/sign.js';
import { simpleSpMetadata, testKey } from '../relying-parties/fixtures.js';

const run = promisify(execFile);
/** Signed requests name the IdP as Destination: node-saml's entryPoint below. */
const IDP = { baseUrl: 'http://127.0.0.1' };
const redis = await startRedisServer();
const dir = mkdtempSync(join(tmpdir(), 'openfed-rp-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ------------------------------------------------------------------------------------------ helpers

let n = 0;
function configFile(input: Record<string, unknown>): { file: string; dataDir: string } {
  const sub = join(dir, `c${n++}`);
  mkdirSync(sub, { recursive: true });
  const file = join(sub, 'openfed.yaml');
  const dataDir = join(sub, 'data');
  writeFileSync(file, stringify({ dataDir, ...input }));
  return { file, dataDir };
}

async function openfed(args: string[], config?: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, ...(config ? { OPENFED_CONFIG: config } : {}) },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Waits for a node to pick up a change through its poll; gives up (and fails, with the last answer) after 15 s. */
async function eventually(what: string, probe: () => Promise<{ status: number; text: string }>, done: (r: { status: number }) => boolean = accepted): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await probe();
    if (done(r)) return;
    if (Date.now() > deadline) assert.fail(`not within 15 s: ${what} (last answer ${r.status}: ${describeAnswer(r.text)})`);
    await sleep(200);
  }
}
const refused = (r: { status: number }) => r.status === 400;
function describeAnswer(text: string): string {
  const response = /name="SAMLResponse" value="([^"]+)"/.exec(text)?.[1];
  if (response) return Buffer.from(response, 'base64').toString('utf8').match(/StatusCode Value="[^"]+"|StatusMessage>[^<]*/g)?.join(' ') ?? 'a SAML response';
  return text.replace(/\s+/g, ' ').slice(0, 300);
}

/** A Redirect-binding AuthnRequest signed as an SP would, with node-saml. */
async function signedQuery(issuer: string, acs: string, keyPem: string): Promise<string> {
  // identifierFormat null: no NameIDPolicy, so the SP's configured NameID format answers.
  const saml = new SAML({ issuer, callbackUrl: acs, entryPoint: 'http://127.0.0.1/adfs/ls/', idpCert: 'x', privateKey: keyPem, signatureAlgorithm: 'sha256', identifierFormat: null });
  return new URL(await saml.getAuthorizeUrlAsync('', undefined, {})).search.slice(1);
}

/** 303 to the sign-in page: the node knows the relying party; 400 page: it does not (or refused the request). */
async function answer(server: TestServer, path: string): Promise<{ status: number; text: string }> {
  const res = await request(server.url).get(path);
  return { status: res.status, text: res.text };
}
const accepted = (r: { status: number }) => r.status === 303;

/** Signs in at OpenFed from a protocol request and returns where the token is posted. */
function signOn(server: TestServer, path: string): Promise<{ action: string; fields: Record<string, string> }> {
  return signOnThroughForm(server.url, path);
}

/** A local web server for SP metadata (what the SP publishes can change during a test). */
async function metadataServer(): Promise<{ base: string; documents: Map<string, string | Buffer>; close(): Promise<void> }> {
  const documents = new Map<string, string | Buffer>();
  const server: Server = createServer((req, res) => {
    const body = documents.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    documents,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function auditOf(dataDir: string): Array<Record<string, unknown>> {
  return readFileSync(join(dataDir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** One line on stderr, prefixed, no stack trace. */
function assertOneLineError(res: { code: number; stdout: string; stderr: string }, pattern: RegExp, what: string): void {
  assert.equal(res.code, 1, `${what}: ${res.stdout}${res.stderr}`);
  assert.match(res.stderr, /^openfed: [^\n]+\n$/, `${what}: ${res.stderr}`);
  assert.match(res.stderr, pattern, what);
  assert.doesNotMatch(res.stderr, /\n\s+at /, what);
}

// -------------------------------------------------------------------------------------------- tests

describe('openfed rp: a farm of two nodes on one Redis', () => {
  test('add from a metadata URL reaches both running nodes; refresh brings a new SP certificate; remove ends it — no restart', async () => {
    const keyPrefix = 'rpfarm:';
    const sessions = { redis: { url: redis.url, keyPrefix } };
    const md = await metadataServer();
    const nodes = [
      await startTestServer({ server: IDP, sessions, relyingPartyRegistry: { pollSeconds: 1 } }),
      await startTestServer({ server: IDP, sessions, relyingPartyRegistry: { pollSeconds: 1 } }),
    ];
    try {
      const SP = 'https://wiki.example.test/shibboleth';
      const ACS = 'https://wiki.example.test/Shibboleth.sso/SAML2/POST';
      const oldKey = testKey('rp-cli-old');
      const newKey = testKey('rp-cli-new');
      md.documents.set('/md', simpleSpMetadata({ entityId: SP, acs: [{ url: ACS, index: 1, isDefault: true }], signing: oldKey }));
      const { file, dataDir } = configFile({ sessions, relyingPartyRegistry: { pollSeconds: 1 } });

      for (const node of nodes) {
        const before = await answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, oldKey.keyPem)}`);
        assert.equal(before.status, 400);
        assert.match(before.text, /not registered with this sign-in service/);
      }

      const added = await openfed(['rp', 'add', '--metadata-url', `${md.base}/md`, '--name', 'Research wiki', '--require-signed-requests', '--json'], file);
      assert.equal(added.code, 0, added.stderr);
      const result = JSON.parse(added.stdout) as { protocol: string; id: string; store: string; endpoints: string[] };
      assert.deepEqual({ ...result, metadata: undefined }, { protocol: 'saml2', id: SP, name: 'Research wiki', store: 'redis', endpoints: [ACS], metadata: undefined });

      // Both nodes, neither restarted: a request signed with the SP's key is accepted, and the token goes to the ACS from its metadata.
      for (const node of nodes) {
        await eventually('node accepts the added SP', async () => answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, oldKey.keyPem)}`));
      }
      const posted = await signOn(nodes[1]!, `/adfs/ls/?${await signedQuery(SP, ACS, oldKey.keyPem)}`);
      assert.equal(posted.action, ACS);
      assert.ok(posted.fields.SAMLResponse);
      // It must sign: an unsigned request is refused, as configured with --require-signed-requests.
      const unsigned = await answer(nodes[0]!, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`);
      assert.equal(unsigned.status, 400);
      assert.match(unsigned.text, /not signed as this application/);

      // The SP rolls its key: after `rp refresh`, every node trusts the new one and only it.
      md.documents.set('/md', simpleSpMetadata({ entityId: SP, acs: [{ url: ACS, index: 1, isDefault: true }], signing: newKey }));
      const refreshed = await openfed(['rp', 'refresh', SP, '--json'], file);
      assert.equal(refreshed.code, 0, refreshed.stdout + refreshed.stderr);
      assert.deepEqual((JSON.parse(refreshed.stdout) as Array<{ entityId: string; ok: boolean }>).map((r) => [r.entityId, r.ok]), [[SP, true]]);
      for (const node of nodes) {
        await eventually('node trusts the refreshed certificate', async () => answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, newKey.keyPem)}`));
        const stale = await answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, oldKey.keyPem)}`);
        assert.equal(stale.status, 400);
        assert.match(stale.text, /not signed as this application/);
      }

      // rp list: the added SP with its source, endpoints, certificate and the age of the shared copy.
      const listed = await openfed(['rp', 'list', '--json'], file);
      assert.equal(listed.code, 0, listed.stderr);
      const listing = JSON.parse(listed.stdout) as RpListing;
      assert.equal(listing.store, 'redis');
      const sp = listing.saml.find((rp) => rp.entityId === SP);
      assert.ok(sp, listed.stdout);
      assert.equal(sp.source, 'added');
      assert.equal(sp.name, 'Research wiki');
      assert.deepEqual(sp.acs, [ACS]);
      assert.deepEqual(sp.certificates.map((c) => [c.use, c.sha256]), [['signing', newKey.certificate.fingerprint256]]);
      assert.ok(sp.certificates[0]!.daysLeft >= 28 && sp.certificates[0]!.daysLeft <= 30);
      assert.equal(sp.metadata?.url, `${md.base}/md`);
      assert.equal(typeof sp.metadata?.ageSeconds, 'number');
      assert.equal(typeof sp.added?.by, 'string');
      const text = await openfed(['rp', 'list'], file);
      assert.match(text.stdout, /https:\/\/wiki\.example\.test\/shibboleth\s+\(Research wiki\)\s+\[from added\]/);
      assert.match(text.stdout, /metadata:\s+http:\/\/127\.0\.0\.1:\d+\/md \(fetched \d+ s ago\)/);

      // A broken entry written into Redis by hand is skipped; the nodes keep serving the others.
      await redis.command('HSET', `${keyPrefix}{rp}:reg`, 'https://broken.example.test', '{"v":1,"kind":"saml","config":{"entityId":42}}');
      await redis.command('INCR', `${keyPrefix}{rp}:ver`);
      await sleep(1500);
      assert.ok(accepted(await answer(nodes[0]!, `/adfs/ls/?${await signedQuery(SP, ACS, newKey.keyPem)}`)));
      await redis.command('HDEL', `${keyPrefix}{rp}:reg`, 'https://broken.example.test');

      const removed = await openfed(['rp', 'remove', SP], file);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, /^Removed https:\/\/wiki\.example\.test\/shibboleth\.\n$/);
      for (const node of nodes) {
        await eventually('node refuses the removed SP', async () => answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, newKey.keyPem)}`), refused);
      }
      const again = await openfed(['rp', 'remove', SP], file);
      assertOneLineError(again, /no relying party "https:\/\/wiki\.example\.test\/shibboleth" was added with openfed rp add/, 'remove twice');

      const trail = auditOf(dataDir).filter((e) => e.type === 'admin.change' && e.target === SP).map((e) => e.command);
      assert.deepEqual(trail, ['rp add', 'rp refresh', 'rp remove']);
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
      await md.close();
    }
  });

  test('a refresh whose metadata is not signed by the pinned certificate changes nothing', async () => {
    const keyPrefix = 'rppin:';
    const sessions = { redis: { url: redis.url, keyPrefix } };
    const md = await metadataServer();
    const node = await startTestServer({ server: IDP, sessions, relyingPartyRegistry: { pollSeconds: 1 } });
    try {
      const SP = 'https://pinned.example.test';
      const ACS = `${SP}/acs`;
      const signer = testKey('rp-cli-md-signer');
      const spKey = testKey('rp-cli-pinned-sp');
      const sign = (xml: string) => signElement(xml, { key: signer, algorithm: 'rsa-sha256', referenceId: '_sp-metadata' });
      md.documents.set('/md', sign(simpleSpMetadata({ entityId: SP, acs: [{ url: ACS, index: 0 }], signing: spKey })));
      const { file } = configFile({ sessions });
      const added = await openfed(['rp', 'add', '--metadata-url', `${md.base}/md`, '--metadata-signing-cert', signer.certPath], file);
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /Added SAML 2\.0 service provider https:\/\/pinned\.example\.test \(Redis: every node\)/);
      // The fixture's metadata says AuthnRequestsSigned="true": the SP signs, with the key from its metadata.
      await eventually('node accepts the SP', async () => answer(node, `/adfs/ls/?${await signedQuery(SP, ACS, spKey.keyPem)}`));
      const unsigned = await answer(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`);
      assert.equal(unsigned.status, 400, 'no --require-signed-requests given: the metadata decides');
      assert.match(unsigned.text, /not signed as this application/);

      // Unsigned metadata now: refused by refresh, the shared copy stays, the node keeps the ACS.
      md.documents.set('/md', simpleSpMetadata({ entityId: SP, acs: [{ url: 'https://attacker.example.test/acs', index: 0 }] }));
      const refreshed = await openfed(['rp', 'refresh'], file);
      assert.equal(refreshed.code, 1);
      assert.match(refreshed.stdout, /^FAIL\s+https:\/\/pinned\.example\.test\s+metadata signature not accepted/m);
      await sleep(1500);
      const posted = await signOn(node, `/adfs/ls/?${await signedQuery(SP, ACS, spKey.keyPem)}`);
      assert.equal(posted.action, ACS);
    } finally {
      await node.stop();
      await md.close();
    }
  });
});

describe('openfed rp: one node, file store (no Redis)', () => {
  test('manual SAML, metadata file and WS-Fed relying parties reach the running node; configured ones cannot be removed; duplicates refused', async () => {
    const CONFIGURED = 'https://configured.example.test';
    const relyingParties = [{ entityId: CONFIGURED, assertionConsumerServices: [{ url: `${CONFIGURED}/acs` }] }];
    const { file, dataDir } = configFile({ relyingParties, relyingPartyRegistry: { pollSeconds: 1 } });
    const node = await startTestServer({ server: IDP, dataDir, relyingParties, relyingPartyRegistry: { pollSeconds: 1 } });
    try {
      // Manual SAML with a signing certificate (stored inline: other nodes do not have the admin's files).
      const MANUAL = 'https://manual.example.test/saml';
      const manualKey = testKey('rp-cli-manual');
      const manual = await openfed(
        ['rp', 'add', '--entity-id', MANUAL, '--acs-url', `${MANUAL}/acs`, '--slo-url', `${MANUAL}/slo`, '--signing-cert', manualKey.certPath, '--name-id-format', 'emailAddress', '--sign-response', '--json'],
        file,
      );
      assert.equal(manual.code, 0, manual.stderr);
      assert.equal((JSON.parse(manual.stdout) as { store: string }).store, 'file');
      const storeFile = join(dataDir, 'relying-parties.json');
      assert.ok(existsSync(storeFile));
      assert.equal(statSync(storeFile).mode & 0o777, 0o600);
      assert.ok(readFileSync(storeFile, 'utf8').includes('BEGIN CERTIFICATE'), 'certificate stored inline');
      await eventually('node accepts the manual SP', async () => answer(node, `/adfs/ls/?${await signedQuery(MANUAL, `${MANUAL}/acs`, manualKey.keyPem)}`));
      const token = await signOn(node, `/adfs/ls/?${await signedQuery(MANUAL, `${MANUAL}/acs`, manualKey.keyPem)}`);
      assert.equal(token.action, `${MANUAL}/acs`);
      assert.match(Buffer.from(token.fields.SAMLResponse!, 'base64').toString('utf8'), /nameid-format:emailAddress/);

      // From a metadata file, entityID read from it. Its metadata declares AuthnRequestsSigned="true" and
      // an encryption key; the admin overrides both, as Set-AdfsRelyingPartyTrust -EncryptClaims $false would.
      const FROM_FILE = 'https://file.example.test';
      const metadataFile = join(dir, 'sp-metadata.xml');
      writeFileSync(metadataFile, simpleSpMetadata({ entityId: FROM_FILE, acs: [{ url: `${FROM_FILE}/acs`, index: 3 }], encryption: testKey('rp-cli-file-enc') }));
      const fromFile = await openfed(['rp', 'add', '--metadata-file', metadataFile, '--no-require-signed-requests', '--no-encrypt-claims'], file);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.equal(fromFile.stderr, '');
      assert.match(fromFile.stdout, /Added SAML 2\.0 service provider https:\/\/file\.example\.test \(data directory\)/);
      assert.match(fromFile.stdout, /Metadata from .*sp-metadata\.xml: 1 ACS, 1 SLO, 0 signing and 1 encryption certificate\(s\), AuthnRequestsSigned/);
      await eventually('node accepts the SP from a metadata file', () => answer(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: FROM_FILE, acsIndex: 3 }).xml)}`));
      const plain = decodeSamlResponse((await signOn(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: FROM_FILE, acsIndex: 3 }).xml)}`)).fields.SAMLResponse!);
      const carried = (name: string) => parseXml(plain).documentElement!.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', name).length;
      assert.deepEqual([carried('Assertion'), carried('EncryptedAssertion')], [1, 0], '--no-encrypt-claims: not encrypted');

      // The same kind of metadata without a signing key, added as is: it must sign and cannot, so it fails
      // closed (every AuthnRequest refused) and rp add says so.
      const NO_KEY = 'https://no-key.example.test';
      const noKeyFile = join(dir, 'no-key-metadata.xml');
      writeFileSync(noKeyFile, simpleSpMetadata({ entityId: NO_KEY, acs: [{ url: `${NO_KEY}/acs`, index: 0 }] }));
      const noKey = await openfed(['rp', 'add', '--metadata-file', noKeyFile], file);
      assert.equal(noKey.code, 0, noKey.stderr);
      assert.match(noKey.stderr, /^openfed: warning: https:\/\/no-key\.example\.test must sign its AuthnRequests \(its metadata says AuthnRequestsSigned="true"\) but no signing certificate is known: every AuthnRequest from it is refused until .*--no-require-signed-requests\)\n$/);
      await eventually(
        'node refuses the unsigned request of the SP that must sign',
        () => answer(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: NO_KEY }).xml)}`),
        (r) => r.status === 400 && /not signed as this application/.test((r as { status: number; text?: string }).text ?? ''),
      );

      // WS-Federation.
      const REALM = 'urn:example:added-app';
      const wsfedPath = `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}`;
      assert.equal((await answer(node, wsfedPath)).status, 400);
      const wsfed = await openfed(['rp', 'add', '--wsfed', '--realm', REALM, '--reply-url', 'https://app.example.test/signin-wsfed', '--claim', 'http://schemas.xmlsoap.org/claims/UPN=upn'], file);
      assert.equal(wsfed.code, 0, wsfed.stderr);
      await eventually('node accepts wsignin for the added realm', () => answer(node, wsfedPath));
      const wsToken = await signOn(node, wsfedPath);
      assert.equal(wsToken.action, 'https://app.example.test/signin-wsfed');
      assert.match(wsToken.fields.wresult ?? '', /http:\/\/schemas\.xmlsoap\.org\/claims/);

      const text = await openfed(['rp', 'list'], file);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /https:\/\/configured\.example\.test\s+\[from config\]/);
      assert.match(text.stdout, /https:\/\/manual\.example\.test\/saml\s+\[from added\]/);
      assert.match(text.stdout, /signing cert:\s+CN=rp-cli-manual, until \S+ \(\d+ days left\)/);
      const block = (id: string) => text.stdout.slice(text.stdout.indexOf(`  ${id}`)).split(/\n  (?=\S)/)[0]!;
      assert.match(block(FROM_FILE), /signed requests: not required\n/);
      assert.match(block(FROM_FILE), /encryption:\s+none \(encryptClaims is false\)\n/);
      assert.match(block(FROM_FILE), /encryption cert:\s+CN=rp-cli-file-enc/);
      assert.match(block(NO_KEY), /signed requests: required, but no signing certificate is known: every request is refused\n/);
      const json = JSON.parse((await openfed(['rp', 'list', '--json'], file)).stdout) as RpListing;
      const listed = (id: string) => json.saml.find((rp) => rp.entityId === id);
      assert.deepEqual([listed(FROM_FILE)?.requireSignedRequests, listed(FROM_FILE)?.encryptAssertions], [false, false]);
      assert.deepEqual([listed(NO_KEY)?.requireSignedRequests, listed(NO_KEY)?.encryptAssertions], [true, false]);
      assert.match(text.stdout, /urn:example:added-app\s+\[from added\]/);

      // Duplicates, whichever side owns the identifier.
      assertOneLineError(await openfed(['rp', 'add', '--entity-id', CONFIGURED, '--acs-url', 'https://x.example.test/acs'], file), /already a relying party in the configuration file/, 'configured duplicate');
      assertOneLineError(await openfed(['rp', 'add', '--entity-id', MANUAL, '--acs-url', 'https://x.example.test/acs'], file), /already a relying party \(added earlier/, 'added duplicate');
      assertOneLineError(await openfed(['rp', 'add', '--wsfed', '--realm', MANUAL, '--reply-url', 'https://x.example.test/'], file), /already a relying party/, 'duplicate across protocols');

      // A configured one is the configuration file's.
      assertOneLineError(await openfed(['rp', 'remove', CONFIGURED], file), /comes from the configuration file .*remove it there/, 'configured remove');
      assertOneLineError(await openfed(['rp', 'refresh', MANUAL], file), /has no metadata URL/, 'refresh without URL');

      for (const id of [REALM, MANUAL]) assert.equal((await openfed(['rp', 'remove', id], file)).code, 0);
      await eventually('node refuses the removed realm', () => answer(node, wsfedPath), refused);
      await eventually('node refuses the removed SP', async () => answer(node, `/adfs/ls/?${await signedQuery(MANUAL, `${MANUAL}/acs`, manualKey.keyPem)}`), refused);
      assert.ok(accepted(await answer(node, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: CONFIGURED }).xml)}`)), 'configured SP untouched');
    } finally {
      await node.stop();
    }
  });
});

describe('openfed rp add: hostile or mistaken input is one clear line and exit 1', () => {
  test('URL schemes, unreadable certificates, oversized or foreign metadata, bad options', async () => {
    const md = await metadataServer();
    try {
      md.documents.set('/huge', Buffer.alloc(1_048_577, 'a'));
      md.documents.set('/other', simpleSpMetadata({ entityId: 'https://other.example.test' }));
      const hugeFile = join(dir, 'huge.xml');
      writeFileSync(hugeFile, Buffer.alloc(1_048_577, 'a'));
      const garbageCert = join(dir, 'garbage.pem');
      writeFileSync(garbageCert, 'not a certificate');
      const { file } = configFile({});
      const SP = ['--entity-id', 'https://sp.example.test'];
      const probe = createNetServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const closedPort = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const cases: Array<[string, string[], RegExp]> = [
        ['ftp metadata URL', ['--metadata-url', 'ftp://sp.example.test/md'], /--metadata-url: the ftp:\/\/ scheme is not allowed/],
        ['file metadata URL', ['--metadata-url', 'file:///etc/passwd'], /--metadata-url: the file:\/\/ scheme is not allowed/],
        ['javascript metadata URL', ['--metadata-url', 'javascript:alert(1)'], /--metadata-url: the javascript:\/\/ scheme is not allowed/],
        ['not a URL', ['--metadata-url', 'sp.example.test/md'], /--metadata-url "sp\.example\.test\/md": not a URL/],
        ['plain http off loopback', ['--metadata-url', 'http://sp.example.test/md'], /--metadata-url: expected an https:\/\/ URL \(http:\/\/ only to localhost/],
        ['credentials in the URL', ['--metadata-url', 'https://user:secret@sp.example.test/md'], /--metadata-url: expected an https:\/\/ URL/],
        ['unreachable metadata URL', ['--metadata-url', `http://127.0.0.1:${closedPort}/md`], /--metadata-url http:\/\/127\.0\.0\.1:\d+\/md: fetch failed: .*ECONNREFUSED/],
        ['metadata URL answering 404', ['--metadata-url', `${md.base}/missing`], /metadata URL answered HTTP 404/],
        ['oversized metadata URL', ['--metadata-url', `${md.base}/huge`], /larger than 1048576 bytes/],
        ['oversized metadata file', ['--metadata-file', hugeFile], /--metadata-file .*huge\.xml: larger than 1048576 bytes/],
        ['missing metadata file', ['--metadata-file', '/nonexistent/sp.xml'], /--metadata-file \/nonexistent\/sp\.xml: cannot be read \(ENOENT\)/],
        ['metadata of another entity', [...SP, '--metadata-url', `${md.base}/other`], /metadata entityID "https:\/\/other\.example\.test" is not the configured entityId "https:\/\/sp\.example\.test"/],
        ['javascript ACS URL', [...SP, '--acs-url', 'javascript:alert(1)'], /^openfed: --acs-url: expected an http:\/\/ or https:\/\/ URL\n$/],
        ['data SLO URL', [...SP, '--acs-url', 'https://sp.example.test/acs', '--slo-url', 'data:text/html,x'], /--slo-url: expected an http:\/\/ or https:\/\/ URL/],
        ['missing certificate file', [...SP, '--acs-url', 'https://sp.example.test/acs', '--signing-cert', '/nonexistent/sp.pem'], /--signing-cert \/nonexistent\/sp\.pem: cannot be read \(ENOENT\)/],
        ['unreadable certificate', [...SP, '--acs-url', 'https://sp.example.test/acs', '--encryption-cert', garbageCert], /--encryption-cert .*garbage\.pem: not a PEM or DER certificate/],
        ['no ACS', [...SP], /--acs-url is required without metadata/],
        ['no signature at all', [...SP, '--acs-url', 'https://sp.example.test/acs', '--no-sign-assertion'], /expected signAssertion or signResponse/],
        ['bad NameID format', [...SP, '--acs-url', 'https://sp.example.test/acs', '--name-id-format', 'kerberos'], /--name-id-format: expected one of persistent/],
        ['bad claim source', [...SP, '--acs-url', 'https://sp.example.test/acs', '--attribute', 'upn=password'], /--attribute: /],
        ['attribute without source', [...SP, '--acs-url', 'https://sp.example.test/acs', '--attribute', 'upn'], /--attribute "upn": expected <name>=<source>/],
        ['WS-Fed reply URL scheme', ['--wsfed', '--realm', 'urn:x', '--reply-url', 'ftp://app.example.test/'], /--reply-url: expected an http:\/\/ or https:\/\/ URL/],
        ['WS-Fed without reply URL', ['--wsfed', '--realm', 'urn:x'], /--reply-url is required with --wsfed/],
        ['SAML option on WS-Fed', ['--wsfed', '--realm', 'urn:x', '--reply-url', 'https://a.example.test/', '--acs-url', 'https://a.example.test/acs'], /--acs-url is for SAML 2\.0 relying parties/],
        ['--no-encrypt-claims on WS-Fed', ['--wsfed', '--realm', 'urn:x', '--reply-url', 'https://a.example.test/', '--no-encrypt-claims'], /^openfed: --no-encrypt-claims is for SAML 2\.0 relying parties/],
        ['--no-require-signed-requests on WS-Fed', ['--wsfed', '--realm', 'urn:x', '--reply-url', 'https://a.example.test/', '--no-require-signed-requests'], /^openfed: --no-require-signed-requests is for SAML 2\.0/],
        ['both metadata sources', ['--metadata-url', `${md.base}/other`, '--metadata-file', hugeFile], /give --metadata-url or --metadata-file, not both/],
      ];
      for (const [what, args, pattern] of cases) assertOneLineError(await openfed(['rp', 'add', ...args], file), pattern, what);
      assert.equal(existsSync(join(dir, `c${n - 1}`, 'data', 'relying-parties.json')), false, 'nothing was stored');
    } finally {
      await md.close();
    }
  });

  test('every rp command has --help', async () => {
    for (const sub of ['list', 'add', 'remove', 'refresh']) {
      const help = await openfed(['rp', sub, '--help']);
      assert.equal(help.code, 0, sub);
      assert.match(help.stdout, new RegExp(`^Usage: openfed rp ${sub}`), sub);
      assert.match(help.stdout, /--json/, sub);
    }
  });
});
