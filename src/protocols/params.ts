/**
 * Protocol parameters as they arrive, from a query string or a form: each one given at most once.
 * A repeated name is not a value we pick from (first? last?), it is a malformed or crafted request;
 * node's querystring and body-parser both hand it over as an array, and this is where it is refused.
 */

/** What a query string or urlencoded form parses into: strings, or arrays of strings for repeated names. */
export type Params = Readonly<Record<string, unknown>>;

/**
 * The parameter `name`: undefined when absent, the string when given once; otherwise (repeated, not a
 * string, longer than `maxLength`) the error `refuse` makes, which names the protocol's own error.
 */
export function singleParam(params: Params, name: string, refuse: (detail: string) => Error, maxLength = Number.POSITIVE_INFINITY): string | undefined {
  // Own properties only: 'constructor' or '__proto__' in a query is a name like any other, not Object's.
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw refuse(`${name} is not a single value`);
  if (value.length > maxLength) throw refuse(`${name} is longer than ${maxLength} characters`);
  return value;
}
