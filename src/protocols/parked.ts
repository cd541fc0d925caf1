/**
 * What waits in the pending store while a user signs in or while single logout visits the SPs: a
 * trusted SAML AuthnRequest, a trusted WS-Fed sign-in request, or a logout chain. The store is
 * shared (Redis) and outlives releases, so what comes back is read through this schema, never
 * trusted by a cast: a record of another shape is no such pending request.
 */
import { z } from 'zod';
import type { AuthnRequest } from './saml2/requests.js';
import type { TrustedAuthnRequest } from './saml2/idp.js';
import { logoutChainSchema } from './saml2/logout.js';
import type { TrustedSignIn } from './wsfed/idp.js';

const authnRequestSchema = z.object({
  kind: z.literal('AuthnRequest'),
  id: z.string(),
  issuer: z.string(),
  issueInstant: z.number(),
  destination: z.string().optional(),
  acsUrl: z.string().optional(),
  acsIndex: z.number().int().optional(),
  protocolBinding: z.string().optional(),
  forceAuthn: z.boolean(),
  isPassive: z.boolean(),
  nameIdPolicy: z.object({ format: z.string().optional(), allowCreate: z.boolean().optional() }).optional(),
  requestedAuthnContext: z.object({ comparison: z.enum(['exact', 'minimum', 'maximum', 'better']), classRefs: z.array(z.string()) }).optional(),
  subject: z.object({ nameId: z.string(), format: z.string().optional() }).optional(),
  loginHint: z.string().optional(),
});

const trustedAuthnRequestSchema = z.object({
  rpEntityId: z.string(),
  acsUrl: z.string(),
  request: authnRequestSchema.optional(),
  relayState: z.string().optional(),
  receivedAt: z.number(),
});

const trustedSignInSchema = z.object({
  realm: z.string(),
  replyUrl: z.string(),
  wctx: z.string().optional(),
  wfresh: z.number().int().nonnegative().optional(),
  wauth: z.string().optional(),
  loginHint: z.string().optional(),
  receivedAt: z.number(),
});

/**
 * A field added to a protocol type must be added here too, or it would be dropped silently while the
 * request waits: these fail to compile when a schema and its type part ways.
 */
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false;
const sameShapes: [
  Same<z.infer<typeof authnRequestSchema>, AuthnRequest>,
  Same<z.infer<typeof trustedAuthnRequestSchema>, TrustedAuthnRequest>,
  Same<z.infer<typeof trustedSignInSchema>, TrustedSignIn>,
] = [true, true, true];
void sameShapes;

/** A digest of the browser's flow cookie: the parked request belongs to that browser only. */
const flow = z.string().min(1);

const parkedSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('saml2'), flow, request: trustedAuthnRequestSchema }),
  z.object({ kind: z.literal('wsfed'), flow, request: trustedSignInSchema }),
  z.object({ kind: z.literal('slo'), chain: logoutChainSchema }),
]);
export type Parked = z.infer<typeof parkedSchema>;

/** The parked state, or undefined when what the store returned is not one (expired format, tampering). */
export function readParked(state: unknown): Parked | undefined {
  const parsed = parkedSchema.safeParse(state);
  return parsed.success ? parsed.data : undefined;
}
