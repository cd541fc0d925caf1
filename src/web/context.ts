import type { AuditLog } from '../audit/audit.js';
import type { WindowsSignIns } from '../authn/kerberos.js';
import type { MfaService } from '../mfa/service.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Directory } from '../directory/types.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { LockoutGuard } from '../lockout/guard.js';
import type { Logger } from '../log.js';
import type { MetadataCache } from '../metadata/cache.js';
import type { SamlIdp } from '../protocols/saml2/idp.js';
import type { WsfedIdp } from '../protocols/wsfed/idp.js';
import type { RelyingPartyRegistry } from '../relying-parties/registry.js';
import type { PendingStore, ReplayCache, SessionStore } from '../sessions/types.js';

/** Windows Integrated Authentication, present only when configured and the Kerberos addon loaded. */
export interface IntegratedAuth {
  /** Is this browser offered a Negotiate challenge (intranet address, a user agent known to answer)? */
  offeredTo(clientIp: string, userAgent: string | undefined): boolean;
  /** May this address use WS-Trust windowstransport (intranet only; any client software)? */
  offersTransport(clientIp: string): boolean;
  signIns: WindowsSignIns;
}

/** Everything the HTTP layer needs, built once at start (main.ts) or by a test. */
export interface AppDeps {
  config: Config;
  directory: Directory;
  windows?: IntegratedAuth;
  /** The second factor (TOTP); absent without keys.encryptionSecret, when MFA requirements refuse instead. */
  mfa?: MfaService;
  /** The name authenticator apps show for our codes. */
  mfaIssuer: string;
  sessions: SessionStore;
  pending: PendingStore;
  replay: ReplayCache;
  keys: KeyRing;
  registry: RelyingPartyRegistry;
  metadata: MetadataCache;
  saml: SamlIdp;
  wsfed: WsfedIdp;
  logger: Logger;
  audit: AuditLog;
  /** Extranet smart lockout and per-address throttling around the password check. */
  lockout: LockoutGuard;
  clock: Clock;
  /** Secret for CSRF tokens (shared by every node of a farm). */
  csrfSecret: string;
  /** Set once SIGTERM came: the probes answer 503 from then on (server.shutdownDelayMs). */
  shutdown: ShutdownState;
}

export interface ShutdownState {
  readonly shuttingDown: boolean;
}
