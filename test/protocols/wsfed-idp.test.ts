/**
 * WsfedIdp's rules without a server: wsignin1.0 parameters, the realm and reply-URL checks, wfresh,
 * and the claims Microsoft 365 receives, read from the wresult with a namespace-aware parser.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.js';
import { CLAIM_TYPE } from '../../src/claims/claim-types.js';
import { immutableId } from '../../src/claims/values.js';
import { parseConfig } from '../../src/config/load.js';
import { TokenRefusedError, WsfedError } from '../../src/errors.js';
import { fixedKeyRing } from '../../src/keys/key-ring.js';
import { AUTHN_CONTEXT } from '../../src/protocols/saml2/constants.js';
import { readSignInRequest, WA, WsfedIdp, wsfedParticipant, type TrustedSignIn, type WsfedOutcome } from '../../src/protocols/wsfed/idp.js';
import { TOKEN_TYPE } from '../../src/protocols/wsfed/token.js';
import type { WsfedRelyingPartyConfig } from '../../src/relying-parties/schema.js';
import { NS, SAML11_ASSERTION_NS } from '../../src/xml/namespaces.js';
import { ALICE, NOW, all, child, only, parse, principal, session, signingKey, text } from './fixtures.js';

const ISSUER = 'http://sts.corp.example/adfs/services/trust';
const APP = 'urn:app:timesheets';
const APP_REPLY = 'https://timesheets.corp.example/signin';
const APP_REPLY_2 = 'https://timesheets.corp.example/other';
const M365 = 'urn:federation:MicrosoftOnline';
const M365_REPLY = 'https://login.microsoftonline.com/login.srf';
const TRUST = 'http://schemas.xmlsoap.org/ws/2005/02/trust';

const idpKey = await signingKey('wsfed-idp');

const config = parseConfig({
  microsoft365: { enabled: true, domains: ['corp.example'], internalNetworks: ['10.0.0.0/8', '2001:db8:1::/48'] },
  wsfedRelyingParties: [
    {
      realm: APP,
      replyUrls: [APP_REPLY, APP_REPLY_2],
      nameIdentifier: { source: 'sAMAccountName', format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName' },
      claims: [
        { type: CLAIM_TYPE.upn, source: 'upn' },
        { type: CLAIM_TYPE.group, source: 'groups' },
      ],
    },
    { realm: 'urn:app:needs-mail', replyUrls: ['https://mail-app.corp.example/'], nameIdentifier: { source: 'mail' } },
    { realm: 'urn:app:saml2', replyUrls: ['https://saml2-app.corp.example/'], tokenType: 'saml2' },
  ],
});

/** The registry's view: its version moves when a realm is added or removed. */
class RelyingParties {
  version = 1;
  list: WsfedRelyingPartyConfig[] = [...config.wsfedRelyingParties];
  wsfed(): readonly WsfedRelyingPartyConfig[] {
    return this.list;
  }
}

function world() {
  const clock = new ManualClock(NOW);
  const relyingParties = new RelyingParties();
  const idp = new WsfedIdp({ issuer: ISSUER, config, relyingParties, clock, keys: fixedKeyRing(idpKey), sessionSecret: 'a-session-secret-of-at-least-thirty-two-characters' });
  return { clock, relyingParties, idp };
}

function refusedWith(messageId: string, fault?: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof WsfedError, `expected a WsfedError, got ${String(err)}`);
    assert.equal(err.messageId, messageId);
    if (fault) assert.equal(err.fault, fault);
    return true;
  };
}

interface Token {
  url: string;
  wctx?: string;
  tokenType: string;
  issuer: string;
  audience: string;
  nameIdentifier: { value: string; format?: string };
  authnMethod: string;
  claims: Map<string, string[]>;
}

/** The SAML 1.1 assertion inside the RSTR, as a relying party reads it: claims keyed namespace/name. */
function read(outcome: WsfedOutcome): Token {
  assert.equal(outcome.action, 'post', `expected a token, got ${JSON.stringify(outcome)}`);
  if (outcome.action !== 'post') throw new Error('unreachable');
  assert.equal(outcome.fields.wa, WA.signIn);
  const rstr = parse(outcome.fields.wresult!).documentElement!;
  assert.equal(rstr.namespaceURI, TRUST);
  assert.equal(rstr.localName, 'RequestSecurityTokenResponse');
  const tokenType = text(child(rstr, TRUST, 'TokenType'));
  const assertion = only(child(rstr, TRUST, 'RequestedSecurityToken'), SAML11_ASSERTION_NS, 'Assertion');
  const authn = only(assertion, SAML11_ASSERTION_NS, 'AuthenticationStatement');
  const nameIdentifier = only(authn, SAML11_ASSERTION_NS, 'NameIdentifier');
  const claims = new Map<string, string[]>();
  for (const attribute of all(assertion, SAML11_ASSERTION_NS, 'Attribute')) {
    const type = `${attribute.getAttribute('AttributeNamespace')}/${attribute.getAttribute('AttributeName')}`;
    claims.set(type, all(attribute, SAML11_ASSERTION_NS, 'AttributeValue').map(text));
  }
  // Every subject in the token names the same user.
  for (const other of all(assertion, SAML11_ASSERTION_NS, 'NameIdentifier')) assert.equal(text(other), text(nameIdentifier));
  return {
    url: outcome.url,
    wctx: outcome.fields.wctx,
    tokenType,
    issuer: assertion.getAttribute('Issuer')!,
    audience: text(only(assertion, SAML11_ASSERTION_NS, 'Audience')),
    nameIdentifier: { value: text(nameIdentifier), format: nameIdentifier.getAttribute('Format') ?? undefined },
    authnMethod: authn.getAttribute('AuthenticationMethod')!,
    claims,
  };
}

function trusted(idp: WsfedIdp, params: Record<string, unknown>): TrustedSignIn {
  return idp.trust(readSignInRequest(params));
}

describe('readSignInRequest: parameter caps', () => {
  const long = (n: number) => 'x'.repeat(n);
  const accepted: Array<[string, Record<string, unknown>]> = [
    ['wtrealm alone', { wtrealm: APP }],
    ['wtrealm at 1024 characters', { wtrealm: long(1024) }],
    ['wreply at 2048 characters', { wtrealm: APP, wreply: long(2048) }],
    ['wctx at 16384 characters (Entra\'s estsrequest is a few KB)', { wtrealm: APP, wctx: long(16_384) }],
    ['username at 256 characters', { wtrealm: APP, username: long(256) }],
    ['wfresh 0', { wtrealm: APP, wfresh: '0' }],
    ['wfresh of 10 digits', { wtrealm: APP, wfresh: '9999999999' }],
  ];
  for (const [label, params] of accepted) {
    test(`accepted: ${label}`, () => {
      const request = readSignInRequest(params);
      assert.equal(request.realm, params.wtrealm);
      assert.equal(request.wreply, params.wreply);
      assert.equal(request.wctx, params.wctx);
      assert.equal(request.username, params.username);
      assert.equal(request.wfresh, params.wfresh === undefined ? undefined : Number(params.wfresh));
    });
  }

  const refused: Array<[string, Record<string, unknown>]> = [
    ['no wtrealm', { wreply: APP_REPLY }],
    ['an empty wtrealm', { wtrealm: '' }],
    ['wtrealm over 1024 characters', { wtrealm: long(1025) }],
    ['wreply over 2048 characters', { wtrealm: APP, wreply: long(2049) }],
    ['wctx over 16384 characters', { wtrealm: APP, wctx: long(16_385) }],
    ['username over 256 characters', { wtrealm: APP, username: long(257) }],
    ['wfresh not a number', { wtrealm: APP, wfresh: 'soon' }],
    ['wfresh negative', { wtrealm: APP, wfresh: '-1' }],
    ['wfresh fractional', { wtrealm: APP, wfresh: '1.5' }],
    ['wfresh of 11 digits', { wtrealm: APP, wfresh: '99999999999' }],
    ['wtrealm twice (?wtrealm=a&wtrealm=b)', { wtrealm: [APP, 'urn:other'] }],
    ['wreply twice', { wtrealm: APP, wreply: [APP_REPLY, 'https://evil.example/'] }],
    ['wctx as an object (?wctx[a]=b)', { wtrealm: APP, wctx: { a: 'b' } }],
  ];
  for (const [label, params] of refused) {
    test(`refused: ${label}`, () => {
      assert.throws(() => readSignInRequest(params), refusedWith('wsfed_request_invalid'));
    });
  }
});

describe('WsfedIdp.trust: realm and reply URL', () => {
  test('an unknown realm is refused', () => {
    assert.throws(() => trusted(world().idp, { wtrealm: 'urn:app:unknown' }), refusedWith('wsfed_unknown_realm'));
  });

  const replies: Array<[string, string | undefined, string | undefined]> = [
    ['no wreply → the first registered reply URL', undefined, APP_REPLY],
    ['the second registered reply URL', APP_REPLY_2, APP_REPLY_2],
    ['an unregistered URL', 'https://evil.example/signin', undefined],
    ['a near miss: trailing slash', `${APP_REPLY}/`, undefined],
    ['a near miss: upper case', APP_REPLY.toUpperCase(), undefined],
    ['a near miss: extra query', `${APP_REPLY}?next=https://evil.example/`, undefined],
    ['another realm\'s reply URL', M365_REPLY, undefined],
  ];
  for (const [label, wreply, expected] of replies) {
    test(`wreply: ${label} → ${expected ?? 'wsfed_unknown_reply'}`, () => {
      const { idp } = world();
      const params = wreply === undefined ? { wtrealm: APP } : { wtrealm: APP, wreply };
      if (expected === undefined) return assert.throws(() => trusted(idp, params), refusedWith('wsfed_unknown_reply'));
      assert.equal(trusted(idp, params).replyUrl, expected);
    });
  }

  test('the trusted request keeps wctx, wfresh, the username hint and when it came', () => {
    const { idp } = world();
    assert.deepEqual(trusted(idp, { wtrealm: APP, wctx: 'rm=0&id=passive', wfresh: '5', username: 'alice@corp.example' }), {
      realm: APP,
      replyUrl: APP_REPLY,
      wctx: 'rm=0&id=passive',
      wfresh: 5,
      loginHint: 'alice@corp.example',
      receivedAt: NOW,
    });
  });

  test('a realm added or removed counts from the next request', () => {
    const { idp, relyingParties } = world();
    const t = trusted(idp, { wtrealm: APP });
    relyingParties.list = relyingParties.list.filter((rp) => rp.realm !== APP);
    relyingParties.version++;
    assert.throws(() => trusted(idp, { wtrealm: APP }), refusedWith('wsfed_unknown_realm'));
    assert.throws(() => idp.answer(t, session(), '10.1.2.3'), refusedWith('wsfed_unknown_realm'));
    relyingParties.list = [...relyingParties.list, { ...config.wsfedRelyingParties[0]!, realm: 'urn:app:new' }];
    relyingParties.version++;
    assert.equal(trusted(idp, { wtrealm: 'urn:app:new' }).realm, 'urn:app:new');
  });
});

describe('WsfedIdp.answer: sessions and wfresh', () => {
  test('no session → sign-in, not forced, with the username hint', () => {
    const { idp } = world();
    assert.deepEqual(idp.answer(trusted(idp, { wtrealm: APP, username: 'alice' }), undefined, '10.1.2.3'), { action: 'signin', forceAuthn: false, loginHint: 'alice' });
  });

  // [wfresh, when the password was typed in minutes from the request's arrival (negative: before), token?]
  // Every answer comes a minute after the request arrived, as after a sign-in page.
  const cases: Array<[string | undefined, number, boolean]> = [
    [undefined, -0.5, true],
    [undefined, -600, true],
    ['0', -0.5, false],
    ['0', 0, true],
    ['0', 0.5, true],
    ['10', -8, true], // 9 minutes old when answered
    ['10', -9, true], // exactly 10
    ['10', -10, false], // 11
    ['1', -0.5, false], // 1.5
    ['1', 0.5, true], // 0.5
  ];
  for (const [wfresh, typed, token] of cases) {
    const when = typed === 0 ? 'as the request came' : `${Math.abs(typed)} min ${typed < 0 ? 'before' : 'after'} the request`;
    test(`wfresh ${wfresh ?? 'absent'}, password typed ${when} → ${token ? 'token' : 'sign in again'}`, () => {
      const { idp, clock } = world();
      const t = trusted(idp, wfresh === undefined ? { wtrealm: APP } : { wtrealm: APP, wfresh });
      clock.advance(60_000);
      const outcome = idp.answer(t, session(ALICE, { authnInstant: NOW + typed * 60_000 }), '10.1.2.3');
      if (token) assert.equal(read(outcome).nameIdentifier.value, ALICE.sAMAccountName);
      else assert.deepEqual(outcome, { action: 'signin', forceAuthn: true, loginHint: undefined });
    });
  }
});

describe('WsfedIdp.answer: tokens', () => {
  test('a configured RP gets its NameIdentifier and exactly its claims, for its realm, at the trusted reply URL', () => {
    const { idp } = world();
    const outcome = idp.answer(trusted(idp, { wtrealm: APP, wreply: APP_REPLY_2, wctx: 'a&b=<c>' }), session(), '10.1.2.3');
    const token = read(outcome);
    assert.equal(token.url, APP_REPLY_2);
    assert.equal(token.wctx, 'a&b=<c>');
    assert.equal(token.tokenType, TOKEN_TYPE.saml11);
    assert.equal(token.issuer, ISSUER);
    assert.equal(token.audience, APP);
    assert.deepEqual(token.nameIdentifier, { value: 'alice', format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName' });
    assert.equal(token.authnMethod, AUTHN_CONTEXT.passwordProtectedTransport);
    assert.deepEqual(
      token.claims,
      new Map([
        [CLAIM_TYPE.upn, [ALICE.userPrincipalName]],
        [CLAIM_TYPE.group, ['Staff']],
      ]),
    );
    assert.equal(outcome.action === 'post' && outcome.nameId, 'alice');
  });

  test('no wctx in, no wctx out', () => {
    const { idp } = world();
    const outcome = idp.answer(trusted(idp, { wtrealm: APP }), session(), '10.1.2.3');
    assert.ok(outcome.action === 'post');
    assert.deepEqual(Object.keys(outcome.fields).sort(), ['wa', 'wresult']);
  });

  test('a user without the NameIdentifier\'s source is refused (wst:RequestFailed), not given an empty subject', () => {
    const { idp } = world();
    assert.throws(() => idp.answer(trusted(idp, { wtrealm: 'urn:app:needs-mail' }), session({ ...ALICE, mail: undefined }), '10.1.2.3'), (err: unknown) => {
      assert.ok(err instanceof WsfedError);
      assert.equal(err.fault, 'wst:RequestFailed');
      assert.equal(err.status, 403);
      return true;
    });
  });

  test('an RP that asks for SAML 2.0 tokens gets a SAML 2.0 assertion with the same subject rules', () => {
    const { idp } = world();
    const outcome = idp.answer(trusted(idp, { wtrealm: 'urn:app:saml2' }), session(), '10.1.2.3');
    assert.ok(outcome.action === 'post');
    const rstr = parse(outcome.fields.wresult!).documentElement!;
    assert.equal(text(child(rstr, TRUST, 'TokenType')), TOKEN_TYPE.saml2);
    const assertion = only(child(rstr, TRUST, 'RequestedSecurityToken'), NS.saml, 'Assertion');
    assert.equal(text(only(assertion, NS.saml, 'NameID')), ALICE.userPrincipalName);
    assert.equal(text(only(assertion, NS.saml, 'AuthnContextClassRef')), AUTHN_CONTEXT.passwordProtectedTransport);
    assert.equal(text(only(assertion, NS.saml, 'Audience')), 'urn:app:saml2');
  });
});

describe('WsfedIdp.answer: Microsoft 365', () => {
  const PSSO = CLAIM_TYPE.psso;
  const m365 = (who = ALICE, clientIp = '10.1.2.3', persistent = false) => {
    const { idp } = world();
    return read(idp.answer(trusted(idp, { wtrealm: M365, wctx: 'LoginOptions=3&estsredirect=2&estsrequest=rQIIA' }), session(who, { persistent }), clientIp));
  };

  test('the claims Entra ID expects, under our issuer, to login.srf, wctx byte for byte', () => {
    const token = m365();
    assert.equal(token.url, M365_REPLY);
    assert.equal(token.wctx, 'LoginOptions=3&estsredirect=2&estsrequest=rQIIA');
    assert.equal(token.tokenType, TOKEN_TYPE.saml11);
    assert.equal(token.issuer, ISSUER);
    assert.equal(token.audience, M365);
    assert.deepEqual(token.nameIdentifier, { value: immutableId(ALICE), format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified' });
    assert.deepEqual(token.claims.get(CLAIM_TYPE.adfs1Upn), [ALICE.userPrincipalName]);
    assert.deepEqual(token.claims.get(CLAIM_TYPE.immutableId), [immutableId(ALICE)]);
    assert.deepEqual(token.claims.get(CLAIM_TYPE.insideCorporateNetwork), ['true']);
    assert.deepEqual(token.claims.get(CLAIM_TYPE.authnMethodsReferences), ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password']);
    assert.equal(token.claims.has(PSSO), false, 'psso only for "keep me signed in"');
    assert.equal(token.claims.size, 4);
  });

  const networks: Array<[string, string]> = [
    ['10.200.0.1', 'true'],
    ['::ffff:10.200.0.1', 'true'],
    ['2001:db8:1::5', 'true'],
    ['192.0.2.7', 'false'],
    ['2001:db8:2::5', 'false'],
  ];
  for (const [ip, inside] of networks) {
    test(`insidecorporatenetwork for ${ip} → ${inside}`, () => {
      assert.deepEqual(m365(ALICE, ip).claims.get(CLAIM_TYPE.insideCorporateNetwork), [inside]);
    });
  }

  test('"keep me signed in" adds psso=true', () => {
    assert.deepEqual(m365(ALICE, '10.1.2.3', true).claims.get(PSSO), ['true']);
  });

  test('ImmutableID follows ms-DS-ConsistencyGuid when the user has one', () => {
    const consistencyGuid = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
    const token = m365(principal({ consistencyGuid }));
    assert.equal(token.nameIdentifier.value, consistencyGuid.toString('base64'));
    assert.deepEqual(token.claims.get(CLAIM_TYPE.immutableId), [consistencyGuid.toString('base64')]);
  });

  test('a user outside the federated domains is stopped on our page, never sent to Entra', () => {
    const { idp } = world();
    const t = trusted(idp, { wtrealm: M365 });
    assert.throws(
      () => idp.answer(t, session(principal({ userPrincipalName: 'carol@partner.example' })), '10.1.2.3'),
      (err: unknown) => err instanceof TokenRefusedError && err.messageId === 'm365_domain_not_federated',
    );
  });

  test('a subdomain user is issued under the federated root domain', () => {
    assert.equal(m365(principal({ userPrincipalName: 'dave@sales.corp.example' })).claims.get(CLAIM_TYPE.adfs1Upn)?.[0], 'dave@sales.corp.example');
  });
});

describe('WsfedIdp: sign-out', () => {
  test('wsignoutcleanup1.0 goes to the first reply URL of each WS-Fed realm of the session, and nowhere else', () => {
    const { idp } = world();
    const s = session();
    s.record.relyingParties = [wsfedParticipant(APP), 'https://saml-sp.example/', wsfedParticipant('urn:app:gone'), wsfedParticipant(M365)];
    assert.deepEqual(idp.cleanupUrls(s.record), [`${APP_REPLY}?wa=wsignoutcleanup1.0`, `${M365_REPLY}?wa=wsignoutcleanup1.0`]);
  });

  test('after wsignout1.0, wreply is followed only when registered for the realm given', () => {
    const { idp } = world();
    assert.equal(idp.signOutReturn(APP, APP_REPLY_2), APP_REPLY_2);
    assert.equal(idp.signOutReturn(APP, 'https://evil.example/'), undefined);
    assert.equal(idp.signOutReturn(APP, M365_REPLY), undefined);
    assert.equal(idp.signOutReturn(undefined, APP_REPLY), undefined);
    assert.equal(idp.signOutReturn('urn:app:unknown', APP_REPLY), undefined);
  });
});
