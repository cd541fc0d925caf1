/**
 * /FederationMetadata/2007-06/FederationMetadata.xml in AD FS's shape (federation reference §2.7): the
 * WS-Federation role descriptors Entra ID and WIF read (application service, then STS), then the SAML
 * IdP role, all in one EntityDescriptor signed by the primary token-signing key. Checked against the
 * element and attribute list of a real AD FS document, with an independent parser (raw xmldom), an
 * independent verifier (xmlsec1, keyed by the certificate the document itself publishes), the SAML
 * libraries relying parties use, and over HTTP at both the canonical and Entra's lower-case path.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { getVerifiedXml, parseDomFromString } from '@node-saml/node-saml/lib/xml.js';
import { DOMParser, type Element as DomElement } from '@xmldom/xmldom';
import samlify from 'samlify';
import request from 'supertest';
import { ManualClock } from '../../src/clock.js';
import { fromPem } from '../../src/keys/signing-key.js';
import { buildIdpMetadata, OFFERED_CLAIM_TYPES, type IdpMetadataInput } from '../../src/metadata/idp-metadata.js';
import { xmlsec1Verify } from '../helpers/saml.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { testKey } from '../relying-parties/fixtures.js';

// Literal URIs, not the module's constants: the test states what AD FS publishes on its own.
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const FED = 'http://docs.oasis-open.org/wsfed/federation/200706';
const AUTH = 'http://docs.oasis-open.org/wsfed/authorization/200706';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const WSA = 'http://www.w3.org/2005/08/addressing';
const MEX = 'http://schemas.xmlsoap.org/ws/2004/09/mex';
const WSFED_PROTOCOL = 'http://docs.oasis-open.org/wsfed/federation/200706';
const WS_TRUST = ['http://docs.oasis-open.org/ws-sx/ws-trust/200512', 'http://schemas.xmlsoap.org/ws/2005/02/trust'];
const ENTITY_DESCRIPTOR_ID = 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor';

/** The claim types Microsoft 365 and ordinary WS-Fed relying parties need to see offered (§1a). */
const REQUIRED_CLAIM_TYPES = [
  'http://schemas.xmlsoap.org/claims/UPN',
  'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  'http://schemas.xmlsoap.org/claims/Group',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork',
  'http://schemas.microsoft.com/claims/authnmethodsreferences',
  'http://schemas.microsoft.com/2014/03/psso',
];

const primaryPair = testKey('idp-primary');
const nextPair = testKey('idp-next');
const primary = fromPem(primaryPair.keyPem, primaryPair.certPem, 'pem');
const next = fromPem(nextPair.keyPem, nextPair.certPem, 'pem');

const ENTITY = 'http://sts.contoso.com/adfs/services/trust';
const PASSIVE = 'https://sts.contoso.com/adfs/ls/';
const input = (overrides: Partial<IdpMetadataInput> = {}): IdpMetadataInput => ({
  entityId: ENTITY,
  baseUrl: 'https://sts.contoso.com',
  keys: { primary, next },
  attributes: [{ name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', friendlyName: 'UPN' }],
  clock: new ManualClock(Date.UTC(2026, 0, 1)),
  ...overrides,
});

const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml').documentElement!;
const elements = (parent: DomElement): DomElement[] => Array.from(parent.childNodes).filter((n): n is DomElement => n.nodeType === 1);
const names = (parent: DomElement) => elements(parent).map((e) => `${e.namespaceURI} ${e.localName}`);
const children = (parent: DomElement, ns: string, localName: string) => elements(parent).filter((e) => e.namespaceURI === ns && e.localName === localName);
const only = (parent: DomElement, ns: string, localName: string): DomElement => {
  const found = children(parent, ns, localName);
  assert.equal(found.length, 1, `exactly one ${localName} in ${parent.localName}`);
  return found[0]!;
};
const text = (el: DomElement) => (el.textContent ?? '').replace(/\s+/g, '');
/** The xsi:type QName, resolved in the element's scope (what Microsoft.IdentityModel and WIF compare). */
const xsiType = (el: DomElement) => {
  const qname = el.getAttributeNS(XSI, 'type') ?? '';
  const [prefix, local] = qname.split(':');
  return { qname, ns: el.lookupNamespaceURI(prefix ?? null), local };
};
const roles = (root: DomElement) => {
  const [app, sts, ...rest] = children(root, MD, 'RoleDescriptor');
  assert.ok(app && sts && rest.length === 0, 'two RoleDescriptors');
  return { app, sts };
};
const signingCertificates = (role: DomElement) =>
  children(role, MD, 'KeyDescriptor').map((kd) => {
    assert.equal(kd.getAttribute('use'), 'signing');
    return text(only(only(only(kd, DS, 'KeyInfo'), DS, 'X509Data'), DS, 'X509Certificate'));
  });
const endpointAddresses = (el: DomElement) =>
  children(el, WSA, 'EndpointReference').map((epr) => (only(epr, WSA, 'Address').textContent ?? '').trim());

describe('federation metadata (AD FS shape)', () => {
  test('one signed EntityDescriptor: Signature, ApplicationServiceType, SecurityTokenServiceType, IDPSSODescriptor', () => {
    const xml = buildIdpMetadata(input());
    const root = parse(xml);
    assert.equal(root.namespaceURI, MD);
    assert.equal(root.localName, 'EntityDescriptor');
    assert.equal(root.getAttribute('entityID'), ENTITY);
    assert.deepEqual(names(root), [`${DS} Signature`, `${MD} RoleDescriptor`, `${MD} RoleDescriptor`, `${MD} IDPSSODescriptor`]);
    // No SPSSODescriptor: OpenFed is not an SP toward claims providers.
    assert.equal(root.getElementsByTagNameNS(MD, 'SPSSODescriptor').length, 0);

    const signature = only(root, DS, 'Signature');
    const signedInfo = only(signature, DS, 'SignedInfo');
    assert.equal(only(signedInfo, DS, 'CanonicalizationMethod').getAttribute('Algorithm'), 'http://www.w3.org/2001/10/xml-exc-c14n#');
    assert.equal(only(signedInfo, DS, 'SignatureMethod').getAttribute('Algorithm'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    const reference = only(signedInfo, DS, 'Reference');
    assert.equal(reference.getAttribute('URI'), `#${root.getAttribute('ID')}`);
    assert.equal(only(reference, DS, 'DigestMethod').getAttribute('Algorithm'), 'http://www.w3.org/2001/04/xmlenc#sha256');

    const { app, sts } = roles(root);
    assert.deepEqual(xsiType(app), { qname: 'fed:ApplicationServiceType', ns: FED, local: 'ApplicationServiceType' });
    assert.deepEqual(xsiType(sts), { qname: 'fed:SecurityTokenServiceType', ns: FED, local: 'SecurityTokenServiceType' });
    for (const role of [app, sts]) {
      assert.equal(role.getAttribute('protocolSupportEnumeration'), WSFED_PROTOCOL);
      assert.equal(role.lookupNamespaceURI('xsi'), XSI);
    }
  });

  test('the STS role: signing keys, token types, claim types offered, passive endpoint, and no WS-Trust endpoint by default', () => {
    const { sts } = roles(parse(buildIdpMetadata(input())));
    // WebServiceDescriptorType's sequence, then SecurityTokenServiceType's.
    assert.deepEqual(names(sts), [
      `${MD} KeyDescriptor`,
      `${MD} KeyDescriptor`,
      `${FED} TokenTypesOffered`,
      `${FED} ClaimTypesOffered`,
      `${FED} PassiveRequestorEndpoint`,
    ]);
    assert.deepEqual(signingCertificates(sts), [primary.certificateBase64, next.certificateBase64]);

    const tokenTypes = children(only(sts, FED, 'TokenTypesOffered'), FED, 'TokenType').map((t) => t.getAttribute('Uri'));
    assert.deepEqual([...tokenTypes].sort(), ['urn:oasis:names:tc:SAML:1.0:assertion', 'urn:oasis:names:tc:SAML:2.0:assertion']);

    const claimTypes = elements(only(sts, FED, 'ClaimTypesOffered'));
    const offered = claimTypes.map((c) => {
      assert.equal(c.namespaceURI, AUTH);
      assert.equal(c.localName, 'ClaimType');
      assert.equal(c.getAttribute('Optional'), 'true');
      assert.deepEqual(names(c), [`${AUTH} DisplayName`, `${AUTH} Description`]);
      assert.ok((only(c, AUTH, 'DisplayName').textContent ?? '').length > 0);
      assert.ok((only(c, AUTH, 'Description').textContent ?? '').length > 0);
      return c.getAttribute('Uri')!;
    });
    for (const uri of REQUIRED_CLAIM_TYPES) assert.ok(offered.includes(uri), `${uri} offered`);
    assert.equal(new Set(offered).size, offered.length, 'each claim type once');
    assert.deepEqual(offered, OFFERED_CLAIM_TYPES.map((c) => c.uri), 'the exported list is what is published');
    assert.ok(offered.every((uri) => uri.startsWith('http://')), 'claim URIs in their http:// form');

    assert.deepEqual(endpointAddresses(only(sts, FED, 'PassiveRequestorEndpoint')), [PASSIVE]);
    assert.equal(children(sts, FED, 'SecurityTokenServiceEndpoint').length, 0);
  });

  test('the application-service role: signing keys, TargetScopes with the identifier, passive endpoint', () => {
    const { app } = roles(parse(buildIdpMetadata(input())));
    assert.deepEqual(names(app), [`${MD} KeyDescriptor`, `${MD} KeyDescriptor`, `${FED} TargetScopes`, `${FED} PassiveRequestorEndpoint`]);
    assert.deepEqual(signingCertificates(app), [primary.certificateBase64, next.certificateBase64]);
    assert.deepEqual(endpointAddresses(only(app, FED, 'TargetScopes')), [PASSIVE, ENTITY]);
    assert.deepEqual(endpointAddresses(only(app, FED, 'PassiveRequestorEndpoint')), [PASSIVE]);
  });

  test('with WS-Trust on, the STS role advertises it as AD FS does: both versions, usernamemixed with the MEX reference', () => {
    const xml = buildIdpMetadata(input({ wsTrust: {}, serviceDisplayName: 'Contoso & Co' }));
    const { app, sts } = roles(parse(xml));
    // AD FS's order: WS-Trust 1.3, WS-Trust 2005, WS-Federation.
    assert.equal(sts.getAttribute('protocolSupportEnumeration'), [...WS_TRUST, WSFED_PROTOCOL].join(' '));
    for (const role of [app, sts]) assert.equal(role.getAttribute('ServiceDisplayName'), 'Contoso & Co');
    assert.deepEqual(names(sts).slice(-2), [`${FED} SecurityTokenServiceEndpoint`, `${FED} PassiveRequestorEndpoint`]);
    // <EndpointReference><Address>…/2005/usernamemixed</Address><Metadata><mex:Metadata><MetadataSection Dialect=mex>
    // <MetadataReference><Address>…/mex</Address>: AD FS's nesting, with the endpoint OpenFed serves.
    const stsEndpoint = only(only(sts, FED, 'SecurityTokenServiceEndpoint'), WSA, 'EndpointReference');
    assert.deepEqual(names(stsEndpoint), [`${WSA} Address`, `${WSA} Metadata`]);
    assert.equal(only(stsEndpoint, WSA, 'Address').textContent, 'https://sts.contoso.com/adfs/services/trust/2005/usernamemixed');
    const section = only(only(only(stsEndpoint, WSA, 'Metadata'), MEX, 'Metadata'), MEX, 'MetadataSection');
    assert.equal(section.getAttribute('Dialect'), MEX);
    assert.equal(only(only(section, MEX, 'MetadataReference'), WSA, 'Address').textContent, 'https://sts.contoso.com/adfs/services/trust/mex');
    // AD FS's ApplicationServiceEndpoint is an issuedtokenmixed endpoint, which OpenFed does not serve:
    // the application-service role keeps no WS-Trust endpoint, and so does not claim WS-Trust.
    assert.deepEqual(names(app).slice(-2), [`${FED} TargetScopes`, `${FED} PassiveRequestorEndpoint`]);
    assert.equal(children(app, FED, 'ApplicationServiceEndpoint').length, 0);
    assert.equal(app.getAttribute('protocolSupportEnumeration'), WSFED_PROTOCOL);

    const custom = roles(parse(buildIdpMetadata(input({ wsTrust: { endpointPath: '/adfs/services/trust/13/usernamemixed', mexPath: '/mex?a=1&b=2' } })))).sts;
    const epr = only(only(custom, FED, 'SecurityTokenServiceEndpoint'), WSA, 'EndpointReference');
    assert.equal(only(epr, WSA, 'Address').textContent, 'https://sts.contoso.com/adfs/services/trust/13/usernamemixed');
    assert.match(xml, /^<md:EntityDescriptor [^>]*><ds:Signature/);
    assert.ok(xmlsec1Verify(xml, primaryPair.certPem, ENTITY_DESCRIPTOR_ID).ok);
  });

  test('xmlsec1 verifies with the certificate taken from the metadata itself, which is the configured one', () => {
    const xml = buildIdpMetadata(input());
    const { sts } = roles(parse(xml));
    const [published] = signingCertificates(sts);
    assert.equal(published, primary.certificateBase64, 'the first published certificate is the configured primary');
    const pem = new X509Certificate(Buffer.from(published!, 'base64')).toString();
    assert.ok(new X509Certificate(pem).checkPrivateKey(primary.privateKey), 'the published certificate matches the signing key');

    const verified = xmlsec1Verify(xml, pem, ENTITY_DESCRIPTOR_ID);
    assert.ok(verified.ok, verified.output);
    // The next certificate is published but does not sign.
    assert.equal(xmlsec1Verify(xml, nextPair.certPem, ENTITY_DESCRIPTOR_ID).ok, false);
    // The WS-Fed roles are covered by the signature: a changed passive endpoint or claim type breaks it.
    const tampered = xml.replace('<wsa:Address>https://sts.contoso.com/adfs/ls/</wsa:Address>', '<wsa:Address>https://evil.example/adfs/ls/</wsa:Address>');
    assert.notEqual(tampered, xml);
    assert.equal(xmlsec1Verify(tampered, pem, ENTITY_DESCRIPTOR_ID).ok, false);
    const dropped = xml.replace(/<auth:ClaimType [^>]*Uri="http:\/\/schemas\.microsoft\.com\/2014\/03\/psso".*?<\/auth:ClaimType>/, '');
    assert.notEqual(dropped, xml);
    assert.equal(xmlsec1Verify(dropped, pem, ENTITY_DESCRIPTOR_ID).ok, false);
  });

  test('samlify and node-saml still read the SAML role, and only its keys', async () => {
    const xml = buildIdpMetadata(input());
    const idp = samlify.IdentityProvider({ metadata: xml });
    assert.equal(idp.entityMeta.getEntityID(), ENTITY);
    assert.equal(idp.entityMeta.getSingleSignOnService('post'), PASSIVE);
    assert.equal(idp.entityMeta.getSingleSignOnService('redirect'), PASSIVE);
    assert.deepEqual([idp.entityMeta.getX509Certificate('signing')].flat(), [primary.certificateBase64, next.certificateBase64]);

    const doc = await parseDomFromString(xml);
    const pem = new X509Certificate(Buffer.from(primary.certificateBase64, 'base64')).toString();
    assert.ok(getVerifiedXml(xml, doc.documentElement as unknown as Element, [pem]), 'node-saml verifies the metadata signature');
  });

  test('escapes the values it interpolates into the WS-Fed roles, and is deterministic', () => {
    const hostile = input({ entityId: 'urn:x"><evil/>&', baseUrl: 'https://sts.contoso.com/a&b<', serviceDisplayName: '"/><x y="' });
    const xml = buildIdpMetadata(hostile);
    const { app, sts } = roles(parse(xml));
    assert.deepEqual(endpointAddresses(only(app, FED, 'TargetScopes')), ['https://sts.contoso.com/a&b</adfs/ls/', 'urn:x"><evil/>&']);
    assert.deepEqual(endpointAddresses(only(sts, FED, 'PassiveRequestorEndpoint')), ['https://sts.contoso.com/a&b</adfs/ls/']);
    assert.equal(sts.getAttribute('ServiceDisplayName'), '"/><x y="');
    assert.ok(xmlsec1Verify(xml, primaryPair.certPem, ENTITY_DESCRIPTOR_ID).ok);
    assert.equal(buildIdpMetadata(input()), buildIdpMetadata(input({ clock: new ManualClock(0) })));
    assert.notEqual(buildIdpMetadata(input()), buildIdpMetadata(input({ keys: { primary } })), 'a rollover changes the document');
  });
});

describe('GET federation metadata at the canonical and the lower-case path', () => {
  const CANONICAL = '/FederationMetadata/2007-06/FederationMetadata.xml';
  const LOWER = '/federationmetadata/2007-06/federationmetadata.xml';
  let server: TestServer;
  let http: request.SuperTest<request.Test>;

  before(async () => {
    server = await startTestServer({ server: { baseUrl: 'https://sts.contoso.test' } });
    http = request(server.url) as unknown as request.SuperTest<request.Test>;
  });
  after(() => server?.stop());

  const getRaw = (path: string) =>
    http
      .get(path)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });

  test('both answer 200 with the same bytes as application/samlmetadata+xml', async () => {
    const canonical = await getRaw(CANONICAL);
    const lower = await getRaw(LOWER);
    for (const res of [canonical, lower]) {
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'] ?? '', /^application\/samlmetadata\+xml(;|$)/);
      assert.ok(Buffer.isBuffer(res.body) && res.body.length > 0);
    }
    assert.ok((canonical.body as Buffer).equals(lower.body as Buffer), 'same bytes');
    assert.equal(canonical.headers.etag, lower.headers.etag);

    // What is served is the AD FS-shaped document, signed by the server's token-signing key.
    const xml = (lower.body as Buffer).toString('utf8');
    const root = parse(xml);
    assert.equal(root.getAttribute('entityID'), 'http://sts.contoso.test/adfs/services/trust');
    const { app, sts } = roles(root);
    assert.deepEqual(signingCertificates(sts), [server.deps.keys.primary.certificateBase64]);
    assert.deepEqual(signingCertificates(app), [server.deps.keys.primary.certificateBase64]);
    assert.deepEqual(endpointAddresses(only(sts, FED, 'PassiveRequestorEndpoint')), ['https://sts.contoso.test/adfs/ls/']);
    const verified = xmlsec1Verify(xml, server.deps.keys.primary.certificate.toString(), ENTITY_DESCRIPTOR_ID);
    assert.ok(verified.ok, verified.output);
  });

  test('wsTrust.enabled (the default) puts the WS-Trust endpoint and its MEX in the STS role; false leaves them out', async () => {
    const stsEndpoint = (xml: string) => children(roles(parse(xml)).sts, FED, 'SecurityTokenServiceEndpoint');
    const [served] = stsEndpoint(((await getRaw(CANONICAL)).body as Buffer).toString('utf8'));
    assert.ok(served, 'SecurityTokenServiceEndpoint');
    assert.equal(only(only(served, WSA, 'EndpointReference'), WSA, 'Address').textContent, 'https://sts.contoso.test/adfs/services/trust/2005/usernamemixed');
    assert.match(served.textContent ?? '', /https:\/\/sts\.contoso\.test\/adfs\/services\/trust\/mex/);

    const off = await startTestServer({ server: { baseUrl: 'https://sts.contoso.test' }, wsTrust: { enabled: false } });
    try {
      const res = await fetch(`${off.url}${CANONICAL}`);
      const xml = await res.text();
      assert.deepEqual(stsEndpoint(xml), []);
      assert.equal(roles(parse(xml)).sts.getAttribute('protocolSupportEnumeration'), WSFED_PROTOCOL);
    } finally {
      await off.stop();
    }
  });
});
