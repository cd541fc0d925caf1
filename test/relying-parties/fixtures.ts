/** Certificates and SP metadata documents for the relying-party and metadata tests. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export const dir = mkdtempSync(join(tmpdir(), 'openfed-rp-'));

export interface TestKey {
  keyPem: string;
  certPem: string;
  certPath: string;
  certificate: X509Certificate;
  certificateBase64: string;
  privateKey: KeyObject;
}

const keys = new Map<string, TestKey>();

/** A self-signed RSA-2048 key pair, made once per name. */
export function testKey(name: string): TestKey {
  const cached = keys.get(name);
  if (cached) return cached;
  const keyPath = join(dir, `${name}.key.pem`);
  const certPath = join(dir, `${name}.cert.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '30', '-subj', `/CN=${name}`], {
    stdio: 'pipe',
  });
  const keyPem = readFileSync(keyPath, 'utf8');
  const certPem = readFileSync(certPath, 'utf8');
  const certificate = new X509Certificate(certPem);
  const key = { keyPem, certPem, certPath, certificate, certificateBase64: certificate.raw.toString('base64'), privateKey: createPrivateKey(keyPem) };
  keys.set(name, key);
  return key;
}

export function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export function configWith(relyingParties: unknown[]): Config {
  return parseConfig({ relyingParties });
}

/** A logger whose JSON lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

export const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** A plain SP metadata document, as most SAML libraries write it. */
export function simpleSpMetadata(options: {
  entityId: string;
  acs?: Array<{ url: string; index: number; binding?: string; isDefault?: boolean }>;
  signing?: TestKey;
  encryption?: TestKey;
  validUntil?: string;
  id?: string;
}): string {
  const key = (use: string, k: TestKey) =>
    `<md:KeyDescriptor use="${use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${k.certificateBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
  const acs = (options.acs ?? [{ url: `${options.entityId}/acs`, index: 0 }])
    .map((a) => `<md:AssertionConsumerService Binding="${a.binding ?? POST}" Location="${a.url}" index="${a.index}"${a.isDefault ? ' isDefault="true"' : ''}/>`)
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"` +
    ` ID="${options.id ?? '_sp-metadata'}" entityID="${options.entityId}"${options.validUntil ? ` validUntil="${options.validUntil}"` : ''}>` +
    `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true">` +
    (options.signing ? key('signing', options.signing) : '') +
    (options.encryption ? key('encryption', options.encryption) : '') +
    `<md:SingleLogoutService Binding="${REDIRECT}" Location="${options.entityId}/slo"/>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
    acs +
    `</md:SPSSODescriptor></md:EntityDescriptor>\n`
  );
}

/**
 * What a Shibboleth SP 3 serves at /Shibboleth.sso/Metadata: mdui extensions, several protocols, one
 * KeyDescriptor without `use` plus a signing and an encryption one (key rollover), SOAP and Artifact
 * endpoints we cannot use, and ACS for bindings we do not speak alongside the POST one.
 */
export function shibbolethSpMetadata(host: string, current: TestKey, next: TestKey): string {
  const keyInfo = (k: TestKey) =>
    `<ds:KeyInfo><ds:KeyName>${host}</ds:KeyName><ds:X509Data><ds:X509SubjectName>CN=${host}</ds:X509SubjectName>\n` +
    `<ds:X509Certificate>\n${k.certificateBase64.replace(/.{64}/g, '$&\n')}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!--
This is example metadata only. Do *NOT* supply it as is without review,
and do *NOT* provide it in real time to your partners.
 -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:init="urn:oasis:names:tc:SAML:profiles:SSO:request-init" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:idpdisc="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" ID="_0b1dd1e2c0a1b5c2d7e9d0c81a0c6c6d0b5d1b1e" entityID="https://${host}/shibboleth">
  <md:Extensions>
    <init:RequestInitiator Binding="urn:oasis:names:tc:SAML:profiles:SSO:request-init" Location="https://${host}/Shibboleth.sso/Login"/>
    <idpdisc:DiscoveryResponse Binding="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" Location="https://${host}/Shibboleth.sso/Login" index="1"/>
  </md:Extensions>
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:1.0:protocol">
    <md:Extensions>
      <mdui:UIInfo><mdui:DisplayName xml:lang="en">Research Wiki</mdui:DisplayName></mdui:UIInfo>
    </md:Extensions>
    <md:KeyDescriptor>
      ${keyInfo(current)}
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
    </md:KeyDescriptor>
    <md:KeyDescriptor use="signing">
      ${keyInfo(next)}
    </md:KeyDescriptor>
    <md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://${host}/Shibboleth.sso/Artifact/SOAP" index="1"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://${host}/Shibboleth.sso/SLO/SOAP"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://${host}/Shibboleth.sso/SLO/Redirect"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://${host}/Shibboleth.sso/SLO/POST"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://${host}/Shibboleth.sso/SLO/Artifact"/>
    <md:ManageNameIDService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://${host}/Shibboleth.sso/NIM/Redirect"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://${host}/Shibboleth.sso/SAML2/POST" index="1"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign" Location="https://${host}/Shibboleth.sso/SAML2/POST-SimpleSign" index="2"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://${host}/Shibboleth.sso/SAML2/Artifact" index="3"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS" Location="https://${host}/Shibboleth.sso/SAML2/ECP" index="4"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:1.0:profiles:browser-post" Location="https://${host}/Shibboleth.sso/SAML/POST" index="5"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://${host}/Shibboleth.sso/SAML2/POST-alt" index="7" isDefault="true"/>
  </md:SPSSODescriptor>
  <md:Organization>
    <md:OrganizationName xml:lang="en">Example</md:OrganizationName>
    <md:OrganizationDisplayName xml:lang="en">Example</md:OrganizationDisplayName>
    <md:OrganizationURL xml:lang="en">https://${host}/</md:OrganizationURL>
  </md:Organization>
</md:EntityDescriptor>
`;
}
