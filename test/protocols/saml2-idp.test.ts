/**
 * SamlIdp's protocol rules, without a server: requests are built here, received through the
 * HTTP-POST binding, and the Response OpenFed would POST to the SP is decoded and read as XML.
 * Time is a ManualClock, the replay cache is in memory, the registry is a stub.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { SamlError } from '../../src/errors.js';
import { immutableId } from '../../src/claims/values.js';
import { fixedKeyRing } from '../../src/keys/key-ring.js';
import { AUTHN_CONTEXT, BINDING, NAME_ID_FORMAT, NAME_ID_FORMAT_SAML2_UNSPECIFIED, type NameIdFormatName } from '../../src/protocols/saml2/constants.js';
import { SamlIdp, type Outcome, type RelyingPartyLookup, type TrustedAuthnRequest } from '../../src/protocols/saml2/idp.js';
import type { AcsEndpoint, SamlRelyingParty } from '../../src/relying-parties/registry.js';
import { samlRelyingPartySchema } from '../../src/relying-parties/schema.js';
import { MemoryReplayCache } from '../../src/sessions/memory.js';
import { NS } from '../../src/xml/namespaces.js';
import { craftAuthnRequest, type CraftOptions } from '../helpers/saml.js';
import { signRoot } from '../helpers/hostile.js';
import { ALICE, BOB, NOW, all, child, only, parse, session, signingKey, text } from './fixtures.js';

const IDP = 'https://sts.corp.example/adfs/services/trust';
const SSO_URL = 'https://sts.corp.example/adfs/ls/';
const SP = 'https://sp.example/';
const ACS = 'https://sp.example/acs';
const REDIRECT_ACS = 'https://sp.example/acs-redirect';
const SIGNED_SP = 'https://signed-sp.example/';
/** One SP per configured NameID format, for the NameIDPolicy table. */
const spFor = (format: NameIdFormatName) => `https://${format.toLowerCase()}.sp.example/`;
const FORMATS: NameIdFormatName[] = ['persistent', 'emailAddress', 'unspecified', 'transient'];

const PPT = AUTHN_CONTEXT.passwordProtectedTransport;
const PASSWORD = AUTHN_CONTEXT.password;
const UNSPECIFIED = AUTHN_CONTEXT.unspecified;
const SMARTCARD = 'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard';
const MFA = 'http://schemas.microsoft.com/claims/multipleauthn';
const REFEDS_MFA = 'https://refeds.org/profile/mfa';
const UNKNOWN = 'urn:example:ac:classes:SomethingWeKnowNothingAbout';

const settings = parseConfig({}).saml;
const spKey = await signingKey('sp');
const otherKey = await signingKey('someone-else');
const idpKey = await signingKey('idp');

function relyingParty(input: Record<string, unknown>, acs: AcsEndpoint[], certificates: X509Certificate[] = []): SamlRelyingParty {
  const config = samlRelyingPartySchema.parse(input);
  const { assertionConsumerServices: _a, singleLogoutServices: _s, signingCertificates: _c, encryptionCertificate: _e, metadata: _m, ...rest } = config;
  return {
    ...rest,
    displayName: config.name ?? config.entityId,
    acs,
    slo: [],
    signingCertificates: certificates,
    requireSignedRequests: config.requireSignedRequests ?? false,
    requireSignedRequestsFrom: config.requireSignedRequests === undefined ? 'default' : 'config',
  };
}

const postAcs = (url: string, index: number, isDefault = false): AcsEndpoint => ({ url, binding: 'post', index, isDefault });

const RPS = new Map<string, SamlRelyingParty>(
  [
    relyingParty({ entityId: SP, allowIdpInitiated: true }, [postAcs(ACS, 0, true), { url: REDIRECT_ACS, binding: 'redirect', index: 1, isDefault: false }]),
    relyingParty({ entityId: SIGNED_SP, requireSignedRequests: true }, [postAcs('https://signed-sp.example/acs', 0, true)], [spKey.certificate]),
    ...FORMATS.map((format) => relyingParty({ entityId: spFor(format), nameId: { format } }, [postAcs(`${spFor(format)}acs`, 0, true)])),
  ].map((rp) => [rp.entityId, rp]),
);

/** The registry's contract, for exact URLs: an index, a URL, or the default endpoint. */
class Registry implements RelyingPartyLookup {
  readonly rps = new Map(RPS);
  get(entityId: string): SamlRelyingParty | undefined {
    return this.rps.get(entityId);
  }
  resolveAcs(rp: SamlRelyingParty, request: { url?: string; index?: number; binding?: string }): AcsEndpoint | undefined {
    if (request.index !== undefined) return rp.acs.find((a) => a.index === request.index);
    if (request.url !== undefined) return rp.acs.find((a) => a.url === request.url);
    return rp.acs.find((a) => a.isDefault && (request.binding === undefined || a.binding === request.binding));
  }
}

function world() {
  const clock = new ManualClock(NOW);
  const registry = new Registry();
  const replay = new MemoryReplayCache({ clock });
  const idp = new SamlIdp({
    issuer: IDP,
    ssoUrl: SSO_URL,
    settings,
    registry,
    replay,
    clock,
    keys: fixedKeyRing(idpKey),
    sessionSecret: 'a-session-secret-of-at-least-thirty-two-characters',
  });
  return { clock, registry, replay, idp };
}

type Subject = { nameId: string; format?: string } | { raw: string };
type RequestOptions = Partial<CraftOptions> & { subject?: Subject; sign?: 'sp' | 'other'; omitComparison?: boolean };

/** An AuthnRequest as an SP writes it; by default from SP, issued now, to the default ACS. */
function request(o: RequestOptions = {}): { xml: string; id: string } {
  const crafted = craftAuthnRequest({ issuer: SP, issueInstant: new Date(NOW), ...o });
  let xml = crafted.xml;
  if (o.subject) {
    const subject =
      'raw' in o.subject
        ? o.subject.raw
        : `<saml:Subject><saml:NameID${o.subject.format ? ` Format="${o.subject.format}"` : ''}>${o.subject.nameId}</saml:NameID></saml:Subject>`;
    // Schema order: Subject comes right after Issuer (and Signature, added later at the same place).
    xml = xml.replace('</saml:Issuer>', `</saml:Issuer>${subject}`);
  }
  if (o.omitComparison) xml = xml.replace(/ Comparison="[^"]*"/, '');
  if (o.sign) xml = signRoot(xml, o.sign === 'sp' ? spKey : otherKey);
  return { xml, id: crafted.id };
}

const post = (xml: string, relayState?: string) => ({
  binding: 'post' as const,
  message: Buffer.from(xml).toString('base64'),
  param: 'SAMLRequest' as const,
  relayState,
});

async function trusted(idp: SamlIdp, xml: string): Promise<TrustedAuthnRequest> {
  const received = await idp.receive(post(xml));
  assert.equal(received.kind, 'AuthnRequest');
  return received.trusted;
}

/** receive() then answer(), as the web layer does for a browser with a session (by default Alice's) or none (null). */
async function roundTrip(o: RequestOptions = {}, who: ReturnType<typeof session> | null = session()): Promise<{ outcome: Outcome; id: string }> {
  const { idp } = world();
  const { xml, id } = request(o);
  return { outcome: await idp.answer(await trusted(idp, xml), who ?? undefined), id };
}

interface Answer {
  url: string;
  status: string;
  subStatus?: string;
  inResponseTo?: string;
  destination?: string;
  assertions: number;
  nameId?: { value: string; format?: string };
  classRef?: string;
}

/** The Response inside an HTTP-POST outcome, read with a namespace-aware parser. */
function read(outcome: Outcome): Answer {
  assert.equal(outcome.action, 'post', `expected a Response, got ${JSON.stringify(outcome)}`);
  if (outcome.action !== 'post') throw new Error('unreachable');
  const doc = parse(Buffer.from(outcome.fields.SAMLResponse!, 'base64').toString('utf8'));
  const response = doc.documentElement!;
  assert.equal(response.namespaceURI, NS.samlp);
  assert.equal(response.localName, 'Response');
  const status = child(child(response, NS.samlp, 'Status'), NS.samlp, 'StatusCode');
  const codes = all(status, NS.samlp, 'StatusCode');
  const assertions = all(doc, NS.saml, 'Assertion');
  const answer: Answer = {
    url: outcome.url,
    status: status.getAttribute('Value')!,
    subStatus: codes[0]?.getAttribute('Value') ?? undefined,
    inResponseTo: response.getAttribute('InResponseTo') ?? undefined,
    destination: response.getAttribute('Destination') ?? undefined,
    assertions: assertions.length,
  };
  if (assertions.length === 1) {
    const nameId = only(only(assertions[0]!, NS.saml, 'Subject'), NS.saml, 'NameID');
    answer.nameId = { value: text(nameId), format: nameId.getAttribute('Format') ?? undefined };
    answer.classRef = text(only(only(assertions[0]!, NS.saml, 'AuthnContext'), NS.saml, 'AuthnContextClassRef'));
  }
  // The outcome's own record of what was sent must agree with the document.
  assert.equal(outcome.status, answer.status === `${STATUS}Success` ? 'success' : 'error');
  return answer;
}

const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';

function assertSuccess(a: Answer): asserts a is Answer & { nameId: { value: string; format?: string }; classRef: string } {
  assert.equal(a.status, `${STATUS}Success`);
  assert.equal(a.subStatus, undefined);
  assert.equal(a.assertions, 1);
}

/** An error status, never with an assertion: "Requester/InvalidNameIDPolicy" style. */
function assertError(a: Answer, expected: string): void {
  const [top, sub] = expected.split('/');
  assert.equal(a.status, `${STATUS}${top}`);
  assert.equal(a.subStatus, sub === undefined ? undefined : `${STATUS}${sub}`);
  assert.equal(a.assertions, 0, 'an error status carries no assertion');
}

async function refused(promise: Promise<unknown>, messageId: string, saml?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SamlError, `expected a SamlError, got ${String(err)}`);
    assert.equal(err.messageId, messageId);
    if (saml) assert.equal(`${err.saml.top}${err.saml.sub ? `/${err.saml.sub}` : ''}`, saml);
    return true;
  });
}

// ----------------------------------------------------------------------------------------- tests

describe('SamlIdp: a plain request and a session', () => {
  test('answers the registered ACS with a Success for the session user, in response to the request', async () => {
    const { outcome, id } = await roundTrip({ nameIdFormat: NAME_ID_FORMAT.persistent });
    const a = read(outcome);
    assertSuccess(a);
    assert.equal(a.url, ACS);
    assert.equal(a.destination, ACS);
    assert.equal(a.inResponseTo, id);
    assert.deepEqual(a.nameId, { value: immutableId(ALICE), format: NAME_ID_FORMAT.persistent });
    assert.equal(a.classRef, PPT);
    assert.equal(outcome.action === 'post' && outcome.nameId, immutableId(ALICE));
  });

  test('RelayState goes back byte for byte, and is left out when none came', async () => {
    const { idp } = world();
    const relayState = 'https://sp.example/app?x=1&y=<2>';
    const received = await idp.receive(post(request().xml, relayState));
    assert.ok(received.kind === 'AuthnRequest');
    const outcome = await idp.answer(received.trusted, session());
    assert.ok(outcome.action === 'post');
    assert.equal(outcome.fields.RelayState, relayState);
    const without = (await roundTrip()).outcome;
    assert.ok(without.action === 'post');
    assert.deepEqual(Object.keys(without.fields), ['SAMLResponse']);
  });
});

describe('SamlIdp: NameIDPolicy Format against the RP\'s configured format', () => {
  const asked: Array<[string, string | undefined]> = [
    ['no NameIDPolicy', undefined],
    ['SAML 1.1 unspecified', NAME_ID_FORMAT.unspecified],
    ['SAML 2.0 "unspecified" (not a real format, sent by several SPs)', NAME_ID_FORMAT_SAML2_UNSPECIFIED],
    ['persistent', NAME_ID_FORMAT.persistent],
    ['emailAddress', NAME_ID_FORMAT.emailAddress],
    ['transient', NAME_ID_FORMAT.transient],
    ['entity', 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity'],
    ['an unknown URI', 'urn:example:nameid-format:employee-number'],
  ];
  const valueFor: Record<Exclude<NameIdFormatName, 'transient'>, string> = {
    persistent: immutableId(ALICE),
    emailAddress: ALICE.mail!,
    unspecified: ALICE.userPrincipalName,
  };

  for (const configured of FORMATS) {
    for (const [label, format] of asked) {
      const accepted = format === undefined || format === NAME_ID_FORMAT.unspecified || format === NAME_ID_FORMAT_SAML2_UNSPECIFIED || format === NAME_ID_FORMAT[configured];
      test(`configured ${configured}, asked ${label} → ${accepted ? `${configured} NameID` : 'Requester/InvalidNameIDPolicy'}`, async () => {
        const { outcome } = await roundTrip({ issuer: spFor(configured), nameIdFormat: format });
        const a = read(outcome);
        if (!accepted) return assertError(a, 'Requester/InvalidNameIDPolicy');
        assertSuccess(a);
        assert.equal(a.nameId.format, NAME_ID_FORMAT[configured]);
        if (configured !== 'transient') assert.equal(a.nameId.value, valueFor[configured]);
      });
    }
  }

  test('a transient NameID is stable within a session and RP, and differs across sessions and RPs', async () => {
    const { idp } = world();
    const nameIdOf = async (issuer: string, s: ReturnType<typeof session>) => {
      const a = read(await idp.answer(await trusted(idp, request({ issuer }).xml), s));
      assertSuccess(a);
      return a.nameId.value;
    };
    const first = await nameIdOf(spFor('transient'), session(ALICE, { id: 'session-A-0123456789' }));
    assert.equal(await nameIdOf(spFor('transient'), session(ALICE, { id: 'session-A-0123456789' })), first);
    assert.notEqual(await nameIdOf(spFor('transient'), session(ALICE, { id: 'session-B-0123456789' })), first);
    for (const leaked of [ALICE.userPrincipalName, ALICE.mail!, immutableId(ALICE), ALICE.sAMAccountName]) assert.notEqual(first, leaked);
  });

  test('a user without the NameID\'s source value gets Responder/InvalidNameIDPolicy, not an empty NameID', async () => {
    const { outcome } = await roundTrip({ issuer: spFor('emailAddress') }, session({ ...ALICE, mail: undefined }));
    assertError(read(outcome), 'Responder/InvalidNameIDPolicy');
  });
});

describe('SamlIdp: RequestedAuthnContext (SAML core §3.3.2.2.1); we authenticate with PasswordProtectedTransport', () => {
  const NO = 'Responder/NoAuthnContext';
  // [comparison, listed classes, the AuthnContextClassRef stated, or the error status]
  const table: Array<[string, string[], string]> = [
    // exact: the statement must be one of the listed classes, and ours is PasswordProtectedTransport.
    ['exact', [PPT], PPT],
    ['exact', [UNSPECIFIED], UNSPECIFIED],
    ['exact', [UNSPECIFIED, PPT], PPT],
    ['exact', [PASSWORD], NO],
    ['exact', [PASSWORD, PPT], PPT],
    ['exact', [SMARTCARD], NO],
    // A context only a second factor meets: the user is asked for it (step-up), not refused.
    ['exact', [MFA], 'mfa'],
    ['exact', [UNKNOWN], NO],
    // minimum: at least as strong as one listed; we state what we did.
    ['minimum', [UNSPECIFIED], PPT],
    ['minimum', [PASSWORD], PPT],
    ['minimum', [PPT], PPT],
    ['minimum', [SMARTCARD], 'mfa'],
    ['minimum', [REFEDS_MFA], 'mfa'],
    ['minimum', [SMARTCARD, PASSWORD], PPT],
    ['minimum', [UNKNOWN], NO],
    // better: stronger than each one listed.
    ['better', [UNSPECIFIED], PPT],
    ['better', [PASSWORD], PPT],
    ['better', [UNSPECIFIED, PASSWORD], PPT],
    ['better', [PPT], 'mfa'],
    ['better', [PASSWORD, PPT], 'mfa'],
    ['better', [PASSWORD, SMARTCARD], NO],
    ['better', [SMARTCARD], NO],
    ['better', [PASSWORD, UNKNOWN], NO],
    // maximum: as strong as possible without exceeding one listed.
    ['maximum', [PPT], PPT],
    ['maximum', [SMARTCARD], PPT],
    ['maximum', [MFA], PPT],
    ['maximum', [REFEDS_MFA], PPT],
    ['maximum', [PASSWORD, SMARTCARD], PPT],
    ['maximum', [PASSWORD], UNSPECIFIED],
    ['maximum', [UNSPECIFIED], UNSPECIFIED],
    ['maximum', [UNKNOWN], NO],
  ];
  for (const [comparison, refs, expected] of table) {
    const short = (ref: string) => ref.replace(/^.*[:/]/, '');
    test(`${comparison} [${refs.map(short).join(', ')}] → ${expected.includes('/') || expected === 'mfa' ? expected : short(expected)}`, async () => {
      const { outcome } = await roundTrip({ authnContext: { comparison, refs } });
      if (expected === 'mfa') return assert.deepEqual(outcome, { action: 'signin', forceAuthn: false, mfa: true });
      const a = read(outcome);
      if (expected.includes('/')) return assertError(a, expected);
      assertSuccess(a);
      assert.equal(a.classRef, expected);
    });
  }

  test('Comparison omitted means exact', async () => {
    assertError(read((await roundTrip({ authnContext: { comparison: 'exact', refs: [PASSWORD] }, omitComparison: true })).outcome), NO);
    const a = read((await roundTrip({ authnContext: { comparison: 'exact', refs: [PPT] }, omitComparison: true })).outcome);
    assertSuccess(a);
    assert.equal(a.classRef, PPT);
  });

  test('no RequestedAuthnContext, or one without classes, is answered with PasswordProtectedTransport', async () => {
    for (const refs of [undefined, []]) {
      const a = read((await roundTrip(refs ? { authnContext: { comparison: 'minimum', refs } } : {})).outcome);
      assertSuccess(a);
      assert.equal(a.classRef, PPT);
    }
  });

  test('an unmet context is refused even before anyone signs in (no password typed for nothing)', async () => {
    assertError(read((await roundTrip({ authnContext: { comparison: 'exact', refs: [SMARTCARD] } }, null)).outcome), NO);
  });

  test('an unknown Comparison, or an AuthnContextDeclRef, is refused when received', async () => {
    const { idp } = world();
    await refused(idp.receive(post(request({ authnContext: { comparison: 'sideways', refs: [PPT] } }).xml)), 'saml_request_invalid');
    const declRef = request({ authnContext: { comparison: 'exact', refs: [PPT] } }).xml.replace(
      /<saml:AuthnContextClassRef>[^<]*<\/saml:AuthnContextClassRef>/,
      '<saml:AuthnContextDeclRef>urn:example:decl</saml:AuthnContextDeclRef>',
    );
    await refused(idp.receive(post(declRef)), 'saml_request_invalid', 'Requester/NoAuthnContext');
  });
});

describe('SamlIdp: RequestedAuthnContext and a session from Windows Integrated Authentication', () => {
  const WINDOWS = 'urn:federation:authentication:windows';
  const KERBEROS = 'urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos';
  const windowsSession = () => {
    const s = session();
    return { ...s, record: { ...s.record, authnMethod: 'windows' as const } };
  };
  // [comparison, listed classes, the class stated, 'password' (sign in with the password), or the error status]
  const table: Array<[string, string[] | undefined, string]> = [
    ['none', undefined, WINDOWS],
    ['exact', [WINDOWS], WINDOWS],
    ['exact', [KERBEROS], KERBEROS],
    ['exact', [UNSPECIFIED], UNSPECIFIED],
    // AD FS: PasswordProtectedTransport exactly means the forms page, even inside a Windows session.
    ['exact', [PPT], 'password'],
    ['exact', [MFA], 'mfa'],
    ['minimum', [PPT], WINDOWS],
    ['minimum', [PASSWORD], WINDOWS],
    ['better', [PPT], 'mfa'],
    ['maximum', [MFA], WINDOWS],
  ];
  for (const [comparison, refs, expected] of table) {
    const short = (ref: string) => ref.replace(/^.*[:/]/, '');
    test(`${comparison} [${(refs ?? []).map(short).join(', ')}] → ${expected.includes('/') || expected === 'password' || expected === 'mfa' ? expected : short(expected)}`, async () => {
      const { outcome } = await roundTrip(refs ? { authnContext: { comparison, refs } } : {}, windowsSession());
      if (expected === 'password') return assert.deepEqual(outcome, { action: 'signin', forceAuthn: false, loginHint: undefined, password: true });
      if (expected === 'mfa') return assert.deepEqual(outcome, { action: 'signin', forceAuthn: false, mfa: true });
      const a = read(outcome);
      if (expected.includes('/')) return assertError(a, expected);
      assertSuccess(a);
      assert.equal(a.classRef, expected);
    });
  }

  test('IsPassive with PasswordProtectedTransport exactly, inside a Windows session: NoPassive, no prompt', async () => {
    const { outcome } = await roundTrip({ isPassive: true, authnContext: { comparison: 'exact', refs: [PPT] } }, windowsSession());
    assertError(read(outcome), 'Responder/NoPassive');
  });

  test('a context only Kerberos could meet is not refused before the user signs in', async () => {
    const { outcome } = await roundTrip({ authnContext: { comparison: 'exact', refs: [KERBEROS] } }, null);
    assert.equal(outcome.action, 'signin');
  });
});

describe('SamlIdp: a session with a second factor', () => {
  const mfaSession = () => {
    const s = session();
    return { ...s, record: { ...s.record, mfaInstant: NOW - 60_000 } };
  };
  const table: Array<[string, string[] | undefined, string]> = [
    ['none', undefined, MFA],
    ['exact', [MFA], MFA],
    ['exact', [PPT], PPT],
    ['minimum', [PPT], MFA],
    ['minimum', [REFEDS_MFA], MFA],
    ['better', [PPT], MFA],
    ['maximum', [PPT], PPT],
    ['maximum', [MFA], MFA],
  ];
  for (const [comparison, refs, expected] of table) {
    const short = (ref: string) => ref.replace(/^.*[:/]/, '');
    test(`${comparison} [${(refs ?? []).map(short).join(', ')}] → ${short(expected)}`, async () => {
      const a = read((await roundTrip(refs ? { authnContext: { comparison, refs } } : {}, mfaSession())).outcome);
      assertSuccess(a);
      assert.equal(a.classRef, expected);
    });
  }

  test('IsPassive where only a second factor would do: NoPassive, no prompt', async () => {
    assertError(read((await roundTrip({ isPassive: true, authnContext: { comparison: 'exact', refs: [MFA] } })).outcome), 'Responder/NoPassive');
  });
});

describe('SamlIdp: IsPassive, ForceAuthn, ProtocolBinding', () => {
  test('IsPassive without a session → Responder/NoPassive, never a sign-in page', async () => {
    const { outcome, id } = await roundTrip({ isPassive: true }, null);
    const a = read(outcome);
    assertError(a, 'Responder/NoPassive');
    assert.equal(a.inResponseTo, id);
    assert.equal(a.url, ACS);
  });

  test('IsPassive with a session → Success', async () => {
    assertSuccess(read((await roundTrip({ isPassive: true })).outcome));
  });

  test('no session → sign-in, not forced', async () => {
    assert.deepEqual((await roundTrip({}, null)).outcome, { action: 'signin', forceAuthn: false, loginHint: undefined });
  });

  test('ForceAuthn with a session from before the request → sign-in again; after signing in → Success', async () => {
    const { idp, clock } = world();
    const t = await trusted(idp, request({ forceAuthn: true }).xml);
    assert.deepEqual(await idp.answer(t, session(ALICE, { authnInstant: NOW - 1 })), { action: 'signin', forceAuthn: true, loginHint: undefined });
    clock.advance(30_000);
    assertSuccess(read(await idp.answer(t, session(ALICE, { authnInstant: clock.now() }))));
  });

  test('ForceAuthn and IsPassive with an old session → NoPassive (we may not show a page)', async () => {
    assertError(read((await roundTrip({ forceAuthn: true, isPassive: true }, session(ALICE, { authnInstant: NOW - 60_000 }))).outcome), 'Responder/NoPassive');
  });

  for (const [label, binding, expected] of [
    ['HTTP-POST', BINDING.post, 'success'],
    ['HTTP-Redirect', BINDING.redirect, 'Requester/UnsupportedBinding'],
    ['HTTP-Artifact', 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact', 'Requester/UnsupportedBinding'],
    ['PAOS', 'urn:oasis:names:tc:SAML:2.0:bindings:PAOS', 'Requester/UnsupportedBinding'],
  ] as const) {
    test(`ProtocolBinding ${label} → ${expected}`, async () => {
      const a = read((await roundTrip({ protocolBinding: binding })).outcome);
      if (expected === 'success') assertSuccess(a);
      else assertError(a, expected);
    });
  }
});

describe('SamlIdp: who may ask, and where the answer goes', () => {
  test('an unknown Issuer is refused with an error page, never a Response', async () => {
    const { idp } = world();
    await refused(idp.receive(post(request({ issuer: 'https://unknown.example/' }).xml)), 'saml_unknown_relying_party');
  });

  test('an RP removed while the user signed in: nothing is answered', async () => {
    const { idp, registry } = world();
    const t = await trusted(idp, request().xml);
    registry.rps.delete(SP);
    await refused(idp.answer(t, session()), 'saml_unknown_relying_party');
  });

  const acsCases: Array<[string, Partial<CraftOptions>, string | undefined]> = [
    ['no ACS named → the default', {}, ACS],
    ['the registered URL', { acsUrl: ACS }, ACS],
    ['the registered index', { acsIndex: 0 }, ACS],
    ['an unregistered URL', { acsUrl: 'https://evil.example/acs' }, undefined],
    ['a near miss of the registered URL', { acsUrl: 'https://sp.example/acs/' }, undefined],
    ['an unregistered index', { acsIndex: 7 }, undefined],
    ['a registered Redirect-binding ACS (responses only travel by POST)', { acsUrl: REDIRECT_ACS }, undefined],
    ['the index of the Redirect-binding ACS', { acsIndex: 1 }, undefined],
  ];
  for (const [label, options, expected] of acsCases) {
    test(`ACS: ${label} → ${expected ?? 'refused'}`, async () => {
      const { idp } = world();
      const received = idp.receive(post(request(options).xml));
      if (expected === undefined) return refused(received, 'saml_unknown_acs');
      const r = await received;
      assert.equal(r.kind === 'AuthnRequest' && r.trusted.acsUrl, expected);
    });
  }

  test('both an ACS URL and an index are refused (core §3.4.1)', async () => {
    await refused(world().idp.receive(post(request({ acsUrl: ACS, acsIndex: 0 }).xml)), 'saml_request_invalid');
  });

  test('IdP-initiated sign-on only for an RP that allows it, to its default POST ACS', async () => {
    const { idp } = world();
    const t = idp.unsolicited(SP, 'state');
    assert.deepEqual(t, { rpEntityId: SP, acsUrl: ACS, request: undefined, relayState: 'state', receivedAt: NOW });
    const a = read(await idp.answer(t, session()));
    assertSuccess(a);
    assert.equal(a.inResponseTo, undefined);
    assert.throws(() => idp.unsolicited(spFor('persistent'), undefined), (err: unknown) => err instanceof SamlError && err.messageId === 'idp_initiated_not_allowed');
  });
});

describe('SamlIdp: replay and freshness', () => {
  test('the same request ID is accepted once per RP', async () => {
    const { idp } = world();
    const { xml, id } = request();
    await idp.receive(post(xml));
    await refused(idp.receive(post(xml)), 'saml_request_replayed');
    // Another SP may happen to use the same ID: replay keys are per RP.
    await idp.receive(post(request({ issuer: spFor('persistent'), id }).xml));
    await idp.receive(post(request().xml));
  });

  test('inspect() claims nothing; admit() claims the ID once', async () => {
    const { idp } = world();
    const { xml } = request();
    const inspected = idp.inspect(post(xml));
    idp.inspect(post(xml));
    await idp.admit(inspected);
    await refused(idp.admit(idp.inspect(post(xml))), 'saml_request_replayed');
  });

  const window = settings.requestMaxAgeMinutes * 60_000;
  const skew = settings.clockSkewSeconds * 1000;
  const ages: Array<[string, number, boolean]> = [
    ['issued now', 0, true],
    ['at the edge of the window', window, true],
    ['a second too old', window + 1000, false],
    ['an hour old', 3_600_000, false],
    ['within the clock skew ahead', -skew, true],
    ['beyond the clock skew ahead', -(skew + 1000), false],
  ];
  for (const [label, age, accepted] of ages) {
    test(`IssueInstant ${label} → ${accepted ? 'accepted' : 'saml_request_expired'}`, async () => {
      const received = world().idp.receive(post(request({ issueInstant: new Date(NOW - age) }).xml));
      if (accepted) await received;
      else await refused(received, 'saml_request_expired');
    });
  }

  test('a replay after the window is still refused, as too old', async () => {
    const { idp, clock } = world();
    const { xml } = request();
    await idp.receive(post(xml));
    clock.advance(window + skew + 1000);
    await refused(idp.receive(post(xml)), 'saml_request_expired');
  });
});

describe('SamlIdp: signatures and Destination (bindings §3.5.5.2)', () => {
  const cases: Array<[string, RequestOptions, string | undefined]> = [
    ['unsigned, no Destination', {}, undefined],
    ['unsigned, our Destination', { destination: SSO_URL }, undefined],
    ['unsigned, another Destination', { destination: 'https://other-idp.example/sso' }, 'saml_request_invalid'],
    ['signed, our Destination', { destination: SSO_URL, sign: 'sp' }, undefined],
    ['signed, no Destination', { sign: 'sp' }, 'saml_request_invalid'],
    ['signed, another Destination', { destination: 'https://other-idp.example/sso', sign: 'sp' }, 'saml_request_invalid'],
  ];
  for (const [label, options, refusal] of cases) {
    test(`${label} → ${refusal ?? 'accepted'}`, async () => {
      // Signed requests come from the RP that has our test SP's certificate; unsigned ones from SP.
      const received = world().idp.receive(post(request({ issuer: options.sign ? SIGNED_SP : SP, ...options }).xml));
      if (refusal) await refused(received, refusal);
      else await received;
    });
  }

  test('an RP that must sign: unsigned, or signed by another key, is refused', async () => {
    const { idp } = world();
    await refused(idp.receive(post(request({ issuer: SIGNED_SP, destination: SSO_URL }).xml)), 'saml_signature_invalid');
    await refused(idp.receive(post(request({ issuer: SIGNED_SP, destination: SSO_URL, sign: 'other' }).xml)), 'saml_signature_invalid');
  });
});

describe('SamlIdp: a Subject in the AuthnRequest (core §3.4.1.4)', () => {
  const persistent = { nameId: immutableId(ALICE), format: NAME_ID_FORMAT.persistent };

  test('naming the signed-in user → Success for that user', async () => {
    const a = read((await roundTrip({ subject: persistent })).outcome);
    assertSuccess(a);
    assert.deepEqual(a.nameId, { value: immutableId(ALICE), format: NAME_ID_FORMAT.persistent });
  });

  test('naming someone else → Requester/RequestDenied, never an assertion for either user', async () => {
    const { outcome, id } = await roundTrip({ subject: { nameId: immutableId(BOB), format: NAME_ID_FORMAT.persistent } });
    const a = read(outcome);
    assertError(a, 'Requester/RequestDenied');
    assert.equal(a.inResponseTo, id);
    assert.equal(outcome.action === 'post' && outcome.nameId, undefined);
    const xml = outcome.action === 'post' ? Buffer.from(outcome.fields.SAMLResponse!, 'base64').toString('utf8') : '';
    assert.ok(!xml.includes(immutableId(ALICE)) && !xml.includes(ALICE.userPrincipalName), 'the session user is not disclosed');
  });

  const unspecifiedRp = spFor('unspecified'); // issues the UPN
  const cases: Array<[string, string, Subject, 'success' | 'denied']> = [
    ['the UPN without a Format', unspecifiedRp, { nameId: ALICE.userPrincipalName }, 'success'],
    ['the UPN, SAML 1.1 unspecified', unspecifiedRp, { nameId: ALICE.userPrincipalName, format: NAME_ID_FORMAT.unspecified }, 'success'],
    ['the UPN, SAML 2.0 "unspecified"', unspecifiedRp, { nameId: ALICE.userPrincipalName, format: NAME_ID_FORMAT_SAML2_UNSPECIFIED }, 'success'],
    ['another user\'s UPN', unspecifiedRp, { nameId: BOB.userPrincipalName }, 'denied'],
    ['the UPN in other case (NameIDs compare exactly)', unspecifiedRp, { nameId: ALICE.userPrincipalName.toUpperCase() }, 'denied'],
    ['the UPN labelled emailAddress, for an RP that issues unspecified', unspecifiedRp, { nameId: ALICE.userPrincipalName, format: NAME_ID_FORMAT.emailAddress }, 'denied'],
    ['the UPN, for an RP that issues persistent IDs', spFor('persistent'), { nameId: ALICE.userPrincipalName }, 'denied'],
    ['the right persistent ID labelled emailAddress', spFor('persistent'), { nameId: immutableId(ALICE), format: NAME_ID_FORMAT.emailAddress }, 'denied'],
    ['the mail address, emailAddress RP', spFor('emailAddress'), { nameId: ALICE.mail!, format: NAME_ID_FORMAT.emailAddress }, 'success'],
    ['a prefix of the UPN', unspecifiedRp, { nameId: ALICE.userPrincipalName.slice(0, 5) }, 'denied'],
  ];
  for (const [label, issuer, subject, expected] of cases) {
    test(`${label} → ${expected === 'success' ? 'Success' : 'Requester/RequestDenied'}`, async () => {
      const a = read((await roundTrip({ issuer, subject })).outcome);
      if (expected === 'denied') return assertError(a, 'Requester/RequestDenied');
      assertSuccess(a);
      assert.equal(a.nameId.value, 'nameId' in subject ? subject.nameId : undefined);
    });
  }

  test('a transient NameID from this session is the same subject; from another session it is not', async () => {
    const { idp } = world();
    const first = read(await idp.answer(await trusted(idp, request({ issuer: spFor('transient') }).xml), session()));
    assertSuccess(first);
    const issued = { nameId: first.nameId.value, format: first.nameId.format };
    const again = read(await idp.answer(await trusted(idp, request({ issuer: spFor('transient'), subject: issued }).xml), session()));
    assertSuccess(again);
    assert.equal(again.nameId.value, first.nameId.value);
    const elsewhere = await idp.answer(await trusted(idp, request({ issuer: spFor('transient'), subject: issued }).xml), session(ALICE, { id: 'another-session-0123456789' }));
    assertError(read(elsewhere), 'Requester/RequestDenied');
  });

  test('without a session the Subject is the login hint, as before', async () => {
    const { outcome } = await roundTrip({ subject: { nameId: BOB.userPrincipalName } }, null);
    assert.deepEqual(outcome, { action: 'signin', forceAuthn: false, loginHint: BOB.userPrincipalName });
  });

  test('after signing in as someone other than the named subject → RequestDenied', async () => {
    const { idp, clock } = world();
    const t = await trusted(idp, request({ issuer: unspecifiedRp, subject: { nameId: BOB.userPrincipalName } }).xml);
    assert.equal((await idp.answer(t, undefined)).action, 'signin');
    clock.advance(20_000);
    assertError(read(await idp.answer(t, session(ALICE, { authnInstant: clock.now() }))), 'Requester/RequestDenied');
    const asBob = read(await idp.answer(t, session(BOB, { authnInstant: clock.now() })));
    assertSuccess(asBob);
    assert.equal(asBob.nameId.value, BOB.userPrincipalName);
  });

  test('ForceAuthn with a stale session of someone else: sign in first, the check comes after', async () => {
    const { outcome } = await roundTrip({ issuer: unspecifiedRp, forceAuthn: true, subject: { nameId: BOB.userPrincipalName } }, session(ALICE, { authnInstant: NOW - 1 }));
    assert.deepEqual(outcome, { action: 'signin', forceAuthn: true, loginHint: BOB.userPrincipalName });
  });

  test('the full NameID is compared, not the 256-character login hint', async () => {
    const long = `${'a'.repeat(256)}@corp.example`;
    const t = await trusted(world().idp, request({ issuer: unspecifiedRp, subject: { nameId: long } }).xml);
    assert.equal(t.request?.subject?.nameId, long);
    assert.equal(t.request?.loginHint, long.slice(0, 256));
    const a = read(await world().idp.answer(t, session({ ...ALICE, userPrincipalName: long.slice(0, 256) })));
    assertError(a, 'Requester/RequestDenied');
  });

  test('a Subject with only a SubjectConfirmation names nobody: the presenter is the subject', async () => {
    const raw = '<saml:Subject><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/></saml:Subject>';
    const a = read((await roundTrip({ subject: { raw } })).outcome);
    assertSuccess(a);
    assert.equal(a.nameId.value, immutableId(ALICE));
  });

  test('a Subject we cannot read (EncryptedID) or an empty NameID is refused when received', async () => {
    const { idp } = world();
    const encrypted = '<saml:Subject><saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedID></saml:Subject>';
    await refused(idp.receive(post(request({ subject: { raw: encrypted } }).xml)), 'saml_request_invalid', 'Requester/RequestUnsupported');
    await refused(idp.receive(post(request({ subject: { raw: '<saml:Subject><saml:NameID>  </saml:NameID></saml:Subject>' } }).xml)), 'saml_request_invalid');
  });

  test('the requested subject survives the trip through JSON (parked while the user signs in)', async () => {
    const t = await trusted(world().idp, request({ subject: { nameId: immutableId(BOB), format: NAME_ID_FORMAT.persistent } }).xml);
    const parked = JSON.parse(JSON.stringify(t)) as TrustedAuthnRequest;
    assertError(read(await world().idp.answer(parked, session())), 'Requester/RequestDenied');
  });
});
