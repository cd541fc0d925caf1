/**
 * The catalogues: every language has exactly English's keys (the compiler checks the literal types;
 * this checks the objects as they are loaded), each key says something, and the same {{values}}.
 * The choice of language: ?lang=, then the cookie that remembers it, then Accept-Language, then English.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { CATALOGUES, LANGUAGES, languageOf, pageLanguage, translator } from '../../src/web/i18n/index.js';
import { PAGE_MESSAGES, SIGN_IN_MESSAGES } from '../../src/web/messages.js';

function leaves(tree: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') out.set(path, value);
    else for (const [k, v] of leaves(value, path)) out.set(k, v);
  }
  return out;
}

const placeholders = (text: string) => [...text.matchAll(/\{\{\s*([\w]+)/g)].map((m) => m[1]).sort();

describe('catalogues', () => {
  const english = leaves(CATALOGUES.en);
  for (const lang of LANGUAGES.filter((l) => l !== 'en')) {
    test(`${lang} has every English key, no other, none empty, the same placeholders`, () => {
      const other = leaves(CATALOGUES[lang]);
      assert.deepEqual([...english.keys()].filter((k) => !other.has(k)), [], `missing in ${lang}`);
      assert.deepEqual([...other.keys()].filter((k) => !english.has(k)), [], `extra in ${lang}`);
      for (const [key, text] of other) {
        assert.ok(text.trim(), `${lang} ${key} is empty`);
        assert.deepEqual(placeholders(text), placeholders(english.get(key)!), `${lang} ${key} placeholders`);
      }
    });
  }

  test('a missing key is caught: the check above fails on a catalogue with one key removed or added', () => {
    const broken = structuredClone(CATALOGUES.de) as unknown as { signin: Record<string, string> };
    delete broken.signin.capsLock;
    broken.signin.extra = 'x';
    const other = leaves(broken);
    assert.deepEqual([...english.keys()].filter((k) => !other.has(k)), ['signin.capsLock']);
    assert.deepEqual([...other.keys()].filter((k) => !english.has(k)), ['signin.extra']);
  });

  test('programs keep reading English: SOAP fault reasons and JSON bodies come from messages.ts', () => {
    assert.equal(PAGE_MESSAGES.wstrust_authentication_failed.text, 'The security token could not be authenticated or authorized.');
    assert.equal(SIGN_IN_MESSAGES.account_disabled.status, 403);
    assert.equal(SIGN_IN_MESSAGES.account_locked.text, SIGN_IN_MESSAGES.invalid_credentials.text, 'a locked account reads as a wrong password');
  });

  test('dates are written for the language', () => {
    const when = new Date(Date.UTC(2026, 2, 5, 14, 30));
    const written = Object.fromEntries(LANGUAGES.map((l) => [l, translator(l)('home.signedInAtValue', { when })]));
    assert.match(written.en!, /Mar 5, 2026/);
    assert.match(written.de!, /05\.03\.2026/);
    assert.match(written.fr!, /5 mars 2026/);
  });
});

describe('the language of a request', () => {
  const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers }) as unknown as IncomingMessage;

  test('?lang= wins, then the cookie, then Accept-Language, then English', () => {
    assert.equal(languageOf(req('/signin?lang=fr', { cookie: 'openfed_lang=de', 'accept-language': 'de' })), 'fr');
    assert.equal(languageOf(req('/signin', { cookie: 'a=b; openfed_lang=de', 'accept-language': 'fr' })), 'de');
    assert.equal(languageOf(req('/signin', { 'accept-language': 'fr-CA,fr;q=0.9,en;q=0.5' })), 'fr');
    assert.equal(languageOf(req('/signin', { 'accept-language': 'de-AT' })), 'de');
    assert.equal(languageOf(req('/signin', { 'accept-language': 'es, ja;q=0.8' })), 'en');
    assert.equal(languageOf(req('/signin')), 'en');
    assert.equal(languageOf(req('/signin?lang=xx', { cookie: 'openfed_lang=zz' })), 'en', 'unknown values are ignored');
  });

  test('the switch links to the same page, keeping its query', () => {
    const { languages } = pageLanguage(req('/signin?pending=abcdefghijklmnopq&username=a%40b.test'));
    assert.deepEqual(
      languages.map((l) => l.href),
      ['en', 'de', 'fr'].map((l) => `/signin?pending=abcdefghijklmnopq&username=a%40b.test&lang=${l}`),
    );
  });
});
