/**
 * Prometheus metrics. Security events are counted where they are already recorded — the audit trail —
 * so no handler carries metrics code: a MetricsAuditLog wraps the real AuditLog and counts as it passes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, AuditLog } from '../audit/audit.js';
import type { BindOutcome } from '../directory/active-directory.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { SigningKey } from '../keys/signing-key.js';
import type { Clock } from '../clock.js';
import { StoreUnavailableError } from '../errors.js';

/**
 * How the dependencies behave: LDAP bind latency and Redis failures per store. Made before the
 * directory and the stores exist (they report into it through callbacks and wrappers, as directory/
 * and the stores do not know prom-client) and registered by Metrics once that exists.
 */
export class DependencyMetrics {
  readonly ldapBinds = new Histogram({
    name: 'openfed_ldap_bind_duration_seconds',
    help: 'Password checks (LDAP simple binds as the user), by outcome: success, rejected (AD refused the credentials or account), unavailable (no DC answered)',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [],
  });
  readonly storeErrors = new Counter({
    name: 'openfed_redis_errors_total',
    help: 'Store operations (by store: sessions, pending, replay, lockout, relyingParties, keySet) that failed because Redis was unreachable, timed out or answered an error',
    labelNames: ['store'],
    registers: [],
  });

  /** For the directory: one finished bind. */
  readonly observeBind = (outcome: BindOutcome, seconds: number): void => {
    this.ldapBinds.observe({ outcome }, seconds);
  };

  /** Every store of an object of stores watched (see watchStore), under its property name; functions (close) pass as they are. */
  watchStores<S extends object>(stores: S): S {
    const watched = { ...stores } as Record<string, unknown>;
    for (const [name, value] of Object.entries(stores)) {
      if (value !== null && typeof value === 'object') watched[name] = this.watchStore(name, value as object);
    }
    return watched as S;
  }

  /**
   * The same store, counting every StoreUnavailableError its methods reject with. The caller still
   * gets the rejection; counting happens beside it, at the one boundary every store call crosses.
   */
  watchStore<T extends object>(name: string, store: T): T {
    const counter = this.storeErrors;
    const count = (err: unknown) => {
      if (err instanceof StoreUnavailableError) counter.inc({ store: name });
    };
    const wrapped = new Map<PropertyKey, unknown>();
    return new Proxy(store, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        let fn = wrapped.get(property);
        if (!fn) {
          fn = (...args: unknown[]) => {
            const result: unknown = Reflect.apply(value, target, args);
            if (result instanceof Promise) result.catch(count);
            return result;
          };
          wrapped.set(property, fn);
        }
        return fn;
      },
    });
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly signIns = new Counter({ name: 'openfed_signins_total', help: 'Password sign-ins by outcome and reason', labelNames: ['outcome', 'reason'], registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'openfed_tokens_issued_total', help: 'Tokens issued by protocol and relying party', labelNames: ['protocol', 'rp'], registers: [this.registry] });
  private readonly refused = new Counter({ name: 'openfed_requests_refused_total', help: 'Protocol requests refused, by protocol and reason', labelNames: ['protocol', 'reason'], registers: [this.registry] });
  private readonly lockouts = new Counter({ name: 'openfed_lockouts_total', help: 'Sign-ins refused or flagged by extranet smart lockout', registers: [this.registry] });
  private readonly signOuts = new Counter({ name: 'openfed_signouts_total', help: 'Sign-outs', registers: [this.registry] });
  // The second factor, from the mfa.* audit events mfa/service.ts records: labels only from closed
  // sets (never the user, a code or the client). method is known on success and enrolment; a failure
  // is counted before (too_many_attempts, not_enrolled) or without telling which kind of code it was.
  // mfa.reset is not counted: the help desk resets with `openfed mfa reset`, another process.
  private readonly mfa = new Counter({
    name: 'openfed_mfa_total',
    help: 'Second-factor (TOTP) outcomes: success by method (totp, recovery), failure by reason (wrong_code, replayed, too_many_attempts, not_enrolled), enrolled (the first code of a new authenticator)',
    labelNames: ['outcome', 'method', 'reason'],
    registers: [this.registry],
  });

  constructor(keys: Pick<KeyRing, 'primary'> & Partial<Pick<KeyRing, 'next' | 'previous'>>, clock: Clock, dependencies: DependencyMetrics = new DependencyMetrics()) {
    collectDefaultMetrics({ register: this.registry, prefix: 'openfed_' });
    this.registry.registerMetric(dependencies.ldapBinds);
    this.registry.registerMetric(dependencies.storeErrors);
    new Gauge({
      name: 'openfed_signing_certificate_expiry_days',
      help: 'Days until the token-signing certificate expires',
      registers: [this.registry],
      // Every worker of a farm reports the same certificate: adding them up would be wrong.
      aggregator: 'min',
      collect() {
        this.set((keys.primary.notAfter.getTime() - clock.now()) / 86_400_000);
      },
    });
    // Every certificate the metadata publishes: an alert on a next or previous one that is about to
    // lapse needs its own series, and a rollover shows as the thumbprints changing roles.
    new Gauge({
      name: 'openfed_signing_certificates_expiry_days',
      help: 'Days until each published token-signing certificate expires, by role (primary signs; next and previous are only published)',
      labelNames: ['role', 'thumbprint'],
      registers: [this.registry],
      aggregator: 'min',
      collect() {
        this.reset();
        const published: Array<[string, SigningKey | undefined]> = [['primary', keys.primary], ['next', keys.next], ...(keys.previous ?? []).map((k): [string, SigningKey] => ['previous', k])];
        for (const [role, key] of published) {
          if (key) this.set({ role, thumbprint: key.thumbprint }, (key.notAfter.getTime() - clock.now()) / 86_400_000);
        }
      },
    });
  }

  count(event: AuditEvent): void {
    switch (event.type) {
      case 'signin.succeeded':
        return this.signIns.inc({ outcome: 'success', reason: '' });
      case 'signin.failed':
        return this.signIns.inc({ outcome: 'failure', reason: event.reason });
      case 'token.issued':
        return this.tokens.inc({ protocol: event.protocol, rp: event.rp });
      case 'token.refused':
        return this.refused.inc({ protocol: event.protocol, reason: event.reason });
      case 'lockout.blocked':
        return this.lockouts.inc();
      case 'signout':
        return this.signOuts.inc();
      case 'mfa.succeeded':
        return this.mfa.inc({ outcome: 'success', method: event.method, reason: '' });
      case 'mfa.failed':
        return this.mfa.inc({ outcome: 'failure', method: '', reason: event.reason });
      case 'mfa.enrolled':
        return this.mfa.inc({ outcome: 'enrolled', method: event.method, reason: '' });
      default:
        return;
    }
  }

  /** The audit trail, counted on its way through. */
  wrap(audit: AuditLog): AuditLog {
    return {
      record: (event, requestId) => {
        this.count(event);
        audit.record(event, requestId);
      },
      ...(audit.flush ? { flush: () => audit.flush?.() } : {}),
    };
  }
}
