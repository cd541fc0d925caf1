/**
 * What the protocol-rule unit tests share: signing keys made in-process (no openssl, no files), a
 * user and an SSO session for them, and a namespace-aware reading of the XML OpenFed answers with.
 */
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { fromPem, generateSelfSigned, type SigningKey } from '../../src/keys/signing-key.js';
import type { Principal } from '../../src/directory/types.js';
import type { SessionRecord } from '../../src/sessions/types.js';

/** 2026-03-02T10:00:00Z: every test's "now". */
export const NOW = Date.UTC(2026, 2, 2, 10, 0, 0);

const made = new Map<string, Promise<SigningKey & { keyPem: string; certPem: string }>>();

/** An RSA-2048 key and self-signed certificate, made once per name and test file. */
export function signingKey(name: string): Promise<SigningKey & { keyPem: string; certPem: string }> {
  let key = made.get(name);
  if (!key) {
    // Valid from a day ago by the real clock: certificate checks in the XML layer use real time.
    key = generateSelfSigned(name, new Date(Date.now() - 86_400_000)).then(({ keyPem, certPem }) => ({ ...fromPem(keyPem, certPem, 'generated'), keyPem, certPem }));
    made.set(name, key);
  }
  return key;
}

export function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    dn: 'CN=Alice Smith,OU=Staff,DC=corp,DC=example',
    objectGuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    userPrincipalName: 'alice@corp.example',
    sAMAccountName: 'alice',
    netbiosDomain: 'CORP',
    // Not the UPN, so a NameID from the wrong source cannot pass for the right one.
    mail: 'alice.smith@mail.corp.example',
    displayName: 'Alice Smith',
    groups: [{ name: 'Staff', sid: 'S-1-5-21-1-2-3-1104' }],
    attributes: {},
    ...overrides,
  };
}

export const ALICE = principal();
export const BOB = principal({
  dn: 'CN=Bob Jones,OU=Staff,DC=corp,DC=example',
  objectGuid: Buffer.from('ffeeddccbbaa99887766554433221100', 'hex'),
  userPrincipalName: 'bob@corp.example',
  sAMAccountName: 'bob',
  mail: 'bob.jones@mail.corp.example',
  displayName: 'Bob Jones',
});

export function session(
  who: Principal = ALICE,
  options: { id?: string; authnInstant?: number; persistent?: boolean } = {},
): { id: string; record: SessionRecord } {
  const authnInstant = options.authnInstant ?? NOW - 10 * 60_000;
  return {
    id: options.id ?? 'session-1-abcdefghijklmnop',
    record: {
      principal: who,
      authnInstant,
      authnMethod: 'password',
      clientIp: '192.0.2.10',
      persistent: options.persistent ?? false,
      relyingParties: [],
      expiresAt: authnInstant + 8 * 3_600_000,
    },
  };
}

export function parse(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({ onError: (level, message) => void (level !== 'warning' && errors.push(message)) }).parseFromString(xml, 'text/xml');
  if (errors.length > 0) throw new Error(`not well-formed XML: ${errors.join('; ')}`);
  return doc;
}

export function all(node: Document | Element, ns: string, localName: string): Element[] {
  return Array.from(node.getElementsByTagNameNS(ns, localName));
}

/** The single descendant with this name; fails the test when there are none or several. */
export function only(node: Document | Element, ns: string, localName: string): Element {
  const found = all(node, ns, localName);
  if (found.length !== 1) throw new Error(`expected one {${ns}}${localName}, found ${found.length}`);
  return found[0]!;
}

/** The single direct child with this name. */
export function child(node: Element, ns: string, localName: string): Element {
  const found = Array.from(node.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === localName);
  if (found.length !== 1) throw new Error(`expected one child {${ns}}${localName}, found ${found.length}`);
  return found[0]!;
}

export const text = (el: Element): string => (el.textContent ?? '').trim();
