/**
 * The Content-Security-Policy: closed by default, and a page that must post or load images elsewhere
 * widens only that one directive, only to the origin it needs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { contentSecurityPolicy, DEFAULT_CSP, type CspWidening } from '../../src/web/csp.js';

/** directive name → its sources, in order. */
function directives(policy: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    assert.ok(!map.has(name), `${name} given twice in ${policy}`);
    map.set(name, sources);
  }
  return map;
}

const DEFAULT = directives(DEFAULT_CSP);

describe('the default policy', () => {
  test('is what contentSecurityPolicy() gives, with or without an empty widening', () => {
    assert.equal(contentSecurityPolicy(), DEFAULT_CSP);
    assert.equal(contentSecurityPolicy({}), DEFAULT_CSP);
    assert.equal(contentSecurityPolicy({ images: [] }), DEFAULT_CSP);
  });

  const expected: [string, string[]][] = [
    ['default-src', ["'none'"]],
    ['script-src', ["'self'"]],
    ['style-src', ["'self'"]],
    ['img-src', ["'self'"]],
    ['form-action', ["'self'"]],
    ['frame-ancestors', ["'none'"]],
    ['base-uri', ["'none'"]],
  ];
  for (const [name, sources] of expected) {
    test(`${name} ${sources.join(' ')}`, () => {
      assert.deepEqual(DEFAULT.get(name), sources);
    });
  }

  test('nothing more, and nothing unsafe', () => {
    assert.deepEqual([...DEFAULT.keys()].sort(), expected.map(([name]) => name).sort());
    for (const unsafe of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", '*', 'data:', 'http:', 'https:']) {
      assert.ok(!DEFAULT_CSP.includes(` ${unsafe}`), `${unsafe} in ${DEFAULT_CSP}`);
    }
  });
});

describe('widened', () => {
  const cases: { name: string; widening: CspWidening; formAction?: string[]; imgSrc?: string[] }[] = [
    { name: 'form-action to an ACS URL: its origin only', widening: { formAction: 'https://sp.corp.example/saml/acs?x=1#frag' }, formAction: ['https://sp.corp.example'] },
    { name: 'form-action with a port kept', widening: { formAction: 'https://sp.corp.example:8443/acs' }, formAction: ['https://sp.corp.example:8443'] },
    { name: 'form-action with the default port dropped', widening: { formAction: 'https://sp.corp.example:443/acs' }, formAction: ['https://sp.corp.example'] },
    { name: 'form-action over http', widening: { formAction: 'http://intranet.corp.example:8080/login.srf' }, formAction: ['http://intranet.corp.example:8080'] },
    { name: 'form-action without user info', widening: { formAction: 'https://user:pass@sp.corp.example/acs' }, formAction: ['https://sp.corp.example'] },
    { name: 'form-action host lower-cased', widening: { formAction: 'HTTPS://SP.Corp.Example/acs' }, formAction: ['https://sp.corp.example'] },
    { name: 'one image', widening: { images: ['https://a.corp.example/app/?wa=wsignoutcleanup1.0'] }, imgSrc: ["'self'", 'https://a.corp.example'] },
    {
      name: 'images of one origin, once',
      widening: { images: ['https://a.corp.example/one/?wa=wsignoutcleanup1.0', 'https://a.corp.example/two/?wa=wsignoutcleanup1.0', 'https://a.corp.example:443/three'] },
      imgSrc: ["'self'", 'https://a.corp.example'],
    },
    {
      name: 'images of several origins, in order, with ports kept',
      widening: { images: ['https://b.corp.example/x', 'https://a.corp.example:8443/y', 'https://b.corp.example/z', 'https://a.corp.example/w'] },
      imgSrc: ["'self'", 'https://b.corp.example', 'https://a.corp.example:8443', 'https://a.corp.example'],
    },
    {
      name: 'both at once',
      widening: { formAction: 'https://sp.corp.example/slo?SAMLResponse=abc', images: ['https://a.corp.example/?wa=wsignoutcleanup1.0'] },
      formAction: ['https://sp.corp.example'],
      imgSrc: ["'self'", 'https://a.corp.example'],
    },
  ];
  for (const { name, widening, formAction, imgSrc } of cases) {
    test(name, () => {
      const policy = contentSecurityPolicy(widening);
      const got = directives(policy);
      assert.deepEqual(got.get('form-action'), formAction ?? DEFAULT.get('form-action'));
      assert.deepEqual(got.get('img-src'), imgSrc ?? DEFAULT.get('img-src'));
      // Every other directive stays as closed as the default.
      for (const [directive, sources] of DEFAULT) {
        if (directive === 'form-action' || directive === 'img-src') continue;
        assert.deepEqual(got.get(directive), sources, directive);
      }
      assert.ok(!/[?#]/.test(policy), `a path, query or fragment leaked into ${policy}`);
    });
  }
});

describe('a URL that is no http(s) origin never widens the policy', () => {
  for (const url of ['javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'https://a;b.example/']) {
    test(url, () => {
      assert.throws(() => contentSecurityPolicy({ formAction: url }), /no CSP source/);
      assert.throws(() => contentSecurityPolicy({ images: [url] }), /no CSP source/);
    });
  }
});
