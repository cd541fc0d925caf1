/**
 * SP metadata is hostile input too (it arrives from a URL an SP controls): every XML attack is
 * refused with SpMetadataError, and a bad document fetched from a URL never replaces a good one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpMetadata, SpMetadataError } from '../../src/relying-parties/sp-metadata.js';
import { simpleSpMetadata } from '../relying-parties/fixtures.js';

const SP = 'https://sp.example.test/shibboleth';
const good = simpleSpMetadata({ entityId: SP });
const body = good.replace(/^<\?xml[^>]*>/, '');

const hostile: Array<[string, string]> = [
  ['external entity (XXE)', `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>${body.replace('</md:EntityDescriptor>', '<x>&x;</x></md:EntityDescriptor>')}`],
  ['billion laughs', `<!DOCTYPE md [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>${body}`],
  ['a DOCTYPE alone', `<!DOCTYPE md>${body}`],
  ['two roots', `${body}${body}`],
  ['a processing instruction', `${body.replace('<md:SPSSODescriptor', '<?evil do-something?><md:SPSSODescriptor')}`],
  ['duplicate IDs', body.replace('<md:EntityDescriptor ', '<md:EntityDescriptor ID="_dup" ').replace('<md:SPSSODescriptor ', '<md:SPSSODescriptor ID="_dup" ')],
  ['oversized', body.replace('</md:EntityDescriptor>', `<md:Extensions>${'<x/>'.repeat(400_000)}</md:Extensions></md:EntityDescriptor>`)],
  ['not XML', 'HTTP/1.1 200 OK\r\n\r\n<html>'],
];

test('the well-formed fixture itself is accepted (so the refusals below are about the attacks)', () => {
  assert.equal(parseSpMetadata(good, { entityId: SP, now: Date.now() }).entityId, SP);
});

for (const [what, xml] of hostile) {
  test(`SP metadata refused: ${what}`, () => {
    assert.throws(() => parseSpMetadata(xml, { entityId: SP, now: Date.now() }), SpMetadataError);
  });
}
