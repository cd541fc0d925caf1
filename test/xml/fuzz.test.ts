/**
 * Seeded mutation fuzz: a few hundred damaged copies of valid signed documents. The only acceptable outcomes
 * are an XmlError, or success that yields exactly the original signed content (the mutation hit something
 * the signature does not cover, such as KeyInfo or whitespace outside the root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseXml, verifySignedRoot, XmlError } from '../../src/xml/index.js';
import { FIXTURE_DIR, loadKey } from '../fixtures/xml/generate.js';

const certificates = [loadKey('idp').certificate];
const ITERATIONS = 300;

/** mulberry32: tiny, seedable, good enough to pick mutations reproducibly. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '<', '>', '&', '"', "'", '/', '=', '<!--', '-->', '<![CDATA[', ']]>', '<?x?>', '<!DOCTYPE a>', '&amp;', '&#0;',
  ' ID="_resp1"', ' ID="_authn1"', '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>', '<a>', '</a>',
  'xmlns:saml="urn:evil"', '€', '\u0000', '\uFFFF', ' ', '\n', '\r',
];

function mutate(source: string, random: () => number): string {
  const at = Math.floor(random() * source.length);
  const span = 1 + Math.floor(random() * 24);
  switch (Math.floor(random() * 5)) {
    case 0: // replace one character with a random printable one
      return source.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + source.slice(at + 1);
    case 1: // delete a span
      return source.slice(0, at) + source.slice(at + span);
    case 2: // duplicate a span
      return source.slice(0, at + span) + source.slice(at, at + span) + source.slice(at + span);
    case 3: // insert a token chosen to stress the parser or the signature checks
      return source.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)]! + source.slice(at);
    default: // swap two spans
    {
      const other = Math.floor(random() * source.length);
      const [a, b] = at < other ? [at, other] : [other, at];
      return source.slice(0, a) + source.slice(b, b + span) + source.slice(a + span, b) + source.slice(a, a + span) + source.slice(b + span);
    }
  }
}

for (const fixture of ['response.root-signed.assertion-signed.xml', 'authnrequest.signed.xml']) {
  test(`fuzz ${fixture}: only XmlError or the original signed content`, { timeout: 60_000 }, () => {
    const original = readFileSync(join(FIXTURE_DIR, 'valid', fixture), 'utf8');
    const expected = verifySignedRoot(original, { certificates }).document.toString();
    const random = prng(0x0f3d ^ fixture.length);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      let xml = original;
      const rounds = 1 + Math.floor(random() * 3);
      for (let r = 0; r < rounds; r++) xml = mutate(xml, random);
      let outcome: string;
      try {
        const result = verifySignedRoot(xml, { certificates });
        assert.equal(result.document.toString(), expected, `iteration ${i} verified different content:\n${xml}`);
        outcome = 'verified';
      } catch (error) {
        if (!(error instanceof XmlError)) assert.fail(`iteration ${i} threw ${String(error)} for:\n${xml}`);
        outcome = error.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The fuzz must actually reach the signature layer, not only bounce off the parser.
    assert.ok((outcomes.get('signature_invalid') ?? 0) + (outcomes.get('untrusted_key') ?? 0) > 0, JSON.stringify([...outcomes]));
    assert.ok(parseXml(original));
  });
}
