/**
 * One value per protocol parameter: a repeated name, a non-string or an over-long value is refused
 * with the caller's own error, never resolved by picking one of the values.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { singleParam, type Params } from '../../src/protocols/params.js';

class Refused extends Error {}
const refuse = (detail: string) => new Refused(detail);

/** What node's querystring hands over: no prototype. */
const query = (entries: Record<string, unknown>): Params => Object.assign(Object.create(null) as Record<string, unknown>, entries);

describe('accepted', () => {
  const cases: { name: string; params: Params; max?: number; expected: string | undefined }[] = [
    { name: 'absent', params: query({ other: 'x' }), expected: undefined },
    { name: 'absent from an empty set', params: query({}), expected: undefined },
    { name: 'present but undefined', params: query({ wa: undefined }), expected: undefined },
    { name: 'given once', params: query({ wa: 'wsignin1.0' }), expected: 'wsignin1.0' },
    { name: 'given once, empty', params: query({ wa: '' }), expected: '' },
    { name: 'given once in a plain object', params: { wa: 'wsignin1.0' }, expected: 'wsignin1.0' },
    { name: 'long, with no maximum', params: query({ wa: 'x'.repeat(100_000) }), expected: 'x'.repeat(100_000) },
    { name: 'exactly the maximum', params: query({ wa: 'x'.repeat(80) }), max: 80, expected: 'x'.repeat(80) },
    { name: 'under the maximum', params: query({ wa: 'x'.repeat(79) }), max: 80, expected: 'x'.repeat(79) },
    { name: 'empty, maximum 0', params: query({ wa: '' }), max: 0, expected: '' },
    { name: 'absent, maximum 0', params: query({}), max: 0, expected: undefined },
  ];
  for (const { name, params, max, expected } of cases) {
    test(name, () => {
      assert.equal(singleParam(params, 'wa', refuse, max), expected);
    });
  }
});

describe('refused with the caller’s error', () => {
  const cases: { name: string; value: unknown; max?: number; detail: RegExp }[] = [
    { name: 'repeated', value: ['wsignin1.0', 'wsignout1.0'], detail: /wa is not a single value/ },
    { name: 'repeated with the same value', value: ['wsignin1.0', 'wsignin1.0'], detail: /not a single value/ },
    { name: 'an array of one', value: ['wsignin1.0'], detail: /not a single value/ },
    { name: 'an empty array', value: [], detail: /not a single value/ },
    { name: 'a nested object (qs-style a[b]=c)', value: { b: 'c' }, detail: /not a single value/ },
    { name: 'null', value: null, detail: /not a single value/ },
    { name: 'a number', value: 1, detail: /not a single value/ },
    { name: 'a boolean', value: true, detail: /not a single value/ },
    { name: 'one over the maximum', value: 'x'.repeat(81), max: 80, detail: /wa is longer than 80 characters/ },
    { name: 'far over the maximum', value: 'x'.repeat(10_000), max: 80, detail: /longer than 80/ },
    { name: 'anything, maximum 0', value: 'x', max: 0, detail: /longer than 0/ },
    { name: 'repeated and over the maximum', value: ['x'.repeat(100)], max: 80, detail: /not a single value/ },
  ];
  for (const { name, value, max, detail } of cases) {
    test(name, () => {
      assert.throws(() => singleParam(query({ wa: value }), 'wa', refuse, max), (error: unknown) => {
        assert.ok(error instanceof Refused, `expected the refuse factory's error, got ${String(error)}`);
        assert.match(error.message, detail);
        return true;
      });
    });
  }

  test('the error thrown is the very one the factory made', () => {
    const made: Error[] = [];
    const thrown = (() => {
      try {
        singleParam(query({ SAMLRequest: ['a', 'b'] }), 'SAMLRequest', (detail) => {
          const error = new RangeError(detail);
          made.push(error);
          return error;
        });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    assert.equal(made.length, 1);
    assert.equal(thrown, made[0]);
  });

  test('the factory is not called for an accepted value', () => {
    let calls = 0;
    singleParam(query({ wa: 'wsignin1.0' }), 'wa', (detail) => {
      calls += 1;
      return new Error(detail);
    });
    assert.equal(calls, 0);
  });
});

describe("names Object's prototype has are names like any other", () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    test(`${name} absent from the parameters: undefined, not Object's`, () => {
      assert.equal(singleParam({}, name, () => new Error('refused')), undefined);
    });
  }
  test('constructor given once: its value', () => {
    assert.equal(singleParam({ constructor: 'x' } as Params, 'constructor', () => new Error('refused')), 'x');
  });
});
