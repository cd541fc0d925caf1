/**
 * Server-side SSO state. The web layer and protocols see these interfaces; memory.ts and redis-store.ts
 * implement them. A store that cannot reach its backend throws errors.ts's StoreUnavailableError (503).
 */
import type { Principal } from '../directory/types.js';

export type AuthMethod = 'password' | 'windows' | 'certificate';

export interface SessionRecord {
  principal: Principal;
  /** Epoch ms of the password (or other) authentication. */
  authnInstant: number;
  authnMethod: AuthMethod;
  /** Client address at sign-in, after the trusted-proxy rules. */
  clientIp: string;
  /** "Keep me signed in" was chosen (psso claim, longer lifetime). */
  persistent: boolean;
  /** Epoch ms of the second factor (TOTP) completed in this session, when there was one. */
  mfaInstant?: number;
  /** Relying parties this session received tokens for (entityID / realm), for logout. */
  relyingParties: string[];
  /** Epoch ms after which the session is gone. */
  expiresAt: number;
}

export interface SessionStore {
  readonly kind: 'memory' | 'redis';
  /** Stores a new record under a fresh random id and returns the id. */
  create(record: SessionRecord): Promise<string>;
  /** undefined when unknown or expired. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Adds a relying party to the session's list (idempotent). */
  addRelyingParty(id: string, rp: string): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Ends every session of one user (admin revoke); returns how many. */
  destroyForUser(userPrincipalName: string): Promise<number>;
  health(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

/**
 * Short-lived records keyed by random id: the protocol request a sign-in is to resume, replay
 * caches later. Values are JSON-serialisable.
 */
export interface PendingStore {
  put(value: PendingRequest, ttlMs: number): Promise<string>;
  /** Returns and deletes (one use only). */
  take(id: string): Promise<PendingRequest | undefined>;
}

/** What to resume after sign-in. `path` is built by our own code and is always a local path. */
export interface PendingRequest {
  path: string;
  /** Protocol-specific state the resumed handler needs (e.g. the parsed AuthnRequest). */
  state?: Record<string, unknown>;
  /** Sign in again even when a session exists (ForceAuthn, wfresh=0). */
  forceAuthn?: boolean;
  /** Username hint to pre-fill (WS-Fed username=, SAML Subject). */
  loginHint?: string;
}

/**
 * Remembers message ids (SAML request IDs) for a while, so a captured request cannot be played
 * again. Shared by every node through Redis, like sessions.
 */
export interface ReplayCache {
  /** true the first time `key` is seen within `ttlMs`; false when it was seen before (a replay). */
  firstUse(key: string, ttlMs: number): Promise<boolean>;
}
