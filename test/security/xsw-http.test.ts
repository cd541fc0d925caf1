/**
 * XML signature wrapping over HTTP: real AuthnRequests and LogoutRequests, signed by a registered
 * SP key, then wrapped in each of SAML Raider's eight XSW shapes, stripped of their signature,
 * signed by a key not registered for the SP, or re-signed by an attacker who puts their own
 * certificate in KeyInfo. Every one is refused with an error page, and the attacker's values never
 * come back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { makeKeyPair, redirectQuery, type KeyPair } from '../helpers/saml.js';
import {
  assertRefusedPage,
  authnRequestXml,
  EVIL,
  excludeSignature,
  keyMaterial,
  logoutRequestXml,
  postBody,
  resignedByAttacker,
  signRoot,
  xsw,
  XSW_VARIANTS,
} from '../helpers/hostile.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const IDP_SSO = 'http://127.0.0.1/adfs/ls/';
const SP = 'https://signed-sp.example.test/shibboleth';
const ACS = 'https://signed-sp.example.test/Shibboleth.sso/SAML2/POST';
const SLO = 'https://signed-sp.example.test/Shibboleth.sso/SLO/Redirect';
const OTHER_SP = 'https://other-sp.example.test/saml';

type Kind = 'AuthnRequest' | 'LogoutRequest';
const KINDS: readonly Kind[] = ['AuthnRequest', 'LogoutRequest'];

describe('XML signature wrapping and signature spoofing over HTTP (POST binding)', () => {
  let server: TestServer;
  let sp: KeyPair;
  let otherSp: KeyPair;
  let stranger: KeyPair;

  before(async () => {
    sp = makeKeyPair('signed-sp.example.test');
    otherSp = makeKeyPair('other-sp.example.test');
    stranger = makeKeyPair('signed-sp.example.test'); // same subject, different key: what a spoofer makes
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        {
          entityId: SP,
          assertionConsumerServices: [{ url: ACS, binding: 'post', index: 0, isDefault: true }],
          singleLogoutServices: [{ url: SLO, binding: 'redirect' }],
          signingCertificates: [sp.certPem],
          requireSignedRequests: true,
        },
        {
          entityId: OTHER_SP,
          assertionConsumerServices: [{ url: 'https://other-sp.example.test/acs' }],
          signingCertificates: [otherSp.certPem],
        },
      ],
    });
  });
  after(() => server?.stop());

  const unsigned = (kind: Kind): string =>
    kind === 'AuthnRequest' ? authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS }) : logoutRequestXml({ issuer: SP, destination: IDP_SSO });
  const signedBy = (kind: Kind, key: KeyPair) => signRoot(unsigned(kind), keyMaterial(key));
  const post = (xml: string, relayState?: string) =>
    request(server.url)
      .post('/adfs/ls/')
      .type('form')
      .send(relayState === undefined ? { SAMLRequest: postBody(xml) } : { SAMLRequest: postBody(xml), RelayState: relayState })
      .timeout(10_000);
  const alive = async () => assert.equal((await request(server.url).get('/healthz')).status, 200);

  for (const kind of KINDS) {
    test(`control: a correctly signed ${kind} is accepted (the harness signs as the SP does)`, async () => {
      const res = await post(signedBy(kind, sp));
      assert.ok(res.status < 400, `${res.status}: ${res.text.slice(0, 300)}`);
      if (kind === 'AuthnRequest') assert.match(res.headers.location ?? '', /^\/signin\?pending=/);
      else assert.ok((res.headers.location ?? '').startsWith(`${SLO}?SAMLResponse=`), 'LogoutResponse to the registered SLO endpoint');
    });

    for (const n of XSW_VARIANTS) {
      for (const swapIssuer of [false, true]) {
        test(`${kind} XSW${n}${swapIssuer ? ' (Issuer swapped too)' : ''} is refused`, async () => {
          const res = await post(xsw(n, signedBy(kind, sp), { swapIssuer }), 'rs');
          assertRefusedPage(res, `${kind} XSW${n}`);
          assert.ok(!res.text.includes(EVIL.acs) && !res.text.includes(EVIL.nameId));
          await alive();
        });
      }
    }

    const spoofs: Array<[string, () => string]> = [
      ['signature exclusion (tampered, Signature removed)', () => excludeSignature(signedBy(kind, sp))],
      ['signed by a key not registered for anyone', () => signRoot(unsigned(kind).replace(ACS, EVIL.acs), keyMaterial(stranger))],
      ['signed by the key of another registered SP', () => signRoot(unsigned(kind).replace(ACS, EVIL.acs), keyMaterial(otherSp))],
      ['re-signed by an attacker with their certificate in KeyInfo', () => resignedByAttacker(unsigned(kind), keyMaterial(stranger))],
      ['signed correctly, then tampered (digest mismatch)', () => signedBy(kind, sp).replace(ACS, EVIL.acs).replace('somebody@corp.example', EVIL.nameId)],
      ['signed correctly, SignatureValue of another message', () => {
        const victim = signedBy(kind, sp);
        const other = signedBy(kind, sp);
        const value = /<ds:SignatureValue>([^<]+)</.exec(other)![1]!;
        return victim.replace(/<ds:SignatureValue>[^<]+</, `<ds:SignatureValue>${value}<`);
      }],
      ['two Signature elements (the real one and an attacker one)', () => {
        const real = signedBy(kind, sp);
        const fake = resignedByAttacker(unsigned(kind), keyMaterial(stranger));
        const fakeSig = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(fake)![0];
        return real.replace('</ds:Signature>', `</ds:Signature>${fakeSig}`);
      }],
    ];
    for (const [what, make] of spoofs) {
      test(`${kind}: ${what} is refused`, async () => {
        const res = await post(make());
        assertRefusedPage(res, `${kind}: ${what}`);
        await alive();
      });
    }

    test(`${kind}: an XML-signed message sent by the Redirect binding is refused (no second notion of "signed")`, async () => {
      const res = await request(server.url).get(`/adfs/ls/?${redirectQuery(signedBy(kind, sp))}`).timeout(10_000);
      assertRefusedPage(res, `${kind} XML signature in Redirect`);
    });
  }
});
