/**
 * The Kerberos sign-in's own logic, without a KDC: which Negotiate tokens reach GSSAPI (SPNEGO with
 * Kerberos, a bare AP-REQ) and which never do (NTLM raw or in SPNEGO, garbage, oversized), how a
 * ticket's principal becomes an AD login name, who is offered the challenge, and that AD's account
 * state decides even with a valid ticket. The GSSAPI addon and the directory are stand-ins here; the
 * real ones are proven against Samba's KDC in test/kerberos/.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { classifyToken, integratedAuthOffer, loginNameOf, negotiateToken, WindowsSignIns, type KerberosConfig } from '../../src/authn/kerberos.js';
import type { KerberosAddon } from '../../src/authn/kerberos-addon.js';
import { parseConfig } from '../../src/config/load.js';
import type { AuthResult } from '../../src/directory/types.js';
import { silentLogger } from '../../src/log.js';
import { ALICE } from '../protocols/fixtures.js';

/** DER: tag, length, content. */
const der = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
};
const OID = {
  spnego: Buffer.from('06062b0601050502', 'hex'),
  krb5: Buffer.from('06092a864886f712010202', 'hex'),
  msKrb5: Buffer.from('06092a864882f712010202', 'hex'),
  ntlm: Buffer.from('060a2b06010401823702020a', 'hex'),
};
const AP_REQ = der(0x6e, Buffer.alloc(40, 1));
/** GSS InitialContextToken for SPNEGO: NegTokenInit with these mechTypes and a mechToken. */
const spnego = (mechs: Buffer[], mechToken: Buffer) => der(0x60, OID.spnego, der(0xa0, der(0x30, der(0xa0, der(0x30, ...mechs)), der(0xa2, der(0x04, mechToken)))));
const NTLM_NEGOTIATE = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from('0100000007b208a2', 'hex')]);

describe('classifyToken', () => {
  const rows: Array<[string, Buffer, string]> = [
    ['SPNEGO, Kerberos first (browsers)', spnego([OID.msKrb5, OID.krb5, OID.ntlm], der(0x60, OID.krb5, Buffer.from([1, 0]), AP_REQ)), 'spnego'],
    ['SPNEGO, Kerberos only (curl)', spnego([OID.krb5], der(0x60, OID.krb5, Buffer.from([1, 0]), AP_REQ)), 'spnego'],
    ['a bare Kerberos GSS token (requests-kerberos)', der(0x60, OID.krb5, Buffer.from([1, 0]), AP_REQ), 'kerberos'],
    ['raw NTLM', NTLM_NEGOTIATE, 'ntlm'],
    ['SPNEGO offering NTLM only', spnego([OID.ntlm], NTLM_NEGOTIATE), 'ntlm'],
    ['SPNEGO proposing NTLM before Kerberos', spnego([OID.ntlm, OID.krb5], Buffer.from('x')), 'ntlm'],
    ['SPNEGO with an NTLM mechToken behind a Kerberos proposal', spnego([OID.krb5, OID.ntlm], NTLM_NEGOTIATE), 'ntlm'],
    ['SPNEGO proposing nothing we know', spnego([Buffer.from('06032a0304', 'hex')], Buffer.from('x')), 'unknown'],
    ['not GSS at all', Buffer.from('hello world'), 'unknown'],
    ['a GSS header with another mechanism', der(0x60, Buffer.from('06032a0304', 'hex'), Buffer.alloc(10)), 'unknown'],
  ];
  for (const [label, token, kind] of rows) test(`${label} → ${kind}`, () => assert.equal(classifyToken(token), kind));
});

describe('negotiateToken', () => {
  const rows: Array<[string | undefined, string | undefined]> = [
    ['Negotiate YIIBbAYGKwYBBQUCoIIBYDCC', 'YIIBbAYGKwYBBQUCoIIBYDCC'],
    ['negotiate YWJj==', 'YWJj=='],
    ['Negotiate', undefined],
    ['Negotiate not base64!', undefined],
    ['NTLM TlRMTVNTUAABAAAA', undefined],
    ['Basic YWxpY2U6cGFzcw==', undefined],
    [undefined, undefined],
  ];
  for (const [header, token] of rows) test(`${String(header)} → ${String(token)}`, () => assert.equal(negotiateToken(header), token));
});

describe('loginNameOf', () => {
  const rows: Array<[string, string | undefined]> = [
    ['alice@CORP.EXAMPLE.TEST', 'alice'],
    ['alice@corp.example.test', 'alice'],
    ['bob\\@contoso.test@CORP.EXAMPLE.TEST', 'bob@contoso.test'],
    ['alice@OTHER.REALM', undefined],
    ['HTTP/sts.corp.example.test@CORP.EXAMPLE.TEST', undefined],
    ['@CORP.EXAMPLE.TEST', undefined],
    ['alice', undefined],
  ];
  for (const [principal, login] of rows) test(`${principal} → ${String(login)}`, () => assert.equal(loginNameOf(principal, 'CORP.EXAMPLE.TEST'), login));
});

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
function kerberosConfig(overrides: Record<string, unknown> = {}): KerberosConfig {
  return parseConfig({
    microsoft365: { internalNetworks: ['10.0.0.0/8'] },
    kerberos: { enabled: true, servicePrincipal: 'HTTP/sts.corp.example.test', keytab: '/etc/openfed/sts.keytab', realm: 'CORP.EXAMPLE.TEST', ...overrides },
  }).kerberos;
}

describe('integratedAuthOffer: who gets the Negotiate challenge', () => {
  test('intranet and a known browser only (microsoft365.internalNetworks by default)', () => {
    const offer = integratedAuthOffer(kerberosConfig(), ['10.0.0.0/8']);
    assert.equal(offer('10.1.2.3', CHROME), true);
    assert.equal(offer('::ffff:10.1.2.3', CHROME), true);
    assert.equal(offer('203.0.113.9', CHROME), false, 'extranet: forms');
    assert.equal(offer('10.1.2.3', 'curl/7.88.1'), false, 'a client not in userAgents: forms');
    assert.equal(offer('10.1.2.3', undefined), false);
  });

  test('its own networks and user agents when configured; nothing when disabled', () => {
    const offer = integratedAuthOffer(kerberosConfig({ intranetNetworks: ['127.0.0.0/8'], userAgents: ['curl/'] }), ['10.0.0.0/8']);
    assert.equal(offer('127.0.0.1', 'curl/7.88.1'), true);
    assert.equal(offer('10.1.2.3', 'curl/7.88.1'), false);
    assert.equal(integratedAuthOffer({ ...kerberosConfig(), enabled: false }, ['10.0.0.0/8'])('10.1.2.3', CHROME), false);
  });

  test('the configuration requires the principal, keytab and realm once enabled', () => {
    assert.throws(() => parseConfig({ kerberos: { enabled: true } }), /kerberos\.servicePrincipal/);
    assert.throws(() => kerberosConfig({ servicePrincipal: 'sts.corp.example.test' }), /HTTP\/<host name/);
  });
});

describe('WindowsSignIns', () => {
  const token = spnego([OID.krb5], der(0x60, OID.krb5, Buffer.from([1, 0]), AP_REQ)).toString('base64');
  function world(accept: { username?: string; response?: string; error?: string }, account: AuthResult = { ok: true, principal: ALICE }) {
    const services: string[] = [];
    const steps: string[] = [];
    const checked: string[] = [];
    const addon: KerberosAddon = {
      async initializeServer(service) {
        services.push(service);
        return {
          async step(t: string) {
            steps.push(t);
            if (accept.error) throw new Error(accept.error);
          },
          username: accept.username,
          response: accept.response,
        };
      },
    };
    const audit = new MemoryAuditLog();
    const signIns = new WindowsSignIns({
      config: kerberosConfig(),
      addon,
      audit,
      directory: {
        async checkAccount(name) {
          checked.push(name);
          return account;
        },
      },
    });
    const attempt = (t = token) => signIns.signIn({ token: t, clientIp: '10.1.2.3', requestId: 'r1', log: silentLogger, endpoint: 'form' });
    return { services, steps, checked, audit, attempt };
  }

  test('a valid ticket: the account checked in AD by its login name; the server token returned; audited', async () => {
    const w = world({ username: 'alice@CORP.EXAMPLE.TEST', response: 'b2s=' });
    const outcome = await w.attempt();
    assert.deepEqual(outcome, { ok: true, principal: ALICE, response: 'b2s=' });
    assert.deepEqual(w.services, ['HTTP@sts.corp.example.test']);
    assert.deepEqual(w.checked, ['alice']);
    assert.deepEqual(w.audit.events.map((e) => [e.type, 'method' in e ? e.method : '']), [['signin.succeeded', 'windows']]);
  });

  test('a valid ticket of a disabled account is refused with AD\'s reason', async () => {
    const w = world({ username: 'dave@CORP.EXAMPLE.TEST' }, { ok: false, reason: 'account_disabled' });
    const outcome = await w.attempt();
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.reason, 'account_disabled');
    assert.equal(w.audit.events[0]?.type, 'signin.failed');
  });

  const refusals: Array<[string, { username?: string; error?: string }, string | undefined, string]> = [
    ['NTLM never reaches GSSAPI', { username: 'x@CORP.EXAMPLE.TEST' }, NTLM_NEGOTIATE.toString('base64'), 'ntlm'],
    ['garbage never reaches GSSAPI', { username: 'x@CORP.EXAMPLE.TEST' }, Buffer.from('garbage').toString('base64'), 'garbled'],
    ['an oversized token is not read', { username: 'x@CORP.EXAMPLE.TEST' }, Buffer.alloc(70_000, 0x60).toString('base64'), 'garbled'],
    ['GSSAPI refuses (replay, wrong key, skew)', { error: 'Request is a replay' }, undefined, 'rejected'],
    ['a ticket of another realm', { username: 'alice@EVIL.TEST' }, undefined, 'other_realm'],
    ['a service principal', { username: 'HTTP/x@CORP.EXAMPLE.TEST' }, undefined, 'other_realm'],
  ];
  for (const [label, accept, t, reason] of refusals) {
    test(`refused: ${label}`, async () => {
      const w = world(accept);
      const outcome = await w.attempt(t);
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.reason, reason);
      assert.deepEqual(w.checked, [], 'AD is not asked');
      if (reason === 'ntlm' || reason === 'garbled') assert.deepEqual(w.steps, [], 'GSSAPI is not asked');
      assert.equal(w.audit.events[0]?.type, 'signin.failed');
    });
  }
});
