/**
 * Prometheus metrics. Security events are counted where they are already recorded — the audit trail —
 * so no handler carries metrics code: a MetricsAuditLog wraps the real AuditLog and counts as it passes.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, AuditLog } from '../audit/audit.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../clock.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly signIns = new Counter({ name: 'openfed_signins_total', help: 'Password sign-ins by outcome and reason', labelNames: ['outcome', 'reason'], registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'openfed_tokens_issued_total', help: 'Tokens issued by protocol and relying party', labelNames: ['protocol', 'rp'], registers: [this.registry] });
  private readonly refused = new Counter({ name: 'openfed_requests_refused_total', help: 'Protocol requests refused, by protocol and reason', labelNames: ['protocol', 'reason'], registers: [this.registry] });
  private readonly lockouts = new Counter({ name: 'openfed_lockouts_total', help: 'Sign-ins refused or flagged by extranet smart lockout', registers: [this.registry] });
  private readonly signOuts = new Counter({ name: 'openfed_signouts_total', help: 'Sign-outs', registers: [this.registry] });

  constructor(keys: Pick<KeyRing, 'primary'>, clock: Clock) {
    collectDefaultMetrics({ register: this.registry, prefix: 'openfed_' });
    new Gauge({
      name: 'openfed_signing_certificate_expiry_days',
      help: 'Days until the token-signing certificate expires',
      registers: [this.registry],
      collect() {
        this.set((keys.primary.notAfter.getTime() - clock.now()) / 86_400_000);
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
    };
  }
}
