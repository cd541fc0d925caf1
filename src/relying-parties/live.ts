/**
 * An object built from the relying parties, rebuilt when the registry changes, behind one stable
 * reference: the web layer copies its dependencies once at start, so swapping the object itself would
 * never reach it. Used for the WS-Federation side, whose relying parties are read when it is built.
 */
import type { RelyingPartyRegistry } from './registry.js';

export function rebuiltOnChange<T extends object>(registry: Pick<RelyingPartyRegistry, 'version'>, build: () => T): T {
  let version = registry.version;
  let current = build();
  const now = (): T => {
    if (registry.version !== version) {
      version = registry.version;
      current = build();
    }
    return current;
  };
  return new Proxy(current, {
    get(_target, property) {
      const target = now();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
