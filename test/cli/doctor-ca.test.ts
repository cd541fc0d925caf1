/**
 * `openfed doctor`'s public-metadata check behind a private CA (a lab, an internal PKI): an HTTPS server on
 * 127.0.0.1 with a certificate from a CA made here. Untrusted by default; trusted with --ca-file or
 * NODE_EXTRA_CA_CERTS; a bundle from another CA still fails. No DC, no Redis.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { publicMetadataCheck, runDoctor, type DoctorReport } from '../../src/cli/doctor.js';
import { parseConfig } from '../../src/config/load.js';
import { federationIdentifier } from '../../src/config/schema.js';
import { makeTlsMaterial } from '../helpers/redis.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'openfed-doctor-ca-'));
const tls = makeTlsMaterial();
const caPem = readFileSync(tls.caFile, 'utf8');
const otherCaPem = readFileSync(tls.otherCaFile, 'utf8');

let server: Server;
let baseUrl = '';

before(async () => {
  server = createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
    // The metadata under /moved is a redirect, as a reverse proxy might answer.
    if (req.url?.startsWith('/moved/')) {
      res.writeHead(302, { location: req.url.slice('/moved'.length) }).end();
      return;
    }
    if (req.url !== '/FederationMetadata/2007-06/FederationMetadata.xml') {
      res.writeHead(404).end();
      return;
    }
    const entityId = federationIdentifier(parseConfig({ server: { baseUrl } }));
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
    res.end(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${entityId}"/>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('doctor: public metadata behind a private CA', () => {
  const config = () => parseConfig({ server: { baseUrl }, dataDir: join(dir, 'data') });
  const url = () => `${baseUrl}/FederationMetadata/2007-06/FederationMetadata.xml`;

  test('without the CA: FAIL, naming the certificate error and the option', async () => {
    const check = await publicMetadataCheck(config(), []);
    assert.equal(check.status, 'FAIL');
    assert.equal(check.detail, `${url()}: unreachable (UNABLE_TO_VERIFY_LEAF_SIGNATURE: a private CA? give it with --ca-file)`);
  });

  test('with the CA: reachable (no key here, so the signature is not checked)', async () => {
    const check = await publicMetadataCheck(config(), [], { ca: caPem });
    assert.equal(check.status, 'WARN', check.detail);
    assert.equal(check.detail, `${url()}: reachable, entityID matches; signature not checked (no token-signing key here)`);
  });

  test('with the CA, through a redirect', async () => {
    const check = await publicMetadataCheck(parseConfig({ server: { baseUrl: `${baseUrl}/moved` } }), [], { ca: caPem });
    // The server answers only 302 under /moved: reaching the document means the redirect was followed.
    assert.equal(check.status, 'WARN', check.detail);
    assert.match(check.detail, /\/moved\/FederationMetadata\/2007-06\/FederationMetadata\.xml: reachable, entityID matches/);
  });

  test('with a CA that did not issue the certificate: still FAIL', async () => {
    const check = await publicMetadataCheck(config(), [], { ca: otherCaPem });
    assert.equal(check.status, 'FAIL');
    assert.match(check.detail, /unreachable \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: not issued by the --ca-file CA or a public one\)$/);
  });

  test('runDoctor passes the CA to the metadata check', async () => {
    const file = join(dir, 'openfed.yaml');
    writeFileSync(file, stringify({ server: { baseUrl }, dataDir: join(dir, 'data') }));
    const without = await runDoctor({ OPENFED_CONFIG: file });
    const withCa = await runDoctor({ OPENFED_CONFIG: file }, Date.now, { ca: caPem });
    assert.equal(without.checks.find((c) => c.name === 'public metadata')?.status, 'FAIL');
    assert.equal(withCa.checks.find((c) => c.name === 'public metadata')?.status, 'WARN');
  });
});

describe('openfed doctor --ca-file, as an admin runs it', () => {
  const file = join(dir, 'cli.yaml');
  const openfed = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'doctor', ...args], {
        env: { ...process.env, OPENFED_CONFIG: file, NODE_EXTRA_CA_CERTS: '', ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const metadataCheck = (stdout: string) => (JSON.parse(stdout) as DoctorReport).checks.find((c) => c.name === 'public metadata');
  before(() => writeFileSync(file, stringify({ server: { baseUrl }, dataDir: join(dir, 'cli-data') })));

  test('--ca-file trusts the private CA', async () => {
    const plain = await openfed(['--json']);
    assert.equal(metadataCheck(plain.stdout)?.status, 'FAIL');
    const res = await openfed(['--json', '--ca-file', tls.caFile]);
    assert.equal(metadataCheck(res.stdout)?.status, 'WARN', res.stdout + res.stderr);
    assert.match(metadataCheck(res.stdout)?.detail ?? '', /: reachable, entityID matches/);
  });

  test('NODE_EXTRA_CA_CERTS is honoured too', async () => {
    const res = await openfed(['--json'], { NODE_EXTRA_CA_CERTS: tls.caFile });
    assert.equal(metadataCheck(res.stdout)?.status, 'WARN', res.stdout + res.stderr);
  });

  test('an unreadable or empty --ca-file is one line and exit 1', async () => {
    const missing = await openfed(['--ca-file', join(dir, 'nope.pem')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `openfed: --ca-file ${join(dir, 'nope.pem')}: cannot be read (ENOENT)\n`);
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'not a certificate\n');
    const empty = await openfed(['--ca-file', notPem]);
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, `openfed: --ca-file ${notPem}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it\n`);
  });
});
