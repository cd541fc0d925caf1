/**
 * Issue #6 §2: "a relying party that refreshes metadata keeps validating tokens across a full
 * rollover". The test clock drives one OpenFed (keys in a real Redis) through AD FS's automatic
 * rollover — next certificate 20 days before expiry, promoted 5 days later, the old one published
 * until it expires — and at every stage a relying party that takes its certificates only from our
 * metadata validates a fresh token. A relying party that never refreshed fails after promotion,
 * which shows the test can fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { ManagedKeyRing } from '../../src/keys/key-manager.js';
import { startRedisServer } from '../helpers/redis.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { issueToken, publishedCertificates, rpAccepts, rpServerConfig } from './relying-party.js';

const DAY = 86_400_000;
const redis = await startRedisServer();

describe('automatic rollover seen by relying parties (AD FS AutoCertificateRollover)', () => {
  const clock = new ManualClock();
  let server: TestServer;
  let ring: ManagedKeyRing;
  /** What an RP that fetched metadata once, at the start, trusts for ever. */
  let staleCertificates: string[];
  let tokenSignedByFirst: string;
  let first: string;
  let second: string;
  const thumbprints: string[] = [];

  before(async () => {
    server = await startTestServer({ ...rpServerConfig, sessions: { redis: { url: redis.url } } }, { clock });
    assert.ok(server.deps.keys instanceof ManagedKeyRing);
    ring = server.deps.keys;
  });
  after(() => server?.stop());

  const expiryDays = async () => {
    const text = await server.metrics.registry.getSingleMetricAsString('openfed_signing_certificates_expiry_days');
    return [...text.matchAll(/role="(\w+)",thumbprint="(\w+)"\} (-?[\d.]+)/g)].map((m) => `${m[1]}:${m[2] === thumbprints[0] ? 'first' : m[2] === thumbprints[1] ? 'second' : m[2]}:${Math.floor(Number(m[3]))}`).sort();
  };

  test('day 0: one self-signed primary, published and signing', async () => {
    first = ring.primary.certificateBase64;
    thumbprints.push(ring.primary.thumbprint);
    staleCertificates = await publishedCertificates(server.url);
    assert.deepEqual(staleCertificates, [first]);
    const token = await issueToken(server.url);
    assert.equal(await rpAccepts(staleCertificates, token), true);
    assert.equal(ring.next, undefined);
    assert.deepEqual(await expiryDays(), ['primary:first:365']);
  });

  test('21 days before expiry: nothing changes yet', async () => {
    clock.advance(ring.primary.notAfter.getTime() - clock.now() - 21 * DAY);
    await ring.check();
    assert.equal(ring.next, undefined);
    assert.deepEqual(await publishedCertificates(server.url), [first]);
  });

  test('20 days before expiry: the next certificate is made and published; the primary still signs', async () => {
    clock.advance(DAY);
    await ring.check();
    assert.ok(ring.next, 'a next certificate');
    second = ring.next.certificateBase64;
    thumbprints.push(ring.next.thumbprint);
    assert.notEqual(second, first);
    const refreshed = await publishedCertificates(server.url);
    assert.deepEqual(refreshed, [first, second], 'primary first, then the next one');
    tokenSignedByFirst = await issueToken(server.url);
    assert.equal(await rpAccepts(refreshed, tokenSignedByFirst), true, 'the refreshing RP');
    assert.equal(await rpAccepts(staleCertificates, tokenSignedByFirst), true, 'the stale RP too: the primary has not changed');
    assert.equal(await rpAccepts([second], tokenSignedByFirst), false, 'only the primary signs');
    assert.deepEqual(await expiryDays(), ['next:second:365', 'primary:first:20']);
  });

  test('4 days later: not promoted yet', async () => {
    clock.advance(4 * DAY);
    await ring.check();
    assert.equal(ring.primary.certificateBase64, first);
  });

  test('5 days after generation: promoted; the refreshing RP validates, the stale RP does not', async () => {
    clock.advance(DAY);
    await ring.check();
    assert.equal(ring.primary.certificateBase64, second);
    const refreshed = await publishedCertificates(server.url);
    assert.deepEqual(refreshed, [second, first], 'the former primary stays published');
    const token = await issueToken(server.url);
    assert.equal(await rpAccepts(refreshed, token), true, 'the refreshing RP keeps validating');
    assert.equal(await rpAccepts(staleCertificates, token), false, 'an RP that never refreshed metadata fails');
    assert.equal(await rpAccepts(refreshed, tokenSignedByFirst), true, 'a token signed just before the promotion still validates');
    assert.deepEqual(await expiryDays(), ['previous:first:15', 'primary:second:360']);
  });

  test('the old primary expires: no longer published; tokens keep validating', async () => {
    clock.advance(15 * DAY + 60_000);
    await ring.check();
    const refreshed = await publishedCertificates(server.url);
    assert.deepEqual(refreshed, [second]);
    assert.deepEqual(ring.previous, []);
    assert.equal(await rpAccepts(refreshed, await issueToken(server.url)), true);
    assert.deepEqual(await expiryDays(), ['primary:second:344']);
  });
});
