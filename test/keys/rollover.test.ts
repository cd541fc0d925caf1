/**
 * The key set's pure parts: the rollover decision (AD FS AutoCertificateRollover:
 * CertificateGenerationThreshold 20 days, CertificatePromotionThreshold 5 days) as a table of dates,
 * the admin edits and their refusals, and the private-key encryption.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decryptPrivateKey, encryptPrivateKey, KeyDecryptionError } from '../../src/keys/encryption.js';
import {
  addNext,
  decideRollover,
  KeySetChangeError,
  KeySetFormatError,
  parseKeySet,
  promoteNext,
  pruneKeys,
  removeKey,
  serializeKeySet,
  type RolloverPolicy,
  type StoredKey,
  type StoredKeySet,
} from '../../src/keys/key-set.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const day = (n: number) => T0 + n * DAY;
const AUTO: RolloverPolicy = { autoRollover: true, generationThresholdDays: 20, promotionThresholdDays: 5 };
const MANUAL: RolloverPolicy = { ...AUTO, autoRollover: false };

let serial = 0;
function entry(role: StoredKey['role'], addedAt: number, notAfter: number): StoredKey {
  const thumbprint = (++serial).toString(16).toUpperCase().padStart(40, '0');
  return { thumbprint, role, origin: 'generated', addedAt, notAfter, certificate: 'MIIB', privateKey: { pem: 'x' } };
}
const set = (...keys: StoredKey[]): StoredKeySet => ({ format: 1, version: 7, keys });

describe('rollover decision (AD FS AutoCertificateRollover)', () => {
  // The primary was made on day 0 and expires on day 365.
  const primary = () => entry('primary', day(0), day(365));
  const rows: Array<[string, () => StoredKeySet, number, RolloverPolicy, string | undefined]> = [
    ['a fresh primary: nothing', () => set(primary()), day(1), AUTO, undefined],
    ['21 days before expiry: nothing yet', () => set(primary()), day(344), AUTO, undefined],
    ['exactly 20 days before expiry: generate the next one', () => set(primary()), day(345), AUTO, 'generate'],
    ['10 days before expiry without a next one: generate', () => set(primary()), day(355), AUTO, 'generate'],
    ['a next one made 4 days ago: nothing (still being published)', () => set(primary(), entry('next', day(345), day(710))), day(349), AUTO, undefined],
    ['a next one made 5 days ago: promote it', () => set(primary(), entry('next', day(345), day(710))), day(350), AUTO, 'promote'],
    ['the primary expired before promotion (node was down): promote at once', () => set(primary(), entry('next', day(364), day(729))), day(366), AUTO, 'promote'],
    ['the primary expired with no next one: generate (then promote)', () => set(primary()), day(400), AUTO, 'generate'],
    ['a former primary still valid: kept published', () => set(entry('primary', day(350), day(715)), entry('previous', day(0), day(365))), day(360), AUTO, undefined],
    ['a former primary that expired: prune it', () => set(entry('primary', day(350), day(715)), entry('previous', day(0), day(365))), day(365), AUTO, 'prune'],
    ['an expired next one (automatic): prune it, a fresh one follows', () => set(primary(), entry('next', day(0), day(10))), day(11), AUTO, 'prune'],
    ['manual: 10 days before expiry, nothing is generated', () => set(primary()), day(355), MANUAL, undefined],
    ['manual: a next one waiting 30 days is not promoted', () => set(primary(), entry('next', day(300), day(700))), day(330), MANUAL, undefined],
    ['manual: an expired next one stays for the admin', () => set(primary(), entry('next', day(0), day(10))), day(11), MANUAL, undefined],
    ['manual: an expired former primary is still pruned', () => set(entry('primary', day(350), day(715)), entry('previous', day(0), day(365))), day(366), MANUAL, 'prune'],
  ];
  for (const [name, build, now, policy, expected] of rows) {
    test(name, () => assert.equal(decideRollover(build(), now, policy)?.kind, expected));
  }

  test('applied step by step from day 345 to day 366, the set goes generate → promote → prune', () => {
    let current = set(primary());
    const steps: string[] = [];
    for (let d = 340; d <= 370; d++) {
      for (let action = decideRollover(current, day(d), AUTO); action; action = decideRollover(current, day(d), AUTO)) {
        steps.push(`${d}:${action.kind}`);
        if (action.kind === 'generate') current = addNext(current, entry('next', day(d), day(d + 365)), day(d));
        else if (action.kind === 'promote') current = promoteNext(current, day(d), action.thumbprint);
        else current = pruneKeys(current, action.thumbprints);
      }
    }
    assert.deepEqual(steps, ['345:generate', '350:promote', '365:prune']);
    assert.equal(current.keys.length, 1);
    assert.equal(current.version, 7 + 3, 'every change moves the version');
  });
});

describe('admin edits', () => {
  test('add: the next one; refuses a duplicate, a second next one and an expired certificate', () => {
    const p = entry('primary', day(0), day(365));
    const n = entry('next', day(10), day(400));
    const added = addNext(set(p), n, day(10));
    assert.deepEqual(added.keys.map((k) => k.role), ['primary', 'next']);
    assert.throws(() => addNext(added, n, day(10)), (e: unknown) => e instanceof KeySetChangeError && /already in the key set/.test(e.message));
    assert.throws(() => addNext(added, entry('next', day(10), day(400)), day(10)), /already waiting as the next one: promote or remove it first/);
    assert.throws(() => addNext(set(p), entry('next', day(0), day(5)), day(10)), /has expired/);
  });

  test('promote: next becomes primary, the old primary stays published as previous (or goes when expired)', () => {
    const p = entry('primary', day(0), day(365));
    const n = entry('next', day(10), day(400));
    const promoted = promoteNext(set(p, n), day(20), n.thumbprint.toLowerCase());
    assert.deepEqual(promoted.keys.map((k) => [k.thumbprint, k.role]), [[p.thumbprint, 'previous'], [n.thumbprint, 'primary']]);
    assert.deepEqual(promoteNext(set(p, n), day(366)).keys.map((k) => k.role), ['primary'], 'an expired old primary is not kept');
    assert.throws(() => promoteNext(set(p), day(20)), /no next certificate to promote/);
    assert.throws(() => promoteNext(set(p, n), day(20), p.thumbprint), /is not the next certificate/);
  });

  test('remove: never the primary; a thumbprint with colons and lower case is understood', () => {
    const p = entry('primary', day(0), day(365));
    const n = entry('next', day(10), day(400));
    assert.throws(() => removeKey(set(p, n), p.thumbprint), /is the primary, which signs every token: promote another one first/);
    const pasted = n.thumbprint.toLowerCase().match(/../g)!.join(':');
    assert.deepEqual(removeKey(set(p, n), pasted).keys.map((k) => k.role), ['primary']);
    assert.throws(() => removeKey(set(p), 'AB'.repeat(20)), /is not in the key set/);
  });

  test('the stored document is checked: damage is a KeySetFormatError naming what is wrong', () => {
    const good = set(entry('primary', day(0), day(365)));
    assert.deepEqual(parseKeySet(serializeKeySet(good)), good);
    assert.throws(() => parseKeySet('{"format":1,'), (e: unknown) => e instanceof KeySetFormatError && /not JSON/.test(e.message));
    assert.throws(() => parseKeySet(serializeKeySet(set(entry('next', day(0), day(1))))), /exactly one primary/);
    assert.throws(() => parseKeySet(JSON.stringify({ ...good, format: 2 })), KeySetFormatError);
  });
});

describe('private-key encryption (AES-256-GCM, HKDF)', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
  const secret = 'a secret of at least thirty-two characters';
  const thumbprint = 'AB'.repeat(20);

  test('round trip; the blob carries no clear text and differs every time', () => {
    const blob = encryptPrivateKey(pem, secret, thumbprint);
    assert.equal(decryptPrivateKey(blob, secret, thumbprint), pem);
    assert.doesNotMatch(blob, /PRIVATE KEY|MIIEvQ/);
    assert.notEqual(encryptPrivateKey(pem, secret, thumbprint), blob, 'random salt and IV');
  });

  test('a wrong secret, another entry\'s thumbprint or a flipped byte: one clear error, never garbage', () => {
    const blob = encryptPrivateKey(pem, secret, thumbprint);
    const wrong = (f: () => unknown) =>
      assert.throws(f, (e: unknown) => e instanceof KeyDecryptionError && /^keys\.encryptionSecret does not decrypt the stored private key of certificate [0-9A-F]{40}: /.test(e.message) && !e.message.includes('\n'));
    wrong(() => decryptPrivateKey(blob, 'another secret of thirty-two characters!', thumbprint));
    wrong(() => decryptPrivateKey(blob, secret, 'CD'.repeat(20)));
    const parts = blob.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    wrong(() => decryptPrivateKey([...parts.slice(0, 4), body.toString('base64url')].join('.'), secret, thumbprint));
    assert.throws(() => decryptPrivateKey('v9.x', secret, thumbprint), /not in a format this version reads/);
  });
});
