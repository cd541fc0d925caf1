/**
 * What comes back from the pending store: each kind whole, every field of a parked request kept (a
 * field lost while the user signs in is a check skipped when the request is answered), and anything
 * else read as nothing rather than thrown.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readParked, type Parked } from '../../src/protocols/parked.js';
import type { TrustedAuthnRequest } from '../../src/protocols/saml2/idp.js';
import { beginLogout, couldNotAsk, nextStep } from '../../src/protocols/saml2/logout.js';
import type { AuthnRequest } from '../../src/protocols/saml2/requests.js';
import type { TrustedSignIn } from '../../src/protocols/wsfed/idp.js';

const NOW = Date.UTC(2026, 2, 2, 10, 0, 0);
const FLOW = 'kQ1q2Yl0Gm3cZ9dDqS2m3Jq5x0WfQ8b1';

// Required<>: a field added to AuthnRequest fails to compile here until this test carries it too.
const AUTHN_REQUEST: Required<AuthnRequest> = {
  kind: 'AuthnRequest',
  id: '_a1b2c3',
  issuer: 'https://sp.corp.example/saml',
  issueInstant: NOW - 1_000,
  destination: 'https://sts.corp.example/adfs/ls/',
  acsUrl: 'https://sp.corp.example/saml/acs',
  acsIndex: 2,
  protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  forceAuthn: true,
  isPassive: false,
  nameIdPolicy: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', allowCreate: true },
  requestedAuthnContext: { comparison: 'minimum', classRefs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509'] },
  subject: { nameId: 'alice@corp.example', format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' },
  loginHint: 'alice@corp.example',
};

const TRUSTED_AUTHN: Required<TrustedAuthnRequest> = {
  rpEntityId: AUTHN_REQUEST.issuer,
  acsUrl: AUTHN_REQUEST.acsUrl,
  request: AUTHN_REQUEST,
  relayState: 'rs-after-sign-in',
  receivedAt: NOW,
};

const SIGN_IN: Required<TrustedSignIn> = {
  realm: 'urn:app:timesheets',
  replyUrl: 'https://timesheets.corp.example/signin',
  wctx: 'rm=0&id=passive&ru=%2f',
  wfresh: 0,
  wauth: 'http://schemas.microsoft.com/claims/multipleauthn',
  loginHint: 'alice@corp.example',
  receivedAt: NOW,
};

const SAML2: Parked = { kind: 'saml2', flow: FLOW, request: TRUSTED_AUTHN };
const WSFED: Parked = { kind: 'wsfed', flow: FLOW, request: SIGN_IN };
const chain = beginLogout({
  initiator: { rpEntityId: 'https://init.corp.example/saml', requestId: '_r1', relayState: 'rs' },
  participants: [
    { rpEntityId: 'https://a.corp.example/saml', nameId: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient', value: '_t1' }, sessionIndex: '_s1' },
    { rpEntityId: 'https://b.corp.example/saml', nameId: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient', value: '_t2' }, sessionIndex: '_s2' },
  ],
  wsfedCleanup: ['https://timesheets.corp.example/?wa=wsignoutcleanup1.0'],
  returnTo: 'https://timesheets.corp.example/bye',
});
const waiting = nextStep(chain);
assert.ok(waiting.kind === 'ask');
const SLO: Parked = { kind: 'slo', chain: couldNotAsk(waiting.waiting) };

/** As the shared store keeps it. */
const viaStore = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** JSON drops keys holding undefined; the in-memory values have some. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
  }
  return value;
}

describe('each kind comes back whole', () => {
  const cases: { name: string; parked: Parked }[] = [
    { name: 'saml2, every field', parked: SAML2 },
    { name: 'saml2, unsolicited (no request, no RelayState)', parked: { kind: 'saml2', flow: FLOW, request: { rpEntityId: TRUSTED_AUTHN.rpEntityId, acsUrl: TRUSTED_AUTHN.acsUrl, receivedAt: NOW } } },
    {
      name: 'saml2, only the required request fields',
      parked: { kind: 'saml2', flow: FLOW, request: { ...TRUSTED_AUTHN, request: { kind: 'AuthnRequest', id: '_m', issuer: AUTHN_REQUEST.issuer, issueInstant: NOW, forceAuthn: false, isPassive: true } } },
    },
    { name: 'saml2, empty nameIdPolicy', parked: { ...SAML2, request: { ...TRUSTED_AUTHN, request: { ...AUTHN_REQUEST, nameIdPolicy: {} } } } },
    { name: 'saml2, subject without format', parked: { ...SAML2, request: { ...TRUSTED_AUTHN, request: { ...AUTHN_REQUEST, subject: { nameId: 'bob' } } } } },
    { name: 'wsfed, every field', parked: WSFED },
    { name: 'wsfed, only the required fields', parked: { kind: 'wsfed', flow: FLOW, request: { realm: SIGN_IN.realm, replyUrl: SIGN_IN.replyUrl, receivedAt: NOW } } },
    { name: 'slo, partway', parked: SLO },
    { name: 'slo, refused', parked: { kind: 'slo', chain: { initiator: { rpEntityId: 'x', requestId: '_r' }, remaining: [], partial: false, unknownPrincipal: true, wsfedCleanup: [] } } },
  ];
  for (const { name, parked } of cases) {
    test(name, () => {
      assert.deepEqual(readParked(viaStore(parked)), withoutUndefined(parked));
    });
  }
});

describe('no field of a parked request is dropped', () => {
  const backSaml = readParked(viaStore(SAML2));
  assert.ok(backSaml?.kind === 'saml2');
  const backRequest = backSaml.request.request as Record<string, unknown> | undefined;
  for (const [field, value] of Object.entries(AUTHN_REQUEST)) {
    test(`AuthnRequest.${field}`, () => {
      assert.deepEqual(backRequest?.[field], value);
    });
  }
  for (const [field, value] of Object.entries(TRUSTED_AUTHN)) {
    test(`TrustedAuthnRequest.${field}`, () => {
      assert.deepEqual((backSaml.request as Record<string, unknown>)[field], value);
    });
  }
  const backWsfed = readParked(viaStore(WSFED));
  assert.ok(backWsfed?.kind === 'wsfed');
  for (const [field, value] of Object.entries(SIGN_IN)) {
    test(`TrustedSignIn.${field}`, () => {
      assert.deepEqual((backWsfed.request as Record<string, unknown>)[field], value);
    });
  }
  // false and 0 are the values most easily lost to a `||` or a truthiness check.
  test('falsy values stay what they were', () => {
    const request = { ...AUTHN_REQUEST, forceAuthn: false, isPassive: false, acsIndex: 0 };
    const back = readParked(viaStore({ ...SAML2, request: { ...TRUSTED_AUTHN, request } }));
    assert.ok(back?.kind === 'saml2');
    assert.equal(back.request.request?.forceAuthn, false);
    assert.equal(back.request.request?.isPassive, false);
    assert.equal(back.request.request?.acsIndex, 0);
  });
});

describe('what is not a parked request reads as undefined, never a throw', () => {
  const samlWith = (patch: Partial<Record<keyof AuthnRequest, unknown>>) => viaStore({ ...SAML2, request: { ...TRUSTED_AUTHN, request: { ...AUTHN_REQUEST, ...patch } } });
  const signInWith = (patch: Partial<Record<keyof TrustedSignIn, unknown>>) => viaStore({ ...WSFED, request: { ...SIGN_IN, ...patch } });
  const { flow: _flow, ...samlWithoutFlow } = SAML2 as Extract<Parked, { kind: 'saml2' }>;
  const { flow: _flow2, ...wsfedWithoutFlow } = WSFED as Extract<Parked, { kind: 'wsfed' }>;
  const cases: { name: string; state: unknown }[] = [
    { name: 'undefined', state: undefined },
    { name: 'null', state: null },
    { name: 'a number', state: 42 },
    { name: 'a boolean', state: true },
    { name: 'a string', state: 'saml2' },
    { name: 'the JSON of a parked request, unparsed', state: JSON.stringify(SAML2) },
    { name: 'an array', state: [viaStore(SAML2)] },
    { name: 'an empty object', state: {} },
    { name: 'an unknown kind', state: { ...viaStore(SAML2) as object, kind: 'oidc' } },
    { name: 'kind in another case', state: { ...viaStore(SAML2) as object, kind: 'SAML2' } },
    { name: 'no kind', state: { flow: FLOW, request: viaStore(TRUSTED_AUTHN) } },
    { name: 'saml2 without flow', state: viaStore(samlWithoutFlow) },
    { name: 'wsfed without flow', state: viaStore(wsfedWithoutFlow) },
    { name: 'saml2 with an empty flow', state: { ...viaStore(SAML2) as object, flow: '' } },
    { name: 'saml2 with a numeric flow', state: { ...viaStore(SAML2) as object, flow: 1 } },
    { name: 'saml2 without request', state: { kind: 'saml2', flow: FLOW } },
    { name: 'saml2 holding a sign-in request', state: { kind: 'saml2', flow: FLOW, request: viaStore(SIGN_IN) } },
    { name: 'wsfed holding an AuthnRequest', state: { kind: 'wsfed', flow: FLOW, request: viaStore(TRUSTED_AUTHN) } },
    { name: 'slo without chain', state: { kind: 'slo' } },
    { name: 'slo with a chain missing partial', state: { kind: 'slo', chain: { remaining: [], unknownPrincipal: false, wsfedCleanup: [] } } },
    { name: 'TrustedAuthnRequest without receivedAt', state: viaStore({ ...SAML2, request: { ...TRUSTED_AUTHN, receivedAt: undefined } }) },
    { name: 'TrustedAuthnRequest acsUrl a number', state: viaStore({ ...SAML2, request: { ...TRUSTED_AUTHN, acsUrl: 443 } }) },
    { name: 'issueInstant as a string', state: samlWith({ issueInstant: new Date(NOW).toISOString() }) },
    { name: 'issueInstant null', state: samlWith({ issueInstant: null }) },
    { name: 'AuthnRequest of another kind', state: samlWith({ kind: 'LogoutRequest' }) },
    { name: 'forceAuthn as a string', state: samlWith({ forceAuthn: 'true' }) },
    { name: 'forceAuthn missing', state: samlWith({ forceAuthn: undefined }) },
    { name: 'isPassive as a number', state: samlWith({ isPassive: 0 }) },
    { name: 'acsIndex not an integer', state: samlWith({ acsIndex: 1.5 }) },
    { name: 'comparison fuzzy', state: samlWith({ requestedAuthnContext: { comparison: 'fuzzy', classRefs: [] } }) },
    { name: 'classRefs a string', state: samlWith({ requestedAuthnContext: { comparison: 'exact', classRefs: 'urn:x' } }) },
    { name: 'subject without nameId', state: samlWith({ subject: { format: 'urn:f' } }) },
    { name: 'subject a string', state: samlWith({ subject: 'alice' }) },
    { name: 'nameIdPolicy.allowCreate a string', state: samlWith({ nameIdPolicy: { allowCreate: 'yes' } }) },
    { name: 'wfresh negative', state: signInWith({ wfresh: -1 }) },
    { name: 'wfresh not an integer', state: signInWith({ wfresh: 0.5 }) },
    { name: 'wfresh as a string', state: signInWith({ wfresh: '5' }) },
    { name: 'realm missing', state: signInWith({ realm: undefined }) },
    { name: 'replyUrl null', state: signInWith({ replyUrl: null }) },
    { name: 'wctx a number', state: signInWith({ wctx: 1 }) },
  ];
  for (const { name, state } of cases) {
    test(name, () => {
      let read: unknown = 'threw';
      assert.doesNotThrow(() => {
        read = readParked(state);
      });
      assert.equal(read, undefined);
    });
  }
});
