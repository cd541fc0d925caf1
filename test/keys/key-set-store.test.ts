/**
 * The shared key set against a real Redis and a real data directory: the first primary is created
 * exactly once however many nodes start at the same moment, every node re-reads a changed set, a
 * damaged version leaves a node signing with its last good keys, private keys never reach Redis in
 * clear, and a missing or wrong encryption secret stops start-up with one line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ManualClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { KeyDecryptionError } from '../../src/keys/encryption.js';
import { ManagedKeyRing, openKeyRing, openKeySetStore, protectWith } from '../../src/keys/key-manager.js';
import { addNext, parseKeySet, primaryOf, serializeKeySet, storedEntry, type RolloverPolicy } from '../../src/keys/key-set.js';
import { fromPem, generateSelfSigned, KeyLoadError, loadSigningKey } from '../../src/keys/signing-key.js';
import { FileKeySetStore } from '../../src/keys/store.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { RedisKeySetStore } from '../../src/keys/redis-store.js';
import { openRedis } from '../../src/redis/connection.js';
import { startRedisServer } from '../helpers/redis.js';

const redis = await startRedisServer();
const dir = mkdtempSync(join(tmpdir(), 'openfed-keyset-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'key-set test secret, at least 32 characters';
const MANUAL: RolloverPolicy = { autoRollover: false, generationThresholdDays: 20, promotionThresholdDays: 5 };
let prefixes = 0;

function redisStore(keyPrefix: string): RedisKeySetStore {
  // Each a node of its own: its own connection, closed with the store.
  return new RedisKeySetStore(openRedis(parseConfig({ sessions: { redis: { url: redis.url, keyPrefix } } }).sessions.redis!, silentLogger), { ownsConnection: true });
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

function open(store: RedisKeySetStore | FileKeySetStore, options: { logger?: Logger; secret?: string; clock?: ManualClock } = {}) {
  return ManagedKeyRing.open({
    store,
    policy: MANUAL,
    encryptionSecret: options.secret ?? (store.kind === 'redis' ? SECRET : undefined),
    subjectHost: 'sts.contoso.test',
    clock: options.clock ?? new ManualClock(),
    logger: options.logger ?? silentLogger,
    refreshSeconds: 0,
    checkIntervalMs: 0,
  });
}

const closeAll = (rings: ManagedKeyRing[]) => Promise.all(rings.map((r) => r.close()));

describe('first start', () => {
  test('six nodes starting at once on one Redis: exactly one primary, the same for all; no clear private key in Redis', async () => {
    const prefix = `t${prefixes++}:`;
    const rings = await Promise.all(Array.from({ length: 6 }, () => open(redisStore(prefix))));
    try {
      assert.equal(new Set(rings.map((r) => r.primary.thumbprint)).size, 1);
      const doc = await redis.command('HGET', `${prefix}keyset`, 'doc');
      assert.equal(typeof doc, 'string');
      const set = parseKeySet(doc as string);
      assert.equal(set.version, 1, 'created once, never overwritten');
      assert.equal(set.keys.length, 1);
      assert.equal(set.keys[0]!.origin, 'generated');
      assert.ok('encrypted' in set.keys[0]!.privateKey);
      assert.doesNotMatch(doc as string, /PRIVATE KEY/);
      assert.doesNotMatch(JSON.stringify(set.keys[0]!.privateKey), /MII/, 'the PKCS#8 body is not there either');
    } finally {
      await closeAll(rings);
    }
  });

  test('six workers starting at once on one data directory: exactly one primary; 0600 files in a 0700 directory', async () => {
    const keysDir = join(dir, 'race', 'keys');
    const rings = await Promise.all(Array.from({ length: 6 }, () => open(new FileKeySetStore(keysDir))));
    try {
      assert.equal(new Set(rings.map((r) => r.primary.thumbprint)).size, 1);
      const set = parseKeySet(readFileSync(join(keysDir, 'keyset.json'), 'utf8'));
      assert.equal(set.version, 1);
      assert.equal(set.keys.length, 1);
      assert.equal(statSync(keysDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(keysDir, 'keyset.json')).mode & 0o777, 0o600);
      assert.equal(statSync(join(keysDir, 'signing-key.pem')).mode & 0o777, 0o600);
      // The single-key files other commands read hold the primary.
      const mirrored = fromPem(readFileSync(join(keysDir, 'signing-key.pem'), 'utf8'), readFileSync(join(keysDir, 'signing-cert.pem'), 'utf8'), 'generated');
      assert.equal(mirrored.thumbprint, rings[0]!.primary.thumbprint);
    } finally {
      await closeAll(rings);
    }
  });

  test('an installation from before the key set keeps its certificate as the primary', async () => {
    const dataDir = join(dir, 'legacy');
    const legacy = await loadSigningKey(undefined, dataDir, 'sts.contoso.test', silentLogger);
    const ring = await open(new FileKeySetStore(join(dataDir, 'keys')));
    try {
      assert.equal(ring.primary.thumbprint, legacy.thumbprint);
    } finally {
      await ring.close();
    }
  });
});

describe('changes reach every node', () => {
  test('node B re-reads a changed set; a damaged version keeps its last good keys and is reported once', async () => {
    const prefix = `t${prefixes++}:`;
    const b = capture();
    const ringA = await open(redisStore(prefix));
    const ringB = await open(redisStore(prefix), { logger: b.logger });
    const store = redisStore(prefix);
    try {
      const before = ringB.primary;
      // A change made elsewhere (another node, or openfed keys): a next certificate.
      const { keyPem, certPem } = await generateSelfSigned('next', new Date());
      const next = fromPem(keyPem, certPem, 'imported');
      const stored = (await store.read())!;
      const set = addNext(parseKeySet(stored.json), storedEntry(next, 'next', 'imported', Date.now(), protectWith(SECRET)), Date.now());
      assert.equal(await store.replace(stored.version, set), true);
      assert.equal(await store.replace(stored.version, set), false, 'compare-and-set: a second writer on the old version loses');
      await ringB.refresh();
      assert.equal(ringB.next?.thumbprint, next.thumbprint);
      assert.equal(ringB.version, 2);
      assert.equal(ringB.primary, before, 'unchanged keys are not parsed again');

      // Damage: garbage under a new version.
      await redis.command('HSET', `${prefix}keyset`, 'version', '3', 'doc', '{"format":1,"version":3,"keys":[');
      await ringB.refresh();
      await ringB.refresh();
      assert.equal(ringB.primary.thumbprint, before.thumbprint, 'still signing with the last good primary');
      assert.equal(ringB.next?.thumbprint, next.thumbprint);
      const errors = b.lines.filter((l) => l.level === 50);
      assert.equal(errors.length, 1, 'reported once, not at every poll');
      assert.match(String(errors[0]!.msg), /still signing with the last good keys/);
      assert.match(String(errors[0]!.reason), /unreadable: not JSON/);

      // A version whose key was encrypted under another secret: just as unusable.
      const foreign = { ...set, version: 4, keys: set.keys.map((k) => (k.role === 'next' ? { ...k, privateKey: protectWith('another secret of thirty-two characters')(keyPem, k.thumbprint) } : k)) };
      await redis.command('HSET', `${prefix}keyset`, 'version', '4', 'doc', serializeKeySet(foreign));
      await ringB.refresh();
      assert.equal(ringB.version, 2);
      assert.match(String(b.lines.filter((l) => l.level === 50)[1]?.reason), /does not decrypt/);

      // Repaired: the next good version is taken.
      await redis.command('HSET', `${prefix}keyset`, 'version', '5', 'doc', serializeKeySet({ ...set, version: 5 }));
      await ringB.refresh();
      assert.equal(ringB.version, 5);
      await ringA.refresh();
      assert.equal(ringA.next?.thumbprint, next.thumbprint);
    } finally {
      await closeAll([ringA, ringB]);
      await store.close();
    }
  });

  test('file mode: a change written by another process is picked up the same way', async () => {
    const keysDir = join(dir, 'file-refresh', 'keys');
    const ring = await open(new FileKeySetStore(keysDir));
    try {
      const store = new FileKeySetStore(keysDir);
      const { keyPem, certPem } = await generateSelfSigned('next', new Date());
      const next = fromPem(keyPem, certPem, 'imported');
      const stored = (await store.read())!;
      assert.equal(await store.replace(stored.version, addNext(parseKeySet(stored.json), storedEntry(next, 'next', 'imported', Date.now(), protectWith(undefined)), Date.now())), true);
      await ring.refresh();
      assert.equal(ring.next?.thumbprint, next.thumbprint);
      writeFileSync(join(keysDir, 'keyset.json'), 'not json');
      await ring.refresh();
      assert.equal(ring.next?.thumbprint, next.thumbprint, 'a damaged file keeps the last good keys');
    } finally {
      await ring.close();
    }
  });
});

describe('the encryption secret', () => {
  const config = (keys: ConfigInput['keys'], keyPrefix: string) =>
    parseConfig({ dataDir: join(dir, 'cfg'), sessions: { redis: { url: redis.url, keyPrefix } }, keys, log: { level: 'silent' } });

  test('Redis without keys.encryptionSecret: start-up refused, naming the key and the variable', async () => {
    await assert.rejects(openKeyRing(config({}, 'nosecret:'), silentLogger, new ManualClock()), (e: unknown) => {
      assert.ok(e instanceof KeyLoadError);
      assert.match(e.message, /^configuration key keys\.encryptionSecret: required when sessions\.redis is set and keys\.signing is not .*OPENFED_KEY_ENCRYPTION_SECRET/);
      return true;
    });
    // A configured key needs no secret: nothing managed is shared.
    const keyDir = mkdtempSync(join(dir, 'fixed-'));
    const { keyPem, certPem } = await generateSelfSigned('fixed', new Date());
    writeFileSync(join(keyDir, 'k.pem'), keyPem);
    writeFileSync(join(keyDir, 'c.pem'), certPem);
    const fixed = await openKeyRing(config({ signing: { keyFile: join(keyDir, 'k.pem'), certFile: join(keyDir, 'c.pem') } }, 'nosecret:'), silentLogger, new ManualClock());
    assert.equal(fixed.primary.thumbprint, fromPem(keyPem, certPem, 'pem').thumbprint);
    await fixed.close();
  });

  test('a wrong secret: start-up refused with KeyDecryptionError; the process prints one line and exits 1', async () => {
    const prefix = `t${prefixes++}:`;
    const ring = await open(redisStore(prefix));
    await ring.close();
    await assert.rejects(openKeyRing(config({ encryptionSecret: 'the wrong secret, thirty-two characters' }, prefix), silentLogger, new ManualClock()), KeyDecryptionError);

    const file = join(dir, 'wrong-secret.yaml');
    writeFileSync(file, stringify({ dataDir: join(dir, 'wrong-secret-data'), server: { port: 0, host: '127.0.0.1' }, sessions: { redis: { url: redis.url, keyPrefix: prefix } } }));
    const result = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, OPENFED_CONFIG: file, OPENFED_KEY_ENCRYPTION_SECRET: 'the wrong secret, thirty-two characters' },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^openfed: keys\.encryptionSecret does not decrypt the stored private key of certificate [0-9A-F]{40}: is OPENFED_KEY_ENCRYPTION_SECRET the same as on the node that stored it\?\n$/);
  });

  test('the stored primary opens with the right secret on a node that did not create it', async () => {
    const prefix = `t${prefixes++}:`;
    const creator = await open(redisStore(prefix));
    const other = await openKeyRing(config({ encryptionSecret: SECRET }, prefix), silentLogger, new ManualClock());
    try {
      assert.equal(other.primary.thumbprint, creator.primary.thumbprint);
      const store = openKeySetStore(config({ encryptionSecret: SECRET }, prefix), silentLogger);
      assert.equal(primaryOf(parseKeySet((await store.read())!.json)).thumbprint, creator.primary.thumbprint);
      await store.close();
    } finally {
      await creator.close();
      await other.close();
    }
  });
});
