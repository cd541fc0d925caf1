/**
 * How an administrator registers a relying party (a SAML 2.0 service provider). Part of the one
 * configuration schema (config/schema.ts includes it as `relyingParties`).
 */
import { z } from 'zod';
import { accessPolicyName } from '../policy/schema.js';

const httpsOrHttpUrl = z.string().refine(
  (v) => {
    try {
      return ['https:', 'http:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { message: 'expected an http:// or https:// URL' },
);

/** A certificate: inline PEM, or a path to a PEM file. */
const certificate = z
  .string()
  .min(1)
  .describe('PEM text of the certificate, or the path of a PEM file.');

export const ACS_BINDINGS = ['post', 'redirect'] as const;
export const NAME_ID_FORMATS = ['persistent', 'emailAddress', 'unspecified', 'transient'] as const;

/**
 * Where a claim value comes from. Named sources read the principal; `attribute:<name>` reads an AD
 * attribute listed in directory.ldap.extraAttributes.
 */
export const claimSource = z
  .union([
    z.enum(['immutableId', 'objectGuid', 'consistencyGuid', 'upn', 'mail', 'sAMAccountName', 'downLevelName', 'displayName', 'givenName', 'sn', 'groups', 'groupSids']),
    z.string().regex(/^attribute:[A-Za-z][A-Za-z0-9-]*$/, 'expected a source name or attribute:<AD attribute>'),
  ])
  .describe(
    'immutableId (ms-DS-ConsistencyGuid, else objectGUID, base64), objectGuid, consistencyGuid, upn, mail, sAMAccountName, downLevelName ' +
      '(DOMAIN\\user), displayName, givenName, sn, groups (names), groupSids, or attribute:<AD attribute>.',
  );
export type ClaimSource = z.infer<typeof claimSource>;

const attributeSchema = z
  .object({
    name: z.string().min(1).describe('Attribute Name as the SP expects it (e.g. http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn).'),
    source: claimSource,
    nameFormat: z
      .enum(['uri', 'basic', 'unspecified'])
      .default('uri')
      .describe('NameFormat: urn:oasis:names:tc:SAML:2.0:attrname-format:uri, :basic or :unspecified.'),
    friendlyName: z.string().optional().describe('FriendlyName, when the SP wants one.'),
  })
  .strict();

export const samlRelyingPartySchema = z
  .object({
    entityId: z.string().min(1).max(1024).describe('The SP entityID: the Issuer of its AuthnRequests and the Audience of our assertions.'),
    name: z.string().optional().describe('Display name on the IdP-initiated sign-on page. Default: the entityID.'),
    metadata: z
      .object({
        url: z.url({ protocol: /^https?$/ }).optional().describe('Where the SP publishes its metadata (https).'),
        file: z.string().optional().describe('A local copy of the SP metadata.'),
        signingCertificate: certificate
          .optional()
          .describe('When set, the metadata must carry a valid signature by this certificate; otherwise it is refused.'),
        refreshMinutes: z.number().int().positive().default(60).describe('How often a metadata URL is fetched again.'),
      })
      .strict()
      .refine((m) => Boolean(m.url) !== Boolean(m.file), { message: 'expected exactly one of url or file' })
      .optional()
      .describe(
        'Import endpoints and certificates from SP metadata. Settings below add to or override what metadata says. ' +
          'A failed refresh keeps the last good copy.',
      ),
    assertionConsumerServices: z
      .array(
        z
          .object({
            url: httpsOrHttpUrl.describe('ACS URL: where responses are POSTed.'),
            binding: z.enum(ACS_BINDINGS).default('post').describe('post (HTTP-POST) or redirect.'),
            index: z.number().int().nonnegative().optional().describe('AssertionConsumerServiceIndex.'),
            isDefault: z.boolean().default(false).describe('Used when a request names no ACS.'),
          })
          .strict(),
      )
      .default([])
      .describe('The only places a response for this SP is ever sent.'),
    singleLogoutServices: z
      .array(
        z
          .object({
            url: httpsOrHttpUrl.describe('Where LogoutRequests are sent.'),
            binding: z.enum(['redirect', 'post']).default('redirect'),
            responseUrl: httpsOrHttpUrl.optional().describe('Where LogoutResponses go, when not url.'),
          })
          .strict(),
      )
      .default([])
      .describe('SLO endpoints.'),
    signingCertificates: z
      .array(certificate)
      .default([])
      .describe('Certificates that verify the SP\'s signed requests. Keys embedded in messages are never trusted.'),
    encryptionCertificate: certificate
      .optional()
      .describe('When set (or in metadata) and encryptClaims is true, assertions are encrypted to it. Wins over the metadata\'s.'),
    encryptClaims: z
      .boolean()
      .default(true)
      .describe(
        'As AD FS\'s EncryptClaims: encrypt assertions when an encryption certificate is known (encryptionCertificate, or a metadata ' +
          'KeyDescriptor use="encryption" or without use). false: never encrypt, whatever the metadata says.',
      ),
    nameId: z
      .object({
        format: z.enum(NAME_ID_FORMATS).default('persistent').describe('NameID format sent when the request does not ask for one.'),
        source: claimSource.optional().describe('Default per format: persistent → immutableId, emailAddress → mail, unspecified → upn, transient → random.'),
      })
      .strict()
      .prefault({})
      .describe('The Subject NameID.'),
    attributes: z.array(attributeSchema).default([]).describe('Attributes released to this SP, and nothing else.'),
    signAssertion: z.boolean().default(true).describe('Sign the Assertion.'),
    signResponse: z.boolean().default(false).describe('Sign the Response (both may be on).'),
    // No default on purpose: absent means "as the SP's metadata says" (registry.ts resolves it), which
    // a schema default of false would make indistinguishable from an administrator's explicit false.
    requireSignedRequests: z
      .boolean()
      .optional()
      .describe(
        'Refuse AuthnRequests that are not signed by a signingCertificate. Default: what the SP metadata says ' +
          '(SPSSODescriptor AuthnRequestsSigned="true" → true), else false. true or false here overrides the metadata.',
      ),
    allowUnsignedLogout: z.boolean().default(false).describe('Accept unsigned LogoutRequests (AD FS refuses them).'),
    allowIdpInitiated: z.boolean().default(false).describe('List on the IdP-initiated sign-on page and accept unsolicited sign-on.'),
    assertionLifetimeMinutes: z.number().int().positive().max(1440).default(60).describe('Conditions NotOnOrAfter − NotBefore.'),
    signatureAlgorithm: z
      .enum(['sha256', 'sha1'])
      .default('sha256')
      .describe('RSA-SHA256 with SHA-256 digests; sha1 only for SPs that cannot do better.'),
    accessPolicy: accessPolicyName.optional(),
  })
  .strict()
  // An unsigned token is a token anyone can write: at least one signature, always.
  .refine((rp) => rp.signAssertion || rp.signResponse, { message: 'expected signAssertion or signResponse (or both) to be true' });

export type SamlRelyingPartyConfig = z.infer<typeof samlRelyingPartySchema>;

/** A WS-Federation passive relying party (wtrealm). Microsoft 365 is built in: see config `microsoft365`. */
export const wsfedRelyingPartySchema = z
  .object({
    realm: z.string().min(1).max(1024).describe('The wtrealm the RP sends: the Audience of its tokens.'),
    name: z.string().optional().describe('Display name. Default: the realm.'),
    replyUrls: z
      .array(httpsOrHttpUrl)
      .min(1)
      .describe('Where tokens may be POSTed. A request\'s wreply must be one of these; without wreply, the first is used.'),
    tokenType: z.enum(['saml11', 'saml2']).default('saml11').describe('SAML 1.1 (as AD FS issues for WS-Fed) or SAML 2.0 assertions in the RSTR.'),
    nameIdentifier: z
      .object({
        source: claimSource.default('upn').describe('Value of the NameIdentifier / NameID.'),
        format: z
          .string()
          .default('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified')
          .describe('Its Format URI.'),
      })
      .strict()
      .prefault({}),
    claims: z
      .array(
        z
          .object({
            type: z.string().min(1).describe('Claim type URI, e.g. http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn.'),
            source: claimSource,
          })
          .strict(),
      )
      .default([])
      .describe('Claims released to this RP, and nothing else.'),
    tokenLifetimeMinutes: z.number().int().positive().max(1440).default(60).describe('Assertion lifetime (AD FS: 1 hour).'),
    signatureAlgorithm: z.enum(['sha256', 'sha1']).default('sha256').describe('RSA-SHA256; sha1 only for RPs that need it.'),
    accessPolicy: accessPolicyName.optional(),
  })
  .strict();

export type WsfedRelyingPartyConfig = z.infer<typeof wsfedRelyingPartySchema>;
