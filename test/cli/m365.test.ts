/**
 * `openfed m365 settings` and `openfed m365 verify`: the Graph settings for a federated domain (issuer
 * per domain, the configured certificate, PowerShell quoting) and the metadata check against a live
 * OpenFed, a different key, a tampered document, an expiring certificate and a skewed clock.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import {
  buildM365Settings,
  graphBody,
  newFederationCommand,
  psQuote,
  updateCertificateCommand,
  verifyM365,
  type VerifyReport,
} from '../../src/cli/m365.js';
import { ManualClock } from '../../src/clock.js';
import { buildMex, USERNAME_MIXED_ENDPOINTS } from '../../src/protocols/wstrust/mex.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { ManagedKeyRing } from '../../src/keys/key-manager.js';
import { fromPem, generateSelfSigned, loadSigningKey, type SigningKey } from '../../src/keys/signing-key.js';
import { FileKeySetStore } from '../../src/keys/store.js';
import { silentLogger } from '../../src/log.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const BASE_URL = 'https://sts.contoso.test';
const CLI = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'] as const;
const execFileAsync = promisify(execFile);

const single: ConfigInput = { server: { baseUrl: BASE_URL }, microsoft365: { enabled: true, domains: ['contoso.com'] } };
const multiple: ConfigInput = {
  server: { baseUrl: BASE_URL },
  microsoft365: { enabled: true, domains: ['contoso.com', 'fabrikam.com'], supportMultipleDomain: true },
};

/** A temp dataDir holding a generated key, and a YAML config pointing at it. */
function cliSetup(input: ConfigInput, dataDir?: string): { dir: string; configFile: string; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-m365-'));
  const data = dataDir ?? join(dir, 'data');
  const configFile = join(dir, 'openfed.yaml');
  writeFileSync(configFile, stringify({ ...input, dataDir: data }));
  return { dir, configFile, dataDir: data };
}

function runCli(args: string[], configFile: string) {
  return spawnSync(CLI[0], [...CLI.slice(1), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, OPENFED_CONFIG: configFile },
  });
}

const check = (report: VerifyReport, name: string) => {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `no check ${name}`);
  return found;
};

let key: SigningKey;
let otherKey: SigningKey;
const keyDir = mkdtempSync(join(tmpdir(), 'openfed-m365-keys-'));

before(async () => {
  key = await loadSigningKey(undefined, keyDir, 'sts.contoso.test', silentLogger);
  const other = await generateSelfSigned('someone else', new Date());
  otherKey = fromPem(other.keyPem, other.certPem, 'pem');
});
after(() => rmSync(keyDir, { recursive: true, force: true }));

describe('m365 settings (pure)', () => {
  test('one domain: the issuer is the Federation Service identifier; certificate is the key; WS-Fed fields', () => {
    const s = buildM365Settings(parseConfig(single), key, { domain: 'Contoso.com' });
    assert.equal(s.domain, 'contoso.com');
    assert.equal(s.issuerUri, 'http://sts.contoso.test/adfs/services/trust');
    assert.equal(s.passiveSignInUri, `${BASE_URL}/adfs/ls/`);
    assert.equal(s.activeSignInUri, `${BASE_URL}/adfs/services/trust/2005/usernamemixed`);
    assert.equal(s.metadataExchangeUri, `${BASE_URL}/adfs/services/trust/mex`);
    assert.equal(s.signOutUri, `${BASE_URL}/adfs/ls/?wa=wsignout1.0`);
    assert.equal(s.signingCertificate, key.certificateBase64);
    assert.equal(s.nextSigningCertificate, undefined);
    assert.equal(s.preferredAuthenticationProtocol, 'wsFed');
    assert.equal(s.federatedIdpMfaBehavior, 'acceptIfMfaDoneByFederatedIdp');
    assert.equal(s.promptLoginBehavior, 'translateToFreshPasswordAuthentication');
    // WS-Trust is served and baseUrl is https: nothing to warn about.
    assert.deepEqual(
      s.notes.filter((n) => /WS-Trust|activeSignInUri/.test(n)),
      [],
    );
  });

  test('wsTrust.enabled false: no activeSignInUri or metadataExchangeUri, and a note saying why', () => {
    const s = buildM365Settings(parseConfig({ ...single, wsTrust: { enabled: false } }), key, { domain: 'contoso.com' });
    assert.equal(s.activeSignInUri, undefined);
    assert.equal(s.metadataExchangeUri, undefined);
    assert.ok(s.notes.some((n) => /^wsTrust\.enabled is false: activeSignInUri and metadataExchangeUri are left out/.test(n)));
    assert.deepEqual(Object.keys(graphBody(s)).filter((k) => /active|metadataExchange/.test(k)), []);
    assert.doesNotMatch(newFederationCommand(s), /ActiveSignInUri|MetadataExchangeUri/);
  });

  test('an http baseUrl: the WS-Trust addresses are printed, with a note that rich clients drop http ones', () => {
    const s = buildM365Settings(parseConfig({ ...single, server: { baseUrl: 'http://sts.contoso.test' } }), key, { domain: 'contoso.com' });
    assert.equal(s.activeSignInUri, 'http://sts.contoso.test/adfs/services/trust/2005/usernamemixed');
    assert.ok(s.notes.some((n) => /^server\.baseUrl is not https: rich clients drop http WS-Trust addresses/.test(n)));
  });

  test('several domains: each gets http://<domain>/adfs/services/trust/ with the trailing slash', () => {
    const config = parseConfig(multiple);
    assert.equal(buildM365Settings(config, key, { domain: 'contoso.com' }).issuerUri, 'http://contoso.com/adfs/services/trust/');
    assert.equal(buildM365Settings(config, key, { domain: 'fabrikam.com' }).issuerUri, 'http://fabrikam.com/adfs/services/trust/');
  });

  test('an identifier set in config is the single-domain issuer; a trailing slash on baseUrl is not doubled', () => {
    const config = parseConfig({ ...single, server: { baseUrl: `${BASE_URL}/`, identifier: 'https://sts.contoso.test/adfs/services/trust' } });
    const s = buildM365Settings(config, key, { domain: 'contoso.com' });
    assert.equal(s.issuerUri, 'https://sts.contoso.test/adfs/services/trust');
    assert.equal(s.passiveSignInUri, `${BASE_URL}/adfs/ls/`);
  });

  test('SAML: no WS-Trust endpoints, no promptLoginBehavior, sign-out at the passive endpoint', () => {
    const s = buildM365Settings(parseConfig(single), key, { domain: 'contoso.com', protocol: 'saml' });
    assert.equal(s.preferredAuthenticationProtocol, 'saml');
    assert.equal(s.activeSignInUri, undefined);
    assert.equal(s.metadataExchangeUri, undefined);
    assert.equal(s.promptLoginBehavior, undefined);
    assert.equal(s.signOutUri, `${BASE_URL}/adfs/ls/`);
  });

  test('an unknown domain is a one-line error naming the configured ones', () => {
    assert.throws(
      () => buildM365Settings(parseConfig(multiple), key, { domain: 'example.org' }),
      (err: Error) => err.name === 'ConfigError' && err.message === 'domain example.org is not in microsoft365.domains (configured: contoso.com, fabrikam.com)',
    );
  });

  test('Graph JSON body: the internalDomainFederation fields only', () => {
    const body = graphBody(buildM365Settings(parseConfig(multiple), key, { domain: 'fabrikam.com' }));
    assert.deepEqual(Object.keys(body).sort(), [
      '@odata.type',
      'activeSignInUri',
      'displayName',
      'federatedIdpMfaBehavior',
      'issuerUri',
      'metadataExchangeUri',
      'passiveSignInUri',
      'preferredAuthenticationProtocol',
      'promptLoginBehavior',
      'signOutUri',
      'signingCertificate',
    ]);
    assert.equal(body['@odata.type'], '#microsoft.graph.internalDomainFederation');
    assert.equal(body.issuerUri, 'http://fabrikam.com/adfs/services/trust/');
    assert.equal(body.signingCertificate, key.certificateBase64);
    const withNext = graphBody(buildM365Settings(parseConfig(single), key, { domain: 'contoso.com', nextKey: otherKey }));
    assert.equal(withNext.nextSigningCertificate, otherKey.certificateBase64);
  });

  test('PowerShell: single-quoted literals, quotes doubled, nothing expanded', () => {
    assert.equal(psQuote("O'Brien"), "'O''Brien'");
    assert.equal(psQuote('$(Remove-Item C:\\) `n "x"'), '\'$(Remove-Item C:\\) `n "x"\'');
    assert.equal(psQuote('a\u2019b'), "'a\u2019\u2019b'"); // PowerShell treats typographic quotes as quotes too
    const s = buildM365Settings(parseConfig(single), key, { domain: 'contoso.com', displayName: "Contoso's $env:STS" });
    const cmd = newFederationCommand(s);
    assert.ok(cmd.startsWith("New-MgDomainFederationConfiguration -DomainId 'contoso.com' -DisplayName 'Contoso''s $env:STS' "));
    assert.ok(cmd.includes(" -IssuerUri 'http://sts.contoso.test/adfs/services/trust' "));
    assert.ok(cmd.includes(` -PassiveSignInUri '${BASE_URL}/adfs/ls/' `));
    assert.ok(cmd.includes(` -SigningCertificate '${key.certificateBase64}' `));
    assert.ok(cmd.includes(" -PreferredAuthenticationProtocol 'wsFed' "));
    assert.ok(cmd.includes(" -FederatedIdpMfaBehavior 'acceptIfMfaDoneByFederatedIdp'"));
    assert.ok(!cmd.includes('\n'));
    const update = updateCertificateCommand(buildM365Settings(parseConfig(single), key, { domain: 'contoso.com', nextKey: otherKey }));
    assert.equal(
      update,
      "Update-MgDomainFederationConfiguration -DomainId 'contoso.com' -InternalDomainFederationId (Get-MgDomainFederationConfiguration -DomainId 'contoso.com').Id " +
        `-SigningCertificate '${key.certificateBase64}' -NextSigningCertificate '${otherKey.certificateBase64}'`,
    );
  });
});

describe('openfed m365 settings (CLI)', () => {
  let setup: ReturnType<typeof cliSetup>;
  let cliKey: SigningKey;
  before(async () => {
    setup = cliSetup(multiple);
    cliKey = await loadSigningKey(undefined, setup.dataDir, 'sts.contoso.test', silentLogger);
  });
  after(() => rmSync(setup.dir, { recursive: true, force: true }));

  test('--json prints the settings object with the configured key', () => {
    const result = runCli(['m365', 'settings', '--domain', 'fabrikam.com', '--json'], setup.configFile);
    assert.equal(result.status, 0, result.stderr);
    const settings = JSON.parse(result.stdout);
    assert.equal(settings.issuerUri, 'http://fabrikam.com/adfs/services/trust/');
    assert.equal(settings.signingCertificate, cliKey.certificateBase64);
    assert.equal(settings.signingCertificateThumbprint, cliKey.thumbprint);
  });

  test('text output: PowerShell command, Graph body, certificate update line, the WS-Trust endpoints as served', () => {
    const result = runCli(['m365', 'settings', '--domain', 'contoso.com', '--protocol', 'wsfed'], setup.configFile);
    assert.equal(result.status, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /^New-MgDomainFederationConfiguration -DomainId 'contoso.com' .*-IssuerUri 'http:\/\/contoso.com\/adfs\/services\/trust\/'/m);
    assert.match(out, /^Update-MgDomainFederationConfiguration -DomainId 'contoso.com' -InternalDomainFederationId /m);
    assert.match(out, /^# {3}activeSignInUri +https:\/\/sts\.contoso\.test\/adfs\/services\/trust\/2005\/usernamemixed {2}\(WS-Trust 2005 usernamemixed\)$/m);
    assert.match(out, /^# {3}metadataExchangeUri +https:\/\/sts\.contoso\.test\/adfs\/services\/trust\/mex /m);
    assert.match(out, / -ActiveSignInUri 'https:\/\/sts\.contoso\.test\/adfs\/services\/trust\/2005\/usernamemixed' /);
    assert.doesNotMatch(out, /not served/);
    const json = /^\{[\s\S]*?^\}/m.exec(out);
    assert.ok(json);
    assert.equal(JSON.parse(json[0]).signingCertificate, cliKey.certificateBase64);
  });

  test('during a rollover of the shared key set, the next certificate goes to Entra ID as nextSigningCertificate', async () => {
    const rolling = cliSetup(single);
    try {
      const clock = new ManualClock(Date.now());
      const ring = await ManagedKeyRing.open({
        store: new FileKeySetStore(join(rolling.dataDir, 'keys')),
        policy: { autoRollover: true, generationThresholdDays: 20, promotionThresholdDays: 5 },
        encryptionSecret: undefined,
        subjectHost: 'sts.contoso.test',
        clock,
        logger: silentLogger,
        refreshSeconds: 0,
        checkIntervalMs: 0,
      });
      clock.advance(ring.primary.notAfter.getTime() - clock.now() - 19 * 86_400_000);
      await ring.check();
      const { primary, next } = ring;
      await ring.close();
      assert.ok(next, 'the rollover made a next certificate');

      const result = runCli(['m365', 'settings', '--domain', 'contoso.com', '--json'], rolling.configFile);
      assert.equal(result.status, 0, result.stderr);
      const settings = JSON.parse(result.stdout);
      assert.equal(settings.signingCertificate, primary.certificateBase64);
      assert.equal(settings.nextSigningCertificate, next.certificateBase64);
    } finally {
      rmSync(rolling.dir, { recursive: true, force: true });
    }
  });

  test('an unknown domain exits 1 with one line naming the configured domains', () => {
    const result = runCli(['m365', 'settings', '--domain', 'example.org'], setup.configFile);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'openfed: domain example.org is not in microsoft365.domains (configured: contoso.com, fabrikam.com)\n');
  });

  test('configuration errors and a missing key are one line; --help works', () => {
    const bad = cliSetup({ microsoft365: { domains: ['not a domain'] } });
    const noKey = cliSetup(single);
    try {
      const invalid = runCli(['m365', 'settings', '--domain', 'contoso.com'], bad.configFile);
      assert.equal(invalid.status, 1);
      assert.match(invalid.stderr, /^openfed: configuration key microsoft365\.domains\[0\]: expected a DNS domain name \(in .*\)\n$/);
      const missing = runCli(['m365', 'verify', '--domain', 'contoso.com'], noKey.configFile);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /^openfed: no token-signing key: keys\.signing is not configured and there is no key set in .*\/keys yet .*\n$/);
      const badProtocol = runCli(['m365', 'settings', '--domain', 'contoso.com', '--protocol', 'oidc'], setup.configFile);
      assert.notEqual(badProtocol.status, 0);
      for (const args of [['m365', '--help'], ['m365', 'settings', '--help'], ['m365', 'verify', '--help']]) {
        const help = runCli(args, setup.configFile);
        assert.equal(help.status, 0);
        assert.match(help.stdout, /^Usage: openfed m365/);
      }
    } finally {
      rmSync(bad.dir, { recursive: true, force: true });
      rmSync(noKey.dir, { recursive: true, force: true });
    }
  });
});

describe('m365 verify against a live OpenFed', () => {
  let server: TestServer;
  let serverKey: SigningKey;
  let tamper: Server;
  let tamperUrl: string;
  let tamperMode: 'entityId' | 'unsigned' | 'huge' = 'entityId';

  before(async () => {
    server = await startTestServer(multiple);
    serverKey = server.deps.keys.primary;
    // A stand-in that serves OpenFed's metadata altered after signing, and a healthy probe.
    tamper = createServer((req, res) => {
      void (async () => {
        if (req.url === '/adfs/probe') {
          res.end('OK');
          return;
        }
        const original = await (await fetch(`${server.url}/FederationMetadata/2007-06/FederationMetadata.xml`)).text();
        let body = original;
        if (tamperMode === 'entityId') body = original.replace('entityID="http://sts.contoso.test/', 'entityID="http://evil.test/');
        if (tamperMode === 'unsigned') body = original.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
        if (tamperMode === 'huge') body = original.replace('</md:EntityDescriptor>', `<!--${'x'.repeat(1_100_000)}--></md:EntityDescriptor>`);
        assert.notEqual(body, original);
        res.setHeader('Content-Type', 'application/samlmetadata+xml');
        res.end(body);
      })();
    });
    await new Promise<void>((resolve) => tamper.listen(0, '127.0.0.1', resolve));
    tamperUrl = `http://127.0.0.1:${(tamper.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => tamper.close(() => resolve()));
    await server.stop();
  });

  test('all checks OK with the server key', async () => {
    const report = await verifyM365({ config: server.config, domain: 'fabrikam.com', key: serverKey, url: server.url });
    assert.deepEqual(
      report.checks.filter((c) => c.status !== 'OK'),
      [],
    );
    assert.equal(report.ok, true);
    assert.equal(report.issuerUri, 'http://fabrikam.com/adfs/services/trust/');
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['metadata', 'signature', 'certificate', 'entityID', 'issuer', 'certificate-lifetime', 'probe', 'mex', 'active-2005', 'active-13', 'clock'],
    );
    // Over plain http the WS-Trust door still answers in SOAP: a fault, which is what verify asks of it.
    assert.match(check(report, 'active-13').reason, /answers an empty request with a SOAP fault \(s:Sender \/ /);
    assert.match(check(report, 'issuer').reason, /per-domain issuer http:\/\/fabrikam\.com\/adfs\/services\/trust\//);
    assert.match(check(report, 'entityID').reason, /http:\/\/sts\.contoso\.test\/adfs\/services\/trust$/);
  });

  test('a different configured key: the signature holds, the certificate check FAILs', async () => {
    const report = await verifyM365({ config: server.config, domain: 'contoso.com', key: otherKey, url: server.url });
    assert.equal(check(report, 'signature').status, 'OK');
    assert.equal(check(report, 'certificate').status, 'FAIL');
    assert.match(check(report, 'certificate').reason, new RegExp(`signed with ${serverKey.thumbprint}, not the configured signing certificate ${otherKey.thumbprint}`));
    assert.equal(report.ok, false);
  });

  test('a document tampered after signing FAILs on the signature, and its content is not read', async () => {
    tamperMode = 'entityId';
    const report = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: tamperUrl });
    assert.equal(check(report, 'metadata').status, 'OK');
    assert.equal(check(report, 'signature').status, 'FAIL');
    assert.match(check(report, 'signature').reason, /signature_invalid/);
    assert.equal(check(report, 'entityID').status, 'FAIL');
    assert.doesNotMatch(JSON.stringify(report), /evil\.test/);
    assert.equal(check(report, 'probe').status, 'OK');
    assert.equal(report.ok, false);

    tamperMode = 'unsigned';
    const unsigned = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: tamperUrl });
    assert.equal(check(unsigned, 'signature').status, 'FAIL');
    assert.match(check(unsigned, 'signature').reason, /carries no certificate|signature_missing/);
  });

  test('a document over 1 MiB is refused', async () => {
    tamperMode = 'huge';
    const report = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: tamperUrl });
    assert.equal(check(report, 'metadata').status, 'FAIL');
    assert.match(check(report, 'metadata').reason, /1048576-byte limit/);
    assert.equal(report.ok, false);
  });

  test('certificate near expiry: WARN under 35 days, FAIL under 30 (injected clock)', async () => {
    const days = (n: number) => new ManualClock(serverKey.notAfter.getTime() - n * 86_400_000);
    const soon = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: server.url, clock: days(33) });
    assert.equal(check(soon, 'certificate-lifetime').status, 'WARN');
    assert.match(check(soon, 'certificate-lifetime').reason, /expires in 33 days.*rollover/);
    assert.equal(soon.ok, true);
    const late = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: server.url, clock: days(10) });
    assert.equal(check(late, 'certificate-lifetime').status, 'FAIL');
    assert.equal(late.ok, false);
  });

  test('clock: more than 5 minutes from the server Date header is a WARN', async () => {
    const skewed = new ManualClock(Date.now() + 6 * 60_000);
    const report = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, url: server.url, clock: skewed });
    assert.equal(check(report, 'clock').status, 'WARN');
    assert.match(check(report, 'clock').reason, /behind local time: more than 5 minutes/);
    assert.equal(report.ok, true);
  });

  test('an endpoint that does not answer: FAIL after the timeout, not a hang', async () => {
    const hanging: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    const report = await verifyM365({ config: server.config, domain: 'contoso.com', key: serverKey, fetch: hanging, timeoutMs: 50 });
    assert.match(check(report, 'metadata').reason, /no answer within 0.05 s/);
    assert.equal(check(report, 'probe').status, 'FAIL');
    assert.equal(report.ok, false);
  });

  test('the CLI with the server dataDir (same key): exit 0 and a JSON report; exit 1 on a failure', async () => {
    const setup = cliSetup(multiple, server.dataDir);
    try {
      const args = [...CLI.slice(1), 'm365', 'verify', '--domain', 'contoso.com', '--url', server.url];
      const env = { ...process.env, OPENFED_CONFIG: setup.configFile };
      const json = await execFileAsync(CLI[0], [...args, '--json'], { env, timeout: 30_000 });
      const report = JSON.parse(json.stdout) as VerifyReport;
      assert.equal(report.ok, true, json.stdout);
      assert.equal(report.checks.length, 11);
      const text = await execFileAsync(CLI[0], args, { env, timeout: 30_000 });
      assert.match(text.stdout, /^OK {3}signature +rsa-sha256 signature verifies/m);
      assert.match(text.stdout, /No failures\.\n$/);

      tamperMode = 'entityId';
      const failing = await execFileAsync(CLI[0], [...CLI.slice(1), 'm365', 'verify', '--domain', 'contoso.com', '--url', tamperUrl], { env, timeout: 30_000 }).then(
        () => assert.fail('expected exit 1'),
        (err: { code: number; stdout: string }) => err,
      );
      assert.equal(failing.code, 1);
      assert.match(failing.stdout, /^FAIL signature /m);
    } finally {
      rmSync(setup.dir, { recursive: true, force: true });
    }
  });
});

describe('m365 verify: the WS-Trust checks (injected fetch)', () => {
  const INTERNAL = 'http://10.0.0.5:8080';
  const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
  const fault = (code = '<s:Subcode><s:Value xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">t:InvalidRequest</s:Value></s:Subcode>') =>
    `<s:Envelope xmlns:s="${SOAP12}"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value>${code}</s:Code>` +
    '<s:Reason><s:Text xml:lang="en-US">The request was invalid or malformed.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>';

  interface Seen {
    method: string;
    path: string;
    contentType: string | null;
    body: string;
  }

  /** Answers by path; anything else is a 404. What was asked is recorded. */
  function fakeFetch(answers: Record<string, () => Response>, seen: Seen[] = []): typeof fetch {
    return (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      seen.push({
        method: init?.method ?? 'GET',
        path: `${url.origin}${url.pathname}`,
        contentType: new Headers(init?.headers).get('content-type'),
        body: typeof init?.body === 'string' ? init.body : '',
      });
      const answer = answers[url.pathname];
      return answer ? answer() : new Response('<html><body>Not found</body></html>', { status: 404, headers: { 'Content-Type': 'text/html' } });
    }) as typeof fetch;
  }
  const soap = (body: string, status = 400) => () => new Response(body, { status, headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' } });
  const mex = (doc: string) => () => new Response(doc, { headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' } });
  const healthy = {
    '/adfs/services/trust/mex': mex(buildMex({ baseUrl: BASE_URL })),
    '/adfs/services/trust/2005/usernamemixed': soap(fault()),
    '/adfs/services/trust/13/usernamemixed': soap(fault()),
  };
  const verify = (answers: Record<string, () => Response>, seen?: Seen[], input: ConfigInput = single) =>
    verifyM365({ config: parseConfig(input), domain: 'contoso.com', key, url: INTERNAL, fetch: fakeFetch(answers, seen) });

  test('a MEX listing both usernamemixed endpoints at the settings addresses, and SOAP faults for an empty request: OK', async () => {
    const seen: Seen[] = [];
    const report = await verify(healthy, seen);
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['metadata', 'signature', 'certificate', 'entityID', 'issuer', 'certificate-lifetime', 'probe', 'mex', 'active-2005', 'active-13', 'clock'],
    );
    for (const name of ['mex', 'active-2005', 'active-13']) assert.equal(check(report, name).status, 'OK', check(report, name).reason);
    // Fetched from --url, compared with what the settings give Entra ID (server.baseUrl).
    assert.equal(
      check(report, 'mex').reason,
      `${INTERNAL}/adfs/services/trust/mex lists WS-Trust 1.3 ${BASE_URL}/adfs/services/trust/13/usernamemixed and WS-Trust 2005 ${BASE_URL}/adfs/services/trust/2005/usernamemixed`,
    );
    assert.match(check(report, 'active-13').reason, /SOAP fault \(s:Sender \/ t:InvalidRequest: The request was invalid or malformed\.\)/);

    const posts = seen.filter((r) => r.method === 'POST');
    assert.deepEqual(
      posts.map((r) => r.path),
      [`${INTERNAL}/adfs/services/trust/2005/usernamemixed`, `${INTERNAL}/adfs/services/trust/13/usernamemixed`],
    );
    for (const post of posts) {
      assert.equal(post.contentType, 'application/soap+xml; charset=utf-8');
      // SOAP 1.2, and nothing that could count as a sign-in attempt.
      assert.equal(post.body, `<s:Envelope xmlns:s="${SOAP12}"><s:Header/><s:Body/></s:Envelope>`);
    }
  });

  test('MEX problems FAIL: missing, not XML, not WSDL, http addresses, another host, a version missing', async () => {
    const mexCheck = async (answer: () => Response) => check(await verify({ ...healthy, '/adfs/services/trust/mex': answer }), 'mex');
    assert.match((await mexCheck(() => new Response('nope', { status: 404 }))).reason, /answered HTTP 404$/);
    assert.match((await mexCheck(mex('<!DOCTYPE html><html></html>'))).reason, /is not acceptable XML \(dtd: /);
    assert.match((await mexCheck(mex(`<s:Envelope xmlns:s="${SOAP12}"/>`))).reason, /is not a WSDL document \(root <Envelope>\)/);
    assert.match(
      (await mexCheck(mex(buildMex({ baseUrl: 'http://sts.contoso.test' })))).reason,
      /WS-Trust 1\.3 at http:\/\/sts\.contoso\.test\/adfs\/services\/trust\/13\/usernamemixed, which rich clients drop \(not https\)/,
    );
    assert.match(
      (await mexCheck(mex(buildMex({ baseUrl: 'https://old.contoso.test' })))).reason,
      /WS-Trust 1\.3 at https:\/\/old\.contoso\.test\/adfs\/services\/trust\/13\/usernamemixed, not https:\/\/sts\.contoso\.test\/adfs\/services\/trust\/13\/usernamemixed/,
    );
    const only2005 = await mexCheck(mex(buildMex({ baseUrl: BASE_URL, endpoints: USERNAME_MIXED_ENDPOINTS.filter((e) => e.version === '2005') })));
    assert.equal(only2005.status, 'FAIL');
    assert.match(only2005.reason, /lists no WS-Trust 1\.3 username endpoint$/);
  });

  test('an active endpoint that does not answer a SOAP 1.2 fault with Code/Subcode and Reason FAILs', async () => {
    const activeCheck = async (answer: () => Response) => check(await verify({ ...healthy, '/adfs/services/trust/2005/usernamemixed': answer }), 'active-2005');
    const html = await activeCheck(() => new Response('<html><body>Sign in</body></html>', { headers: { 'Content-Type': 'text/html' } }));
    assert.equal(html.status, 'FAIL');
    assert.match(html.reason, /answered HTTP 200 text\/html, not a SOAP 1\.2 fault \(root <html> in no namespace\)/);
    const trace = await activeCheck(soap('TypeError: Cannot read properties of undefined\n    at parseRequest (/app/dist/protocols/wstrust/request.js:41:17)\n', 500));
    assert.match(trace.reason, /answered HTTP 500 .* carrying a stack trace$/);
    const noSubcode = await activeCheck(soap(fault('')));
    assert.match(noSubcode.reason, /not a SOAP 1\.2 fault \(<Code> has no <Subcode> child\)/);
    const soap11 = await activeCheck(soap('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault/></s:Body></s:Envelope>', 500));
    assert.match(soap11.reason, /root <Envelope> in http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\//);
    const redirected = await activeCheck(() => new Response(null, { status: 302, headers: { Location: 'https://sts.contoso.test/adfs/ls/' } }));
    assert.match(redirected.reason, /answered HTTP 302 \(redirect to https:\/\/sts\.contoso\.test\/adfs\/ls\/\) without a type, not a SOAP 1\.2 fault/);
  });

  test('wsTrust.enabled false: one line saying WS-Trust is not checked, and nothing is asked of it', async () => {
    const seen: Seen[] = [];
    const report = await verify(healthy, seen, { ...single, wsTrust: { enabled: false } });
    assert.equal(check(report, 'ws-trust').status, 'OK');
    assert.match(check(report, 'ws-trust').reason, /^not checked: wsTrust\.enabled is false/);
    assert.equal(report.checks.find((c) => c.name === 'mex'), undefined);
    assert.deepEqual(
      seen.filter((r) => /trust/.test(r.path)),
      [],
    );
  });
});
