/**
 * The shared relying-party store: registrations and fetched SP metadata copies in a real Redis (and in
 * the data-directory file), read by registries that stand for the nodes of a farm.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { RelyingPartyRegistry } from '../../src/relying-parties/registry.js';
import { encodeMetadataCopy, encodeRegistration, FileRelyingPartyStore, type RelyingPartyStore } from '../../src/relying-parties/store.js';
import { openRedis } from '../../src/redis/connection.js';
import { RedisRelyingPartyStore } from '../../src/relying-parties/redis-store.js';
import { signElement } from '../../src/xml/sign.js';
import { startRedisServer } from '../helpers/redis.js';
import { capturingLogger, dir, simpleSpMetadata, testKey } from './fixtures.js';

const redis = await startRedisServer();
const SP = 'https://shared.example.test';
const POLL_MS = 100;

let prefixes = 0;
/** Handles on one set of keys, one per node (each its own connection, as on separate machines). */
function redisStores(count: number): RedisRelyingPartyStore[] {
  const redisConfig = parseConfig({ sessions: { redis: { url: redis.url, keyPrefix: `rpstore${prefixes++}:` } } }).sessions.redis!;
  // Each a node of its own: its own connection, closed with the store.
  return Array.from({ length: count }, () => new RedisRelyingPartyStore(openRedis(redisConfig, silentLogger), { ownsConnection: true }));
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within 10 s: ${what}`);
    await sleep(50);
  }
}

/** SP metadata over HTTP, counting fetches. */
async function metadataServer(): Promise<{ url: string; fetches: () => number; set(xml: string): void; close(): Promise<void> }> {
  let body = '';
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count++;
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`,
    fetches: () => count,
    set: (xml) => (body = xml),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('relying-party store in Redis: nodes share fetched metadata', () => {
  test('the second node uses the first node\'s copy instead of fetching; a refresh reaches both through the poll', async () => {
    const md = await metadataServer();
    const key1 = testKey('store-sp-1');
    const key2 = testKey('store-sp-2');
    md.set(simpleSpMetadata({ entityId: SP, signing: key1 }));
    const config = parseConfig({ relyingParties: [{ entityId: SP, metadata: { url: md.url } }] });
    const [storeA, storeB, storeAdmin] = redisStores(3) as [RedisRelyingPartyStore, RedisRelyingPartyStore, RedisRelyingPartyStore];
    const a = await RelyingPartyRegistry.create(config, silentLogger, { store: storeA, pollMs: POLL_MS });
    const b = await RelyingPartyRegistry.create(config, silentLogger, { store: storeB, pollMs: POLL_MS });
    try {
      assert.equal(md.fetches(), 1, 'one fetch for the farm');
      for (const node of [a, b]) assert.equal(node.get(SP)?.signingCertificates[0]?.fingerprint256, key1.certificate.fingerprint256);
      assert.equal(b.status()[0]?.metadata?.source, md.url);

      // `openfed rp refresh` (refreshNow on a third, offline registry) stores a new copy; both nodes take it.
      md.set(simpleSpMetadata({ entityId: SP, signing: key2 }));
      const admin = await RelyingPartyRegistry.create(config, silentLogger, { store: storeAdmin, offline: true });
      assert.deepEqual((await admin.refreshNow()).map((r) => r.ok), [true]);
      await admin.close();
      assert.equal(md.fetches(), 2);
      const versions = [a.version, b.version];
      for (const node of [a, b]) {
        await until('node takes the refreshed copy', () => node.get(SP)?.signingCertificates[0]?.fingerprint256 === key2.certificate.fingerprint256);
      }
      assert.deepEqual([a.version, b.version], versions.map((v) => v + 1), 'metadata caches see one change each');
      assert.equal(md.fetches(), 2, 'the nodes did not fetch on their own');
    } finally {
      await Promise.all([a.close(), b.close()]);
      await md.close();
    }
  });

  test('a stored copy that fails the checks (unsigned while a signer is pinned) is refused with an error log; the last good copy stays', async () => {
    const signer = testKey('store-md-signer');
    const good = signElement(simpleSpMetadata({ entityId: SP, id: '_md' }), { key: signer, algorithm: 'rsa-sha256', referenceId: '_md' });
    const md = await metadataServer();
    md.set(good);
    const config = parseConfig({ relyingParties: [{ entityId: SP, metadata: { url: md.url, signingCertificate: signer.certPath } }] });
    const [store, writer] = redisStores(2) as [RedisRelyingPartyStore, RedisRelyingPartyStore];
    const { logger, lines } = capturingLogger();
    const node = await RelyingPartyRegistry.create(config, logger, { store, pollMs: POLL_MS });
    try {
      assert.equal(node.get(SP)?.acs[0]?.url, `${SP}/acs`);
      const version = node.version;
      // Someone with write access to Redis plants a copy sending tokens elsewhere.
      await writer.putMetadata(SP, encodeMetadataCopy({ xml: simpleSpMetadata({ entityId: SP, acs: [{ url: 'https://attacker.example.test/acs', index: 0 }] }), fetchedAt: Date.now() + 1000, source: 'planted' }));
      await writer.close();
      await until('the planted copy is refused', () => lines.some((l) => l.msg === 'a stored SP metadata copy was refused; keeping the last good copy' && l.entityId === SP));
      assert.equal(node.get(SP)?.acs[0]?.url, `${SP}/acs`);
      assert.equal(node.version, version);
    } finally {
      await node.close();
      await md.close();
    }
  });
});

describe('relying-party store: added registrations', () => {
  for (const kind of ['redis', 'file'] as const) {
    test(`${kind}: an added SP and WS-Fed RP appear, a broken entry is skipped with an error log, removal takes them away`, async () => {
      const [first, admin]: RelyingPartyStore[] =
        kind === 'redis' ? redisStores(2) : [new FileRelyingPartyStore(join(dir, 'rp-store-file.json')), new FileRelyingPartyStore(join(dir, 'rp-store-file.json'))];
      const { logger, lines } = capturingLogger();
      const config = parseConfig({ relyingParties: [{ entityId: 'https://configured.example.test' }] });
      const node = await RelyingPartyRegistry.create(config, logger, { store: first!, pollMs: POLL_MS });
      let changes = 0;
      node.onChange(() => changes++);
      try {
        const enc = (k: 'saml' | 'wsfed', c: unknown) => encodeRegistration(k, c, 'tester', new Date());
        assert.equal(await admin!.addRegistration(SP, enc('saml', { entityId: SP, assertionConsumerServices: [{ url: `${SP}/acs` }] })), true);
        assert.equal(await admin!.addRegistration(SP, enc('saml', { entityId: SP })), false, 'ids are unique');
        assert.equal(await admin!.addRegistration('urn:app', enc('wsfed', { realm: 'urn:app', replyUrls: ['https://app.example.test/'] })), true);
        assert.equal(await admin!.addRegistration('https://broken.example.test', enc('saml', { entityId: 'https://broken.example.test', assertionConsumerServices: [{ url: 'javascript:alert(1)' }] })), true);
        assert.equal(await admin!.addRegistration('https://configured.example.test', enc('saml', { entityId: 'https://configured.example.test', assertionConsumerServices: [{ url: 'https://attacker.example.test/' }] })), true);

        await until('node sees the added RPs', () => node.get(SP) !== undefined && node.wsfed().some((w) => w.realm === 'urn:app'));
        assert.equal(node.get(SP)?.acs[0]?.url, `${SP}/acs`);
        assert.equal(node.get('https://broken.example.test'), undefined);
        assert.deepEqual(node.get('https://configured.example.test')?.acs, [], 'the configuration wins over the store');
        await until('errors logged', () => lines.filter((l) => l.level === 50).length >= 2);
        assert.ok(lines.some((l) => l.msg === 'a stored relying party is unreadable and was skipped' && l.id === 'https://broken.example.test' && /assertionConsumerServices\.0\.url/.test(String(l.reason))));
        assert.ok(lines.some((l) => /identifier of a configured one/.test(String(l.msg))));
        assert.ok(changes >= 1);
        assert.deepEqual(node.status().find((s) => s.rp.entityId === SP)?.added?.by, 'tester');

        assert.equal(await admin!.removeRegistration(SP), true);
        assert.equal(await admin!.removeRegistration(SP), false);
        assert.equal(await admin!.removeRegistration('urn:app'), true);
        await until('node drops them', () => node.get(SP) === undefined && !node.wsfed().some((w) => w.realm === 'urn:app'));
        if (kind === 'file') assert.equal(statSync(join(dir, 'rp-store-file.json')).mode & 0o777, 0o600);
      } finally {
        await node.close();
        await admin!.close();
      }
    });
  }

  test('file: concurrent writers lose nothing; a damaged file is a clear error for an admin command and a warning for a node', async () => {
    const path = join(dir, 'rp-store-concurrent.json');
    const stores = Array.from({ length: 4 }, () => new FileRelyingPartyStore(path));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => stores[i % 4]!.addRegistration(`urn:app:${i}`, encodeRegistration('wsfed', { realm: `urn:app:${i}`, replyUrls: ['https://a.example.test/'] }, 't', new Date()))),
    );
    const snapshot = await stores[0]!.snapshot();
    assert.equal(snapshot.registrations.size, 40);
    assert.equal(snapshot.version, 40);

    writeFileSync(path, '{"version": 1, "registrations": ');
    const config = parseConfig({});
    await assert.rejects(RelyingPartyRegistry.create(config, silentLogger, { store: new FileRelyingPartyStore(path), offline: true }), /rp-store-concurrent\.json is not JSON: restore it or move it away/);
    const { logger, lines } = capturingLogger();
    const node = await RelyingPartyRegistry.create(config, logger, { store: new FileRelyingPartyStore(path), pollMs: POLL_MS });
    assert.ok(lines.some((l) => l.msg === 'relying-party store unreachable: serving the relying parties loaded so far'));
    await node.close();
    assert.match(readFileSync(path, 'utf8'), /registrations/, 'left for the admin to repair');
  });
});

