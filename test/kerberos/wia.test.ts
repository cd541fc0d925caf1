/**
 * Windows Integrated Authentication against Samba's KDC, with clients we did not write: a ticket from
 * `kinit`, then headless Chromium (WS-Fed to an Entra-like relying party, no form ever shown),
 * `curl --negotiate` (SAML), and python3-requests-kerberos (WS-Trust windowstransport, mutual
 * authentication required). And the refusals: no ticket → the form; outside the intranet → the form
 * only; a ticket whose account was disabled after it was issued → refused; NTLM → the form, never a
 * challenge; a relying party that asks for PasswordProtectedTransport exactly → the password.
 *
 * The STS host (sts.<domain>, the SPN's host) resolves to 127.0.0.1 for each client by its own means
 * (Chromium's host-resolver rules, curl --resolve, requests-kerberos' hostname override): no
 * /etc/hosts edit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { applyLdifAsAdmin, kinit, ldapConfig, loadAdFacts, type KerberosTicket } from '../helpers/ad.js';
import { makeTlsMaterial } from '../helpers/redis.js';
import { craftAuthnRequest, decodeSamlResponse, readPostForm, redirectQuery } from '../helpers/saml.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort } from '../helpers/test-sp.js';
import { IMMUTABLE_ID_CLAIM, M365_REALM, startTestWsfedRp, UPN_CLAIM, type TestWsfedRp } from '../helpers/test-wsfed-rp.js';
import { buildRst, readFault } from '../helpers/wstrust-messages.js';

const ad = loadAdFacts();
const SP = 'urn:test:kerberos-sp';
const ACS = 'https://sp.example.test/acs';
const user = ad.users.NORMAL;
const upn = `${user.sam}@${ad.dnsDomain}`;

function kerberosConfig(overrides: Record<string, unknown> = {}): ConfigInput['kerberos'] {
  return {
    enabled: true,
    servicePrincipal: ad.spn,
    keytab: ad.keytab,
    realm: ad.realm,
    intranetNetworks: ['127.0.0.0/8'],
    // curl and python-requests stand in for domain-joined rich clients and scripts here.
    userAgents: ['Chrome/', 'curl/', 'python-requests/'],
    ...overrides,
  };
}

const CHROMIUM_POLICY = '/etc/chromium/policies/managed/openfed-test-kerberos.json';

/** Writes the policy unless it is there; true when this run wrote it (and so removes it). Needs root, as npm test runs. */
function installChromiumPolicy(): boolean {
  if (existsSync(CHROMIUM_POLICY)) return false;
  mkdirSync(dirname(CHROMIUM_POLICY), { recursive: true });
  writeFileSync(CHROMIUM_POLICY, JSON.stringify({ DisableAuthNegotiateCnameLookup: true }));
  return true;
}

function run(file: string, args: string[], env: Record<string, string>, input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: { ...process.env, ...env }, timeout: 30_000, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error ? (typeof error.code === 'number' ? error.code : 1) : 0 }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

describe('Windows Integrated Authentication with Samba\'s KDC', () => {
  let server: TestServer;
  let base: string;
  let port: number;
  let rp: TestWsfedRp;
  let ticket: KerberosTicket;
  let audit: MemoryAuditLog;
  let browser: Browser;
  let policyCreated = false;
  const jarDir = mkdtempSync(join(tmpdir(), 'openfed-wia-'));

  before(async () => {
    port = await freePort();
    base = `http://${ad.stsHost}:${port}`;
    rp = await startTestWsfedRp({ realm: M365_REALM, idpBase: base, name: 'Entra-like' });
    audit = new MemoryAuditLog();
    server = await startTestServer(
      {
        server: { port, baseUrl: base },
        directory: { ldap: ldapConfig(ad) },
        kerberos: kerberosConfig(),
        microsoft365: { enabled: true, domains: [ad.dnsDomain], replyUrl: rp.replyUrl },
        relyingParties: [{ entityId: SP, assertionConsumerServices: [{ url: ACS }], nameId: { format: 'persistent' } }],
      },
      { audit },
    );
    rp.setIdpCert(server.deps.keys.primary.certificateBase64);
    assert.ok(server.deps.windows, 'Windows Integrated Authentication is on (the kerberos addon loaded)');
    ticket = await kinit(ad, 'NORMAL');
    // Chromium names the SPN after the canonical host name, which its resolver rules cannot give
    // (it would not ask at all): DisableAuthNegotiateCnameLookup, an enterprise policy as an admin
    // sets it, makes the SPN HTTP/<the name typed>. Its command-line switch no longer works.
    policyCreated = installChromiumPolicy();
    browser = await launchBrowser({ env: ticket.env, args: [`--auth-server-allowlist=${ad.stsHost}`, `--host-resolver-rules=MAP ${ad.stsHost} 127.0.0.1`] });
  });
  after(async () => {
    if (policyCreated) rmSync(CHROMIUM_POLICY, { force: true });
    await browser?.close();
    await ticket?.destroy();
    await server?.stop();
    await rp?.stop();
  });

  test('Chromium with a ticket: WS-Fed sign-in to Microsoft 365 without a form; windows claims', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Chromium loads GSSAPI only after the first Negotiate challenge a profile sees (client-facts.md):
    // that first page is the fallback form, which must be usable on its own.
    const first = await page.goto(`${base}/signin`);
    assert.ok(first && [200, 401].includes(first.status()));
    assert.ok(await page.locator('form input[name="password"]').count(), 'the challenge page is the sign-in form');

    const forms: string[] = [];
    page.on('response', (res) => {
      if (res.url().includes('/signin') && res.request().method() === 'GET' && res.status() !== 303) forms.push(`${res.status()} ${res.url()}`);
    });
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(`${rp.url}/**`, { timeout: 15_000, waitUntil: 'load' });
    await page.locator('#status').waitFor({ timeout: 15_000 });
    assert.deepEqual(forms, [], 'no sign-in form on the way');
    const session = rp.sessions().at(-1);
    assert.ok(session, `the RP accepted a token (failures: ${JSON.stringify(rp.failures())})`);
    assert.equal(session.upn, upn);
    const principal = await server.deps.directory.findPrincipal(upn);
    assert.equal(session.claims[IMMUTABLE_ID_CLAIM], microsoft365ImmutableId(principal!, 'auto'));
    assert.equal(session.claims[UPN_CLAIM], upn);
    assert.equal(session.claims['http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork'], 'true');
    assert.equal(session.claims['http://schemas.microsoft.com/claims/authnmethodsreferences'], 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/windows');
    assert.ok(audit.events.some((e) => e.type === 'signin.succeeded' && e.method === 'windows' && e.upn === upn));
    await context.close();
  });

  async function curlSaml(options: { ticket?: KerberosTicket; authnContext?: { comparison: string; refs: string[] }; userAgent?: string; negotiate?: boolean }) {
    const { xml } = craftAuthnRequest({ issuer: SP, acsUrl: ACS, ...(options.authnContext ? { authnContext: options.authnContext } : {}) });
    const jar = join(jarDir, `jar-${Math.random().toString(36).slice(2)}`);
    const args = [
      '-s', '-L', '-c', jar, '-b', jar,
      '--resolve', `${ad.stsHost}:${port}:127.0.0.1`,
      '-w', '\n%{http_code} %{url_effective}',
      ...(options.negotiate === false ? [] : ['--negotiate', '-u', ':']),
      ...(options.userAgent ? ['-A', options.userAgent] : []),
      `${base}/adfs/ls/?${redirectQuery(xml)}`,
    ];
    const out = await run('curl', args, options.ticket?.env ?? { KRB5_CONFIG: ad.krb5Config, KRB5CCNAME: `FILE:${join(jarDir, 'no-ticket')}` });
    const lines = out.stdout.split('\n');
    const [status, url] = lines.at(-1)!.split(' ');
    return { status: Number(status), url: url!, body: lines.slice(0, -1).join('\n') };
  }

  test('curl --negotiate: SAML sign-in without a password; AuthnContextClassRef windows', async () => {
    const answer = await curlSaml({ ticket });
    assert.equal(answer.status, 200, answer.body.slice(0, 300));
    const { action, fields } = readPostForm(answer.body);
    assert.equal(action, ACS);
    const response = decodeSamlResponse(fields.SAMLResponse!);
    assert.match(response, /<AuthnContextClassRef>urn:federation:authentication:windows<\/AuthnContextClassRef>/);
    assert.match(response, /StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"/);
  });

  test('an SP asking for PasswordProtectedTransport exactly gets the password form, as AD FS answers it', async () => {
    const answer = await curlSaml({ ticket, authnContext: { comparison: 'exact', refs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'] } });
    assert.equal(answer.status, 200);
    assert.match(answer.url, /\/signin\?pending=.*&forms=1/);
    assert.match(answer.body, /name="password"/);
  });

  test('no ticket: the challenge\'s body is the form; a client not offered Negotiate gets the form outright', async () => {
    const noTicket = await curlSaml({});
    assert.equal(noTicket.status, 401);
    assert.match(noTicket.body, /name="password"/, 'a browser without a ticket is never stuck');
    const wget = await curlSaml({ ticket, negotiate: false, userAgent: 'Wget/1.21' });
    assert.equal(wget.status, 200);
    assert.match(wget.body, /name="password"/);
  });

  test('outside the intranet ranges: the form only, never a challenge', async () => {
    const outside = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      directory: { ldap: ldapConfig(ad) },
      kerberos: kerberosConfig({ intranetNetworks: ['10.0.0.0/8'] }),
    });
    try {
      const res = await fetch(`${outside.url}/signin`, { headers: { 'User-Agent': 'Mozilla/5.0 Chrome/156.0' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('www-authenticate'), null);
    } finally {
      await outside.stop();
    }
  });

  test('an NTLM token gets the form, never an NTLM challenge', async () => {
    const ntlm = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from('0100000007b208a2', 'hex')]).toString('base64');
    const res = await fetch(`${server.url}/signin`, { headers: { 'User-Agent': 'curl/8', Authorization: `Negotiate ${ntlm}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('www-authenticate'), null);
    assert.match(await res.text(), /name="password"/);
    assert.ok(audit.events.some((e) => e.type === 'signin.failed' && e.reason === 'windows_ntlm'));
  });

  /** A Negotiate token for `service` made by the addon's client side, from the ticket's cache (as a browser makes one). */
  async function clientToken(service: string, from: KerberosTicket): Promise<string> {
    const script = "const k=require('kerberos');k.initializeClient(process.argv[1],{mechOID:k.GSS_MECH_OID_SPNEGO}).then(c=>c.step('')).then(t=>process.stdout.write(t))";
    const out = await run(process.execPath, ['-e', script, service], { ...from.env, NODE_PATH: join(process.cwd(), 'node_modules') });
    assert.equal(out.code, 0, out.stderr);
    return out.stdout;
  }

  test('a replayed token, a ticket for another service, a garbled token: the form, audited, never a 500', async () => {
    const signIn = (token: string) => fetch(`${server.url}/signin`, { headers: { 'User-Agent': 'curl/8', Authorization: `Negotiate ${token}` }, redirect: 'manual' });
    const token = await clientToken(`HTTP@${ad.stsHost}`, ticket);
    const first = await signIn(token);
    assert.equal(first.status, 303, 'the token works once');
    const from = audit.events.length;
    const cases: Array<[string, string, string]> = [
      ['the same token again (GSSAPI replay cache)', token, 'windows_rejected'],
      ['a ticket for the DC\'s host service, not ours', await clientToken('host@dc1.' + ad.dnsDomain, ticket), 'windows_rejected'],
      ['a garbled token', 'YIIBAAAAAAAAAAAA', 'windows_garbled'],
    ];
    for (const [label, t] of cases) {
      const res = await signIn(t);
      assert.equal(res.status, 200, label);
      assert.equal(res.headers.get('www-authenticate'), null, `${label}: no second challenge`);
      assert.match(await res.text(), /name="password"/, label);
    }
    assert.deepEqual(
      audit.events.slice(from).filter((e) => e.type === 'signin.failed').map((e) => (e.type === 'signin.failed' ? e.reason : '')),
      cases.map((c) => c[2]),
    );
  });

  test('the mutual-authentication token comes back on the redirect that follows a Negotiate sign-in', async () => {
    const token = await clientToken(`HTTP@${ad.stsHost}`, ticket);
    const res = await fetch(`${server.url}/signin`, { headers: { 'User-Agent': 'curl/8', Authorization: `Negotiate ${token}` }, redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Negotiate [A-Za-z0-9+/]+=*$/);
  });

  test('a valid ticket for an account disabled since: refused, with the account\'s state', async () => {
    const victim = ad.users.WRONG_PW;
    const victimTicket = await kinit(ad, 'WRONG_PW');
    // The service ticket first, while the account is enabled: once disabled, the KDC issues no more.
    const kvno = await run('kvno', [`${ad.spn}@${ad.realm}`], victimTicket.env);
    assert.equal(kvno.code, 0, kvno.stderr);
    const setUac = (value: number) => applyLdifAsAdmin(ad, `dn: ${victim.dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: ${value}\n`);
    await setUac(514);
    try {
      const answer = await curlSaml({ ticket: victimTicket });
      assert.equal(answer.status, 403, answer.body.slice(0, 200));
      assert.match(answer.body, /Your account is disabled/);
      assert.ok(audit.events.some((e) => e.type === 'signin.failed' && e.reason === 'windows_account_disabled'));
    } finally {
      await setUac(512);
      await victimTicket.destroy();
    }
  });

  test('WS-Trust windowstransport with requests-kerberos (mutual authentication required): a token; MEX lists it to the intranet', async () => {
    const tls = makeTlsMaterial();
    const tlsPort = await freePort();
    const tlsBase = `https://${ad.stsHost}:${tlsPort}`;
    const secure = await startTestServer({
      server: { port: tlsPort, baseUrl: tlsBase, tls: { keyFile: tls.keyFile, certFile: tls.certFile }, trustedProxies: ['127.0.0.1'] },
      directory: { ldap: ldapConfig(ad) },
      kerberos: kerberosConfig(),
      microsoft365: { enabled: true, domains: [ad.dnsDomain] },
    });
    try {
      const mex = await run('curl', ['-s', '--cacert', tls.caFile, `https://localhost:${tlsPort}/adfs/services/trust/mex`], {});
      assert.match(mex.stdout, /\/adfs\/services\/trust\/13\/windowstransport</);
      const iwa = await run('/usr/bin/python3', ['-c', `
import sys, json
from msal.mex import Mex
d = Mex(sys.stdin.read())
print(json.dumps(d._get_endpoints(d._get_bindings(), d._get_iwa_policy_ids())))`], {}, mex.stdout);
      assert.deepEqual(JSON.parse(iwa.stdout).map((e: { address: string }) => e.address).sort(), [
        `${tlsBase}/adfs/services/trust/13/windowstransport`,
        `${tlsBase}/adfs/services/trust/2005/windowstransport`,
      ], `MSAL finds both Kerberos endpoints (${iwa.stderr})`);

      for (const version of ['13', '2005'] as const) {
        const address = `${tlsBase}/adfs/services/trust/${version}/windowstransport`;
        const body = buildRst({ version, to: address, username: '', password: '' }).replace(/<wsse:UsernameToken[^]*<\/wsse:UsernameToken>/, '');
        const bodyFile = join(jarDir, `rst-${version}.xml`);
        writeFileSync(bodyFile, body);
        const script = `
import json, sys, requests
from requests_kerberos import HTTPKerberosAuth, REQUIRED
url, body, ca, host = sys.argv[1:5]
s = requests.Session()
s.trust_env = False
r = s.post(url, data=open(body, 'rb').read(), headers={'Content-Type': 'application/soap+xml; charset=utf-8'},
           auth=HTTPKerberosAuth(mutual_authentication=REQUIRED, hostname_override=host), verify=ca)
print(json.dumps({'status': r.status_code, 'body': r.text}))`;
        const out = await run('/usr/bin/python3', ['-c', script, `https://localhost:${tlsPort}/adfs/services/trust/${version}/windowstransport`, bodyFile, tls.caFile, ad.stsHost], ticket.env);
        assert.ok(out.stdout, out.stderr);
        const reply = JSON.parse(out.stdout) as { status: number; body: string };
        assert.equal(reply.status, 200, reply.body.slice(0, 400));
        assert.match(reply.body, /<t:TokenType>urn:oasis:names:tc:SAML:1\.0:assertion<\/t:TokenType>/);
        assert.match(reply.body, /AuthenticationMethod="urn:federation:authentication:windows"/);
        assert.match(reply.body, new RegExp(`<saml:AttributeValue>${upn.replace(/\./g, '\\.')}</saml:AttributeValue>`));
      }

      // From the extranet (through a trusted proxy): not listed, not served, no challenge.
      const outsideMex = await run('curl', ['-s', '--cacert', tls.caFile, '-H', 'X-Forwarded-For: 203.0.113.5', `https://localhost:${tlsPort}/adfs/services/trust/mex`], {});
      assert.match(outsideMex.stdout, /usernamemixed/);
      assert.doesNotMatch(outsideMex.stdout, /windowstransport/);
      const outside = await run('curl', ['-s', '-i', '--cacert', tls.caFile, '-H', 'X-Forwarded-For: 203.0.113.5', '-H', 'Content-Type: application/soap+xml', '--data-binary', '<x/>', `https://localhost:${tlsPort}/adfs/services/trust/13/windowstransport`], {});
      assert.match(outside.stdout, /^HTTP\/1\.1 403/);
      assert.doesNotMatch(outside.stdout, /www-authenticate/i);
      assert.equal(readFault(outside.stdout.slice(outside.stdout.indexOf('<'))).subcode, 'wst:RequestFailed');

      // A garbled token: a fault, no second challenge.
      const garbled = await run('curl', ['-s', '-i', '--cacert', tls.caFile, '-H', 'Authorization: Negotiate YIIBAAAAAAAAAAAA', '-H', 'Content-Type: application/soap+xml',
        '--data-binary', buildRst({ version: '13', to: `${tlsBase}/adfs/services/trust/13/windowstransport`, username: '', password: '' }), `https://localhost:${tlsPort}/adfs/services/trust/13/windowstransport`], {});
      assert.match(garbled.stdout, /^HTTP\/1\.1 400/);
      assert.doesNotMatch(garbled.stdout, /www-authenticate/i);
      assert.equal(readFault(garbled.stdout.slice(garbled.stdout.indexOf('<'))).subcode, 'wst:FailedAuthentication');

      // Without Negotiate: the challenge, as a SOAP fault.
      const challenge = await run('curl', ['-s', '-i', '--cacert', tls.caFile, '-H', 'Content-Type: application/soap+xml', '--data-binary', '<x/>', `https://localhost:${tlsPort}/adfs/services/trust/13/windowstransport`], {});
      assert.match(challenge.stdout, /^HTTP\/1\.1 401/);
      assert.match(challenge.stdout, /\r\nwww-authenticate: Negotiate\r\n/i);
      assert.equal(readFault(challenge.stdout.slice(challenge.stdout.indexOf('<'))).subcode, 'wst:FailedAuthentication');
    } finally {
      await secure.stop();
    }
  });
});
