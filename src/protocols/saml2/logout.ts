/**
 * SAML 2.0 single logout, front channel, as a pure state machine (SAML profiles §4.4.3.2): the
 * browser visits each SP that holds a piece of the SSO session in turn (a signed LogoutRequest out,
 * its LogoutResponse back), then the SP that started it gets its LogoutResponse, with PartialLogout
 * when some SP did not confirm.
 *
 * No store, no HTTP: the web layer keeps a chain in the pending store between hops and asks this
 * module what comes next. A chain read back from the store is checked by `logoutChainSchema`.
 */
import { z } from 'zod';
import type { LogoutInitiator, LogoutParticipant } from './idp.js';

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

const logoutParticipantSchema = z.object({
  rpEntityId: z.string(),
  nameId: z.object({ format: z.string(), value: z.string() }),
  sessionIndex: z.string(),
}) satisfies z.ZodType<LogoutParticipant>;

const logoutInitiatorSchema = z.object({
  rpEntityId: z.string(),
  requestId: z.string(),
  relayState: z.string().optional(),
}) satisfies z.ZodType<LogoutInitiator>;

/** What became of one relying party of the session, for the signed-out page. */
export const LOGOUT_RESULTS = ['signed-out', 'not-confirmed', 'not-asked', 'cleanup', 'no-logout'] as const;
const logoutResultSchema = z.object({ rp: z.string(), result: z.enum(LOGOUT_RESULTS) });
export type ParticipantResult = z.infer<typeof logoutResultSchema>;

export const logoutChainSchema = z.object({
  /** The SP whose LogoutRequest started it: answered last. Absent when logout started here. */
  initiator: logoutInitiatorSchema.optional(),
  /** SPs still to be told, in order. */
  remaining: z.array(logoutParticipantSchema),
  /** The SP whose LogoutResponse we wait for. */
  awaiting: z.string().optional(),
  /** Some SP did not confirm (or could not be asked). */
  partial: z.boolean(),
  /** The request named a session other than this browser's: nothing was ended. */
  unknownPrincipal: z.boolean(),
  /** WS-Fed RPs of the session: wsignoutcleanup1.0 URLs loaded by the last page. */
  wsfedCleanup: z.array(z.string()),
  /** A registered wreply to offer once everything is signed out (wsignout1.0). */
  returnTo: z.string().optional(),
  /**
   * Each relying party's outcome so far: SAML SPs as they answer, WS-Fed RPs (cleanup images) and
   * SPs with no SLO endpoint from the start. Optional: chains parked before it existed read back.
   */
  results: z.array(logoutResultSchema).optional(),
});
export type LogoutChain = z.infer<typeof logoutChainSchema>;

export type LogoutResult = 'success' | 'partial' | 'unknown-principal';

/** What the web layer does next. */
export type LogoutStep =
  /** Send `participant` a LogoutRequest; park `waiting` until its answer comes back. */
  | { kind: 'ask'; participant: LogoutParticipant; waiting: LogoutChain }
  /** Everyone was told: answer the initiator (if any) with `result`, show the signed-out page otherwise. */
  | { kind: 'done'; result: LogoutResult; chain: LogoutChain };

/** A logout that ends this browser's session: every other SP of it is to be told. */
export function beginLogout(start: {
  initiator?: LogoutInitiator;
  participants: readonly LogoutParticipant[];
  wsfedCleanup: readonly string[];
  returnTo?: string;
  /** Relying parties that are not asked in turn (WS-Fed cleanup, no SLO endpoint), with what they get. */
  others?: readonly ParticipantResult[];
}): LogoutChain {
  return {
    initiator: start.initiator,
    remaining: [...start.participants],
    partial: false,
    unknownPrincipal: false,
    wsfedCleanup: [...start.wsfedCleanup],
    returnTo: start.returnTo,
    results: [...(start.others ?? [])],
  };
}

function withResult(chain: LogoutChain, rp: string | undefined, result: ParticipantResult['result']): LogoutChain {
  return rp === undefined ? chain : { ...chain, results: [...(chain.results ?? []), { rp, result }] };
}

/** A LogoutRequest for a session that is not this browser's: nothing ends, the SP is told so. */
export function refuseLogout(initiator: LogoutInitiator): LogoutChain {
  return { initiator, remaining: [], partial: false, unknownPrincipal: true, wsfedCleanup: [] };
}

export function nextStep(waiting: LogoutChain): LogoutStep {
  // An SP still awaited whose answer never came counts as one that did not confirm.
  const chain = waiting.awaiting === undefined ? waiting : { ...withResult(waiting, waiting.awaiting, 'not-confirmed'), awaiting: undefined, partial: true };
  const [participant, ...rest] = chain.remaining;
  if (!participant) {
    const done = { ...chain, remaining: [] };
    return { kind: 'done', result: done.unknownPrincipal ? 'unknown-principal' : done.partial ? 'partial' : 'success', chain: done };
  }
  return { kind: 'ask', participant, waiting: { ...chain, remaining: rest, awaiting: participant.rpEntityId } };
}

/** The SP we were about to ask cannot be asked (it lost its SLO endpoint meanwhile): logout is partial. */
export function couldNotAsk(waiting: LogoutChain): LogoutChain {
  return { ...withResult(waiting, waiting.awaiting, 'not-asked'), awaiting: undefined, partial: true };
}

/**
 * A LogoutResponse came back. Only the SP we wait for, answering Success, confirms; anything else —
 * another SP, an error status — leaves the logout partial, but never stops it.
 */
export function answered(waiting: LogoutChain, from: string, statusCode: string): { chain: LogoutChain; confirmed: boolean } {
  const confirmed = waiting.awaiting === from && statusCode === SUCCESS;
  const noted = withResult(waiting, waiting.awaiting, confirmed ? 'signed-out' : 'not-confirmed');
  return { chain: { ...noted, awaiting: undefined, partial: waiting.partial || !confirmed }, confirmed };
}
