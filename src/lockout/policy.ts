/**
 * Extranet Smart Lockout (AD FS ESL) as pure functions of (state, address, time, settings): no I/O,
 * so every rule is unit-tested with a hand-moved clock. The guard (guard.ts) applies them to a
 * store; the stores (lockout/redis-store.ts) only keep the state atomically.
 *
 * Rules (federation reference §2.5):
 * - Per user, separate bad-password counters for familiar and unknown addresses. A familiar address
 *   is one this user signed in from successfully within familiarLocationDays.
 * - A counter at or over the threshold blocks attempts from that kind of address until the
 *   observation window has passed since the last counted bad password; then ONE attempt goes
 *   through ("a locked user may try once per observation window"). The counters do not decay with
 *   time: only a successful sign-in or an admin reset clears them, as in AD FS.
 * - Attempts are counted BEFORE the password is checked (a reservation) and refunded afterwards
 *   unless AD answered "bad password". Counting afterwards would let a burst of parallel requests
 *   all pass the check and lock the AD account anyway.
 */

import ipaddr from 'ipaddr.js';

export type LockoutMode = 'off' | 'logOnly' | 'enforce';

export interface LockoutSettings {
  mode: LockoutMode;
  threshold: number;
  observationWindowMs: number;
  familiarLocationMs: number;
}

export interface FamiliarIp {
  ip: string;
  /** Epoch ms of the last successful sign-in from there. */
  lastSuccessAt: number;
}

export interface LockoutState {
  unknownBadCount: number;
  familiarBadCount: number;
  /** Epoch ms of the last counted bad password (or reservation); 0 = none. */
  lastBadAt: number;
  familiarIps: FamiliarIp[];
}

/** Most familiar addresses kept per user; past it the least recently used goes. */
export const MAX_FAMILIAR_IPS = 20;

export const EMPTY_STATE: LockoutState = Object.freeze({
  unknownBadCount: 0,
  familiarBadCount: 0,
  lastBadAt: 0,
  familiarIps: [],
}) as LockoutState;

/** How long a user's record lives in a store after its last change: long enough to remember familiar addresses. */
export function stateTtlMs(s: LockoutSettings): number {
  return Math.max(s.observationWindowMs, s.familiarLocationMs);
}

export function isFamiliar(state: LockoutState, ip: string, now: number, s: LockoutSettings): boolean {
  return state.familiarIps.some((f) => f.ip === ip && now - f.lastSuccessAt < s.familiarLocationMs);
}

export interface Decision {
  familiar: boolean;
  /** The counter for this kind of address is at the threshold and the window has not passed. */
  locked: boolean;
  /** locked, and the mode enforces: the directory must not be asked. */
  refuse: boolean;
}

export function decide(state: LockoutState, ip: string, now: number, s: LockoutSettings): Decision {
  const familiar = isFamiliar(state, ip, now, s);
  const count = familiar ? state.familiarBadCount : state.unknownBadCount;
  const locked = s.mode !== 'off' && count >= s.threshold && now - state.lastBadAt < s.observationWindowMs;
  return { familiar, locked, refuse: locked && s.mode === 'enforce' };
}

/** What a reservation changed, so it can be refunded exactly. */
export interface Reservation {
  familiar: boolean;
  at: number;
  previousLastBadAt: number;
}

/** Counts the attempt in advance (see the header). */
export function reserve(state: LockoutState, familiar: boolean, now: number): { state: LockoutState; reservation: Reservation } {
  return {
    state: {
      ...state,
      unknownBadCount: state.unknownBadCount + (familiar ? 0 : 1),
      familiarBadCount: state.familiarBadCount + (familiar ? 1 : 0),
      lastBadAt: now,
    },
    reservation: { familiar, at: now, previousLastBadAt: state.lastBadAt },
  };
}

/** Undoes a reservation whose attempt turned out not to be a bad password (disabled, expired, DC down...). */
export function refund(state: LockoutState, r: Reservation): LockoutState {
  return {
    ...state,
    unknownBadCount: Math.max(0, state.unknownBadCount - (r.familiar ? 0 : 1)),
    familiarBadCount: Math.max(0, state.familiarBadCount - (r.familiar ? 1 : 0)),
    // Only if nothing counted since: a later real bad password keeps its time.
    lastBadAt: state.lastBadAt === r.at ? r.previousLastBadAt : state.lastBadAt,
  };
}

/** A successful sign-in clears both counters (as AD FS does) and makes the address familiar. */
export function recordSuccess(state: LockoutState, ip: string, now: number, s: LockoutSettings): LockoutState {
  const others = state.familiarIps.filter((f) => f.ip !== ip && now - f.lastSuccessAt < s.familiarLocationMs);
  const familiarIps = [{ ip, lastSuccessAt: now }, ...others.sort((a, b) => b.lastSuccessAt - a.lastSuccessAt)].slice(0, MAX_FAMILIAR_IPS);
  return { unknownBadCount: 0, familiarBadCount: 0, lastBadAt: 0, familiarIps };
}

/** Familiar addresses still inside familiarLocationDays (for display). */
export function liveFamiliarIps(state: LockoutState, now: number, s: LockoutSettings): FamiliarIp[] {
  return state.familiarIps.filter((f) => now - f.lastSuccessAt < s.familiarLocationMs);
}

/** The key a user's state is kept under: the UPN when the directory knows the name, else the typed name. */
export function userKey(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

/**
 * What the per-address throttle counts by: an IPv4 address (also when it arrives IPv4-mapped, as
 * ::ffff:a.b.c.d), or the /64 an IPv6 address is in. A subscriber or host is given a whole /64
 * (RFC 6177) and picks new addresses in it at will (privacy addresses, RFC 8981), so counting full
 * IPv6 addresses would let one client spray passwords from 2^64 of them. Anything unparsable
 * (an empty address) is counted as it is.
 */
export function addressBlockOf(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const prefix = (address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${prefix.join(':')}::/64`;
}
