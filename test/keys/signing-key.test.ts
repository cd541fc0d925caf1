import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, createVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fromPem, fromPkcs12, KeyLoadError, loadSigningKey } from '../../src/keys/signing-key.js';
import { silentLogger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-keys-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

describe('token-signing key', () => {
  test('without configuration a self-signed RSA-2048 certificate valid one year is made once and reused', async () => {
    const dataDir = join(dir, 'generated');
    const first = await loadSigningKey(undefined, dataDir, 'sts.contoso.com', silentLogger);
    assert.equal(first.source, 'generated');
    assert.equal(first.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.match(first.certificate.subject, /CN=OpenFed Token Signing - sts\.contoso\.com/);
    const days = (first.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days <= 366, `valid ${days} days`);
    assert.equal(statSync(join(dataDir, 'keys', 'signing-key.pem')).mode & 0o777, 0o600);

    const second = await loadSigningKey(undefined, dataDir, 'sts.contoso.com', silentLogger);
    assert.equal(second.thumbprint, first.thumbprint);

    // The key signs and the certificate's public key verifies: they belong together.
    const signature = createVerify('RSA-SHA256');
    signature.update('x');
    const sig = (await import('node:crypto')).sign('RSA-SHA256', Buffer.from('x'), first.privateKey);
    assert.ok(signature.verify(createPublicKey(first.certificate.publicKey.export({ format: 'pem', type: 'spki' })), sig));
    assert.match(first.thumbprint, /^[0-9A-F]{40}$/);
    assert.equal(Buffer.from(first.certificateBase64, 'base64').length, first.certificate.raw.length);
  });

  test('loads PEM key and certificate, and PKCS#12 with its password', async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '30', '-subj', '/CN=ca-issued');
    openssl('pkcs12', '-export', '-inkey', 'k.pem', '-in', 'c.pem', '-out', 'k.p12', '-passout', 'pass:Pfx-Passw0rd');
    const pem = await loadSigningKey({ keyFile: join(dir, 'k.pem'), certFile: join(dir, 'c.pem') }, dir, 'x', silentLogger);
    assert.equal(pem.source, 'pem');
    const p12 = await loadSigningKey({ pkcs12File: join(dir, 'k.p12'), pkcs12Password: 'Pfx-Passw0rd' }, dir, 'x', silentLogger);
    assert.equal(p12.source, 'pkcs12');
    assert.equal(p12.thumbprint, pem.thumbprint);
  });

  test('refuses a wrong PKCS#12 password, a mismatched pair, a short key and garbage, with a clear message', () => {
    assert.throws(() => fromPkcs12(readFileSync(join(dir, 'k.p12')), 'wrong'), (e: unknown) => e instanceof KeyLoadError && /wrong password/.test(e.message));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.pem', '-out', 'other-c.pem', '-days', '30', '-subj', '/CN=other');
    assert.throws(() => fromPem(readFileSync(join(dir, 'k.pem'), 'utf8'), readFileSync(join(dir, 'other-c.pem'), 'utf8'), 'pem'), /does not belong/);
    openssl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'small.pem', '-out', 'small-c.pem', '-days', '30', '-subj', '/CN=small');
    assert.throws(() => fromPem(readFileSync(join(dir, 'small.pem'), 'utf8'), readFileSync(join(dir, 'small-c.pem'), 'utf8'), 'pem'), /at least 2048 bits, got 1024/);
    assert.throws(() => fromPem('not a key', readFileSync(join(dir, 'c.pem'), 'utf8'), 'pem'), /not a readable PEM private key/);
  });

  test('a configured file that does not exist is named', async () => {
    await assert.rejects(
      loadSigningKey({ keyFile: join(dir, 'nope.pem'), certFile: join(dir, 'c.pem') }, dir, 'x', silentLogger),
      /keys\.signing\.keyFile: file .*nope\.pem does not exist/,
    );
  });
});
