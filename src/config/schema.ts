/**
 * THE configuration of OpenFed. Every key carries its description and default here; the
 * reference in README.md is generated from this file (`npm run docs:config`), so the two cannot drift.
 */
import { z } from 'zod';
import { policyNamed } from '../policy/access.js';
import { accessPolicyName, accessPolicySchema } from '../policy/schema.js';
import { samlRelyingPartySchema, wsfedRelyingPartySchema } from '../relying-parties/schema.js';

const url = (schemes: readonly string[]) =>
  z.string().refine(
    (v) => {
      try {
        return schemes.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${schemes.map((s) => s + '//').join(' or ')}` },
  );

const durationMinutes = (def: number, what: string) =>
  z.number().int().positive().max(525_600).default(def).describe(what);

const ldapSchema = z
  .object({
    urls: z
      .array(url(['ldap:', 'ldaps:']))
      .min(1)
      .describe(
        'Domain controllers, tried in order: when one refuses, times out or is down, the next is used. ' +
          'ldaps://dc1.contoso.com:636, or ldap:// together with startTls.',
      ),
    startTls: z
      .boolean()
      .default(false)
      .describe('Upgrade ldap:// connections with StartTLS before any bind. Ignored for ldaps:// URLs.'),
    caFile: z
      .string()
      .optional()
      .describe('PEM bundle of the CA(s) that issued the DC certificates. Default: the system trust store.'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Verify the DC certificate and host name. Turn off only in a lab.'),
    connectTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(3000)
      .describe('How long to wait for a TCP/TLS connection to a DC before trying the next one.'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(5000)
      .describe('How long one LDAP operation (bind, search) may take before the DC is treated as down.'),
    maxConcurrentBinds: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('Most password checks (user binds) in flight at once per node; more wait their turn, so a burst cannot swamp the DCs.'),
    baseDn: z.string().min(1).describe('Where users and groups are searched, e.g. DC=contoso,DC=com.'),
    bindDn: z
      .string()
      .min(1)
      .describe('Service account that looks users up: a DN or a UPN (svc-openfed@contoso.com).'),
    bindPassword: z
      .string()
      .min(1)
      .describe('Service account password. Prefer the OPENFED_LDAP_BIND_PASSWORD environment variable.'),
    netbiosDomain: z
      .string()
      .optional()
      .describe('NetBIOS name accepted in DOMAIN\\user. Default: read from the domain (CN=Partitions).'),
    alternateLoginAttribute: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'expected an LDAP attribute name')
      .optional()
      .describe('Also accept this attribute as a login name (AD FS AlternateLoginID), e.g. mail.'),
    groupLookup: z
      .enum(['tokenGroups', 'inChain'])
      .default('tokenGroups')
      .describe(
        'How transitive groups are read: tokenGroups (what Windows puts in a logon token: security groups, ' +
          'fast) or inChain (LDAP_MATCHING_RULE_IN_CHAIN: also distribution groups, slower on big domains).',
      ),
    extraAttributes: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'expected an LDAP attribute name'))
      .default([])
      .describe('Further AD attributes to read into the principal for claims (e.g. department).'),
  })
  .strict()
  .describe('Active Directory over LDAP. When absent, the demo directory is used.');

const demoSchema = z
  .object({
    usersFile: z
      .string()
      .optional()
      .describe(
        'YAML file of demo users with scrypt password hashes. Default: <dataDir>/demo-users.yaml, ' +
          'created on first start with the user demo@openfed.test / OpenFed-Demo-1.',
      ),
  })
  .prefault({})
  .describe('The demo directory, used when directory.ldap is absent. Never for production.');

const redisNode = (defaultPort: number, what: string) =>
  z
    .object({
      host: z.string().min(1).describe('Host name or address.'),
      port: z.number().int().min(1).max(65535).default(defaultPort).describe('Port.'),
    })
    .strict()
    .describe(what);

/** The keys that each select a deployment mode; exactly one must be given. */
const REDIS_MODES = ['url', 'sentinels', 'cluster'] as const;

const redisSchema = z
  .object({
    url: url(['redis:', 'rediss:'])
      .optional()
      .describe(
        'Standalone Redis: redis://[[user]:password@]host:port/db, or rediss:// for TLS. Prefer OPENFED_REDIS_URL ' +
          '(it can hold the password). Exactly one of url, sentinels or cluster.',
      ),
    sentinels: z
      .array(redisNode(26379, 'A sentinel.'))
      .min(1)
      .optional()
      .describe(
        'Redis Sentinel: the sentinels that know where the master of `name` is; after a failover the new master ' +
          'is found by itself. Each { host, port (default 26379) }.',
      ),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Sentinel: the master group name (as in `sentinel monitor <name> ...`). Required with sentinels.'),
    cluster: z
      .array(redisNode(6379, 'A cluster node.'))
      .min(1)
      .optional()
      .describe('Redis Cluster: seed nodes { host, port (default 6379) }; the others are discovered from them.'),
    username: z
      .string()
      .min(1)
      .optional()
      .describe('ACL user of the Redis data nodes (standalone: used when the url names none). Default: the default user.'),
    password: z
      .string()
      .min(1)
      .optional()
      .describe('Password of the Redis data nodes (standalone: used when the url carries none). Prefer OPENFED_REDIS_PASSWORD.'),
    sentinelPassword: z
      .string()
      .min(1)
      .optional()
      .describe('Password of the sentinels themselves, when they require one. Prefer OPENFED_REDIS_SENTINEL_PASSWORD.'),
    tls: z
      .object({
        caFile: z
          .string()
          .optional()
          .describe('PEM bundle of the CA(s) that issued the Redis certificates. Default: the system trust store.'),
        rejectUnauthorized: z
          .boolean()
          .default(true)
          .describe('Verify the Redis certificate and host name. Turn off only in a lab.'),
      })
      .strict()
      .optional()
      .describe(
        'Connect with TLS: to the sentinels and the master in Sentinel mode, to every node in Cluster mode. ' +
          'Standalone: needs a rediss:// url, which this section then tunes.',
      ),
    keyPrefix: z
      .string()
      .regex(/^[^{}]*$/, 'must not contain { or }: OpenFed adds its own hash tags after the prefix, so that keys used together share a Redis Cluster slot')
      .default('openfed:')
      .describe('Prefix of every key OpenFed writes, so that several installations can share one Redis.'),
    connectTimeoutMs: z.number().int().positive().default(2000).describe('Connection timeout.'),
    commandTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(2000)
      .describe('A command that takes longer fails, and the page answers 503 instead of hanging.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = REDIS_MODES.filter((mode) => r[mode] !== undefined);
    if (given.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected one of url (standalone), sentinels (with name) or cluster', path: [] });
    }
    for (const extra of given.slice(1)) {
      ctx.addIssue({ code: 'custom', message: `cannot be combined with ${given[0]}: choose one of url, sentinels or cluster`, path: [extra] });
    }
    if (r.sentinels && r.name === undefined) {
      ctx.addIssue({ code: 'custom', message: 'required with sentinels: the master group name', path: ['name'] });
    }
    if (!r.sentinels && r.name !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected only together with sentinels', path: ['name'] });
    }
    if (!r.sentinels && r.sentinelPassword !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected only together with sentinels', path: ['sentinelPassword'] });
    }
    if (r.url !== undefined && r.tls && new URL(r.url).protocol !== 'rediss:') {
      ctx.addIssue({ code: 'custom', message: 'expected a rediss:// url together with sessions.redis.tls', path: ['url'] });
    }
  })
  .describe(
    'Redis for SSO sessions, request replay caches and lockout counters, shared by every OpenFed node: standalone (url), ' +
      'Sentinel (sentinels + name) or Cluster (cluster). When absent, sessions live in memory (one node only).',
  );

const signingKeySchema = z
  .union([
    z
      .object({
        keyFile: z.string().describe('PEM private key (PKCS#8 or PKCS#1).'),
        certFile: z.string().describe('PEM certificate of that key.'),
      })
      .strict(),
    z
      .object({
        pkcs12File: z.string().describe('PKCS#12 (.pfx) file holding key and certificate.'),
        pkcs12Password: z
          .string()
          .default('')
          .describe('Its password. Prefer the OPENFED_SIGNING_PKCS12_PASSWORD environment variable.'),
      })
      .strict(),
  ], { error: 'expected keyFile and certFile, or pkcs12File with pkcs12Password' })
  .describe(
    'Token-signing key and certificate, fixed: it signs until you change the configuration. When absent, OpenFed ' +
      'keeps a managed key set (a self-signed RSA-2048 certificate valid one year, made on first start; see keys.autoRollover), ' +
      'in Redis when sessions.redis is set, else in <dataDir>/keys.',
  );

/**
 * The accent colour is a hex colour so that its contrast can be checked here: white button text on
 * it must reach WCAG AA's 4.5:1, or the configuration is refused at start rather than the page failing
 * its users.
 */
const HEX_COLOUR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

export function contrastWithWhite(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d).join('') : hex.slice(1);
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(digits.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  return 1.05 / (luminance + 0.05);
}

const accentColour = z
  .string()
  .regex(HEX_COLOUR, 'expected a CSS hex colour, #rgb or #rrggbb')
  .check((ctx) => {
    const contrast = HEX_COLOUR.test(ctx.value) ? contrastWithWhite(ctx.value) : 21;
    if (contrast < 4.5) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: `white text on ${ctx.value} has a contrast of ${contrast.toFixed(2)}:1; WCAG AA needs 4.5:1: choose a darker colour`,
      });
    }
  });

const brandingSchema = z
  .object({
    organisationName: z
      .string()
      .min(1)
      .max(80)
      .optional()
      .describe('Your organisation\'s name, shown above every page and in the window title. Default: a neutral "Sign-in service" (translated).'),
    logoFile: z
      .string()
      .regex(/\.(png|svg|jpe?g|webp|gif)$/i, 'expected a .png, .svg, .jpg, .webp or .gif file')
      .optional()
      .describe('Logo image file, served with the pages\' assets and shown above them (about 40 px high). Read once at start.'),
    accentColour: accentColour
      .default('#1d4ed8')
      .describe('Colour of buttons and links, #rgb or #rrggbb; white text on it must reach 4.5:1 contrast (WCAG AA), else the configuration is refused.'),
    helpDeskUrl: url(['https:']).optional().describe('Help-desk page (https), linked at the foot of every page and on error pages.'),
    privacyUrl: url(['https:']).optional().describe('Privacy statement (https), linked at the foot of every page.'),
    signInText: z
      .union([z.string().min(1).max(500), z.partialRecord(z.enum(['en', 'de', 'fr']), z.string().min(1).max(500))])
      .optional()
      .describe(
        'A short text under the sign-in heading (plain text, e.g. who may use this service): one text for every language, ' +
          'or one per language { en, de, fr } (a language without its own gets the English one, if any).',
      ),
  })
  .strict()
  .prefault({})
  .describe('What the pages look like: your name, logo, colour and links. Every page follows the system\'s dark mode.');

export const configSchema = z
  .object({
    server: z
      .object({
        baseUrl: url(['http:', 'https:'])
          .default('http://localhost:8080')
          .describe('Public URL users and relying parties reach, e.g. https://sts.contoso.com.'),
        identifier: z
          .string()
          .min(1)
          .optional()
          .describe('Federation Service identifier (entityID / issuer). Default: http://<host of baseUrl>/adfs/services/trust, as AD FS.'),
        host: z.string().default('0.0.0.0').describe('Address to listen on.'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Port to listen on.'),
        tls: z
          .object({
            keyFile: z.string().describe('PEM private key of the HTTPS certificate.'),
            certFile: z.string().describe('PEM certificate chain.'),
          })
          .optional()
          .describe('Serve HTTPS directly. When absent, HTTPS is terminated by a proxy in front.'),
        trustedProxies: z
          .array(z.string())
          .default([])
          .describe(
            'Addresses or CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed. Empty: none, ' +
              'the socket address is the client.',
          ),
        shutdownGraceMs: z
          .number()
          .int()
          .nonnegative()
          .default(10_000)
          .describe('On SIGTERM, how long in-flight requests may take before connections are closed.'),
        shutdownDelayMs: z
          .number()
          .int()
          .nonnegative()
          .max(120_000)
          .default(0)
          .describe(
            'On SIGTERM, how long to go on serving, with /adfs/probe, /healthz and /readyz answering 503, before the ' +
              'listener closes: time for a load balancer that probes them to stop sending new connections, so that none ' +
              'is refused or reset. Its probe interval times its failure count; 0 closes at once.',
          ),
        workers: z
          .union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'expected "auto" or a whole number from 1 to 256' })
          .default('auto')
          .describe(
            'Processes serving the port (Node cluster): "auto" = one per CPU core (os.availableParallelism()), ' +
              'or a number; 1 = a single process, no cluster. A worker that dies is restarted. More than one needs ' +
              'sessions.redis (workers share sessions only through it): without Redis, "auto" runs one process.',
          ),
      })
      .strict()
      .prefault({})
      .describe('HTTP listener and public identity.'),
    dataDir: z
      .string()
      .default('./data')
      .describe(
        'Where generated state lives: the self-signed key, the demo users file, generated secrets, the audit log. ' +
          'OPENFED_DATA_DIR takes precedence (logged at start when the two differ).',
      ),
    directory: z
      .object({
        ldap: ldapSchema.optional(),
        demo: demoSchema,
      })
      .strict()
      .prefault({})
      .describe('Where users are authenticated.'),
    sessions: z
      .object({
        redis: redisSchema.optional(),
        lifetimeMinutes: durationMinutes(480, 'SSO session lifetime (AD FS default: 8 hours).'),
        cookieName: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, _ or -')
          .default('openfed_sso')
          .describe('Name of the SSO cookie.'),
        pendingRequestMinutes: durationMinutes(
          15,
          'How long a protocol request waits for the user to finish signing in.',
        ),
        keepMeSignedIn: z
          .object({
            enabled: z.boolean().default(false).describe('Offer "Keep me signed in" on the sign-in form (AD FS EnableKmsi; off by default).'),
            lifetimeMinutes: durationMinutes(1440, 'Lifetime of such a session, in a persistent cookie (AD FS KmsiLifetimeMins: 24 hours; at most 7 days there).'),
          })
          .strict()
          .prefault({})
          .describe('Persistent sign-in; Microsoft 365 tokens then carry the psso claim.'),
      })
      .strict()
      .prefault({})
      .describe('Single sign-on sessions.'),
    keys: z
      .object({
        signing: signingKeySchema.optional(),
        next: signingKeySchema
          .optional()
          .describe(
            'With keys.signing only: a secondary certificate (same forms as keys.signing) published in metadata next to ' +
              'the primary and never used to sign, so relying parties trust it before you make it keys.signing.',
          ),
        autoRollover: z
          .boolean()
          .default(true)
          .describe(
            'When keys.signing is absent: OpenFed makes its own self-signed certificates and rolls them over (AD FS ' +
              'AutoCertificateRollover). false: the certificates are managed with `openfed keys add|promote|remove`.',
          ),
        generationThresholdDays: z
          .number()
          .int()
          .positive()
          .max(365)
          .default(20)
          .describe('Automatic rollover: the next certificate is made this many days before the primary expires (AD FS CertificateGenerationThreshold).'),
        promotionThresholdDays: z
          .number()
          .int()
          .nonnegative()
          .max(365)
          .default(5)
          .describe(
            'Automatic rollover: the next certificate becomes the primary this many days after it was made (AD FS ' +
              'CertificatePromotionThreshold); must be smaller than generationThresholdDays.',
          ),
        refreshSeconds: z
          .number()
          .int()
          .positive()
          .max(3600)
          .default(30)
          .describe('How often each node checks whether the shared key set changed (a rollover or an `openfed keys` command).'),
        encryptionSecret: z
          .string()
          .min(32, 'expected at least 32 characters')
          .optional()
          .describe(
            'Secret the private keys of the managed key set are encrypted with (AES-256-GCM, key from HKDF); the same on ' +
              'every node. Required when sessions.redis is set and keys.signing is not. Prefer OPENFED_KEY_ENCRYPTION_SECRET. ' +
              'Default: none (keys in <dataDir>/keys, readable by the owner only).',
          ),
      })
      .strict()
      .refine((k) => k.next === undefined || k.signing !== undefined, { message: 'expected only together with keys.signing', path: ['next'] })
      .refine((k) => k.promotionThresholdDays < k.generationThresholdDays, {
        message: 'expected fewer days than keys.generationThresholdDays (the primary would expire before the next one is promoted)',
        path: ['promotionThresholdDays'],
      })
      .prefault({})
      .describe('Token-signing keys: a configured key (keys.signing), or a managed key set with rollover, shared by every node.'),
    web: z
      .object({
        csrfSecret: z
          .string()
          .min(32, 'expected at least 32 characters')
          .optional()
          .describe(
            'Secret for CSRF tokens; every node of a farm needs the same. Prefer OPENFED_CSRF_SECRET. ' +
              'Default: generated into <dataDir>/csrf-secret on first start.',
          ),
        maxUsernameLength: z.number().int().positive().default(256).describe('Longest username accepted.'),
        maxPasswordLength: z.number().int().positive().default(256).describe('Longest password accepted.'),
      })
      .strict()
      .prefault({})
      .describe('Sign-in pages.'),
    branding: brandingSchema,
    saml: z
      .object({
        requestMaxAgeMinutes: z
          .number()
          .int()
          .positive()
          .max(60)
          .default(5)
          .describe('Requests whose IssueInstant is further from now are refused (AD FS SamlMessageDeliveryWindow); replayed IDs are remembered this long.'),
        clockSkewSeconds: z
          .number()
          .int()
          .nonnegative()
          .max(600)
          .default(60)
          .describe('Assertions are valid from this long before their issue instant, for SPs whose clock runs early.'),
        maxRelayStateLength: z
          .number()
          .int()
          .positive()
          .max(8192)
          .default(1024)
          .describe('Longest RelayState accepted (SAML says 80 bytes; real SPs send URLs).'),
        maxMessageBytes: z
          .number()
          .int()
          .positive()
          .max(1_048_576)
          .default(65_536)
          .describe('Largest SAML message accepted, before and after inflating a Redirect-binding message.'),
        idpInitiatedSignOnPage: z
          .boolean()
          .default(false)
          .describe('Serve /adfs/ls/idpinitiatedsignon listing the SPs that allow it (AD FS: off by default).'),
      })
      .strict()
      .prefault({})
      .describe('SAML 2.0 identity provider.'),
    relyingParties: z
      .array(samlRelyingPartySchema)
      .default([])
      .refine((rps) => new Set(rps.map((rp) => rp.entityId)).size === rps.length, { message: 'expected each entityId once' })
      .describe('SAML 2.0 service providers that may receive tokens. Nothing is ever sent to an SP not listed here.'),
    wsfedRelyingParties: z
      .array(wsfedRelyingPartySchema)
      .default([])
      .refine((rps) => new Set(rps.map((rp) => rp.realm)).size === rps.length, { message: 'expected each realm once' })
      .describe('WS-Federation relying parties (wtrealm). Microsoft 365 is configured under microsoft365 instead.'),
    relyingPartyRegistry: z
      .object({
        pollSeconds: z
          .number()
          .int()
          .positive()
          .max(3600)
          .default(5)
          .describe(
            'How often each node checks the shared store (Redis when sessions.redis is set, else <dataDir>/relying-parties.json) ' +
              'for relying parties added, removed or refreshed with `openfed rp`; a change is used without restart.',
          ),
      })
      .strict()
      .prefault({})
      .describe('Relying parties added with `openfed rp add` and shared SP metadata copies.'),
    microsoft365: z
      .object({
        enabled: z.boolean().default(false).describe('Serve Microsoft 365 / Entra ID as a relying party (WS-Federation and SAML 2.0).'),
        domains: z
          .array(z.string().regex(/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$/i, 'expected a DNS domain name'))
          .default([])
          .describe('The federated domains (Entra ID domain names). Users whose UPN suffix is not one of them, or a subdomain of one, are refused.'),
        supportMultipleDomain: z
          .boolean()
          .default(false)
          .describe('AD FS -SupportMultipleDomain: each domain gets its own issuer, http://<domain>/adfs/services/trust/. Needed for more than one domain.'),
        realm: z.string().default('urn:federation:MicrosoftOnline').describe('The Microsoft 365 realm (wtrealm / SAML entityID).'),
        replyUrl: z
          .string()
          .url()
          .default('https://login.microsoftonline.com/login.srf')
          .describe('Where tokens go (sovereign clouds and tests override it).'),
        immutableIdSource: z
          .enum(['auto', 'consistencyGuid', 'objectGuid'])
          .default('auto')
          .describe('auto = ms-DS-ConsistencyGuid when set, else objectGUID (as Entra Connect); or force one to match the tenant.'),
        internalNetworks: z
          .array(z.string())
          .default([])
          .describe('CIDRs of the corporate network: clients there get insidecorporatenetwork=true.'),
        tokenLifetimeMinutes: z.number().int().positive().max(1440).default(60).describe('Token lifetime (AD FS: 1 hour).'),
        signatureAlgorithm: z.enum(['sha256', 'sha1']).default('sha256').describe('Entra accepts both; SHA-256 recommended.'),
        accessPolicy: accessPolicyName.optional(),
      })
      .strict()
      .prefault({})
      .refine((m) => !m.enabled || m.domains.length > 0, { message: 'expected at least one domain when enabled' })
      .refine((m) => m.supportMultipleDomain || m.domains.length <= 1, {
        message: 'expected supportMultipleDomain: true for more than one domain (each domain needs its own issuer)',
      })
      .describe('Microsoft 365 / Entra ID federation.'),
    kerberos: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Windows Integrated Authentication: browsers on the corporate network sign in with the Kerberos ticket of their ' +
              'Windows logon, without a prompt (AD FS "Windows Authentication" for the intranet). Needs the optional `kerberos` ' +
              'addon (built at install when libkrb5-dev is present); when it is missing OpenFed starts without it and says so.',
          ),
        servicePrincipal: z
          .string()
          .regex(/^HTTP\/[A-Za-z0-9.-]+$/, 'expected HTTP/<host name of the STS>, e.g. HTTP/sts.contoso.com')
          .optional()
          .describe('The SPN browsers ask a ticket for: HTTP/<the STS host name users type> (setspn -S on the service account).'),
        keytab: z.string().optional().describe('Keytab file holding the SPN\'s keys (ktpass on Windows, samba-tool domain exportkeytab on Samba); readable by OpenFed only.'),
        realm: z
          .string()
          .regex(/^[A-Za-z0-9.-]+$/, 'expected a Kerberos realm, e.g. CONTOSO.COM')
          .optional()
          .describe('The AD domain\'s realm (its DNS name in capitals). Tickets of other realms are refused.'),
        intranetNetworks: z
          .array(z.string())
          .optional()
          .describe(
            'CIDRs of clients offered Integrated Authentication. Default: microsoft365.internalNetworks. Everyone else gets the ' +
              'forms page (AD FS offers Windows Authentication on the intranet only).',
          ),
        userAgents: z
          .array(z.string().min(1))
          .default(['MSIE 6.0', 'MSIE 7.0', 'MSIE 8.0', 'MSIE 9.0', 'MSIE 10.0', 'Trident/7.0', 'MSIPC', 'Windows Rights Management Client', 'MSAuthHost/1.0/In-Domain', 'Edg/', 'Chrome/'])
          .describe(
            'User-Agent substrings that get the Negotiate challenge (AD FS WIASupportedUserAgents, plus Edge and Chrome). ' +
              'Others get the forms page: a browser that cannot answer would only show the fallback.',
          ),
      })
      .strict()
      .prefault({})
      .superRefine((k, ctx) => {
        if (!k.enabled) return;
        for (const key of ['servicePrincipal', 'keytab', 'realm'] as const) {
          if (k[key] === undefined) ctx.addIssue({ code: 'custom', message: 'required when kerberos.enabled is true', path: [key] });
        }
      })
      .describe('Windows Integrated Authentication (Kerberos / SPNEGO) on the corporate network.'),
    wsTrust: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Serve WS-Trust for rich clients (MSAL\'s username-password flow, Office before modern authentication, scripted sign-ins): ' +
              '/adfs/services/trust/2005/usernamemixed and /adfs/services/trust/13/usernamemixed, and the WS-MetadataExchange document ' +
              '/adfs/services/trust/mex that lists them; FederationMetadata.xml then names them. Passwords go through the same checks as ' +
              'the sign-in form (extranet lockout, per-address throttling, audit). Requests are answered only over HTTPS (server.tls, or a ' +
              'trusted proxy that says X-Forwarded-Proto: https): a UsernameToken carries the password in clear text.',
          ),
        maxMessageBytes: z
          .number()
          .int()
          .min(4096)
          .max(1_048_576)
          .default(65_536)
          .describe('Largest SOAP request accepted, in bytes (a real RequestSecurityToken is 2-3 KB).'),
      })
      .strict()
      .prefault({})
      .describe('WS-Trust (active federation) endpoints, as AD FS publishes them for Microsoft 365.'),
    mfa: z
      .object({
        issuer: z
          .string()
          .min(1)
          .max(64)
          .optional()
          .describe('The name authenticator apps show for OpenFed\'s codes. Default: branding.organisationName, else the host of server.baseUrl.'),
        maxWrongCodes: z.number().int().min(1).max(100).default(5).describe('Wrong codes per user in the window before further codes are refused.'),
        wrongCodeWindowMinutes: durationMinutes(15, 'The window for maxWrongCodes; refused users may try again after it.'),
      })
      .strict()
      .prefault({})
      .describe('Multi-factor authentication: TOTP (RFC 6238) codes from an authenticator app, enrolled after a password sign-in; asked for when a relying party\'s access policy or request requires it.'),
    accessControl: z
      .object({
        intranetNetworks: z
          .array(z.string())
          .optional()
          .describe('CIDRs that count as the intranet for access policies (network: intranet). Default: microsoft365.internalNetworks.'),
        policies: z
          .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, _ and -'), accessPolicySchema)
          .default({})
          .describe('Named access control policies; relying parties (and microsoft365) refer to them by name with accessPolicy.'),
      })
      .strict()
      .prefault({})
      .describe('Who may get a token for which relying party (AD FS access control policies). Without a policy: everyone.'),
    lockout: z
      .object({
        mode: z
          .enum(['off', 'logOnly', 'enforce'])
          .default('logOnly')
          .describe(
            'Extranet smart lockout (AD FS ESL). logOnly records and audits what would be refused but refuses nothing, ' +
              'while it learns each user\'s familiar addresses: Microsoft\'s advice is 3-7 days of log-only before enforce. ' +
              'enforce refuses, without asking AD, a user whose bad-password count for unknown (or familiar) addresses reached ' +
              'the threshold, so an attacker cannot lock the AD account; the real user keeps signing in from familiar addresses.',
          ),
        threshold: z
          .number()
          .int()
          .positive()
          .max(1000)
          .default(3)
          .describe(
            'Bad passwords per user (counted separately for unknown and familiar addresses) before further attempts are refused. ' +
              'Both counters together let twice this many reach AD, so keep 2 x threshold below the domain\'s lockoutThreshold, ' +
              'or AD can lock the account first (AD 10 -> at most 4; AD 0 never locks). openfed doctor checks it; enforce warns at start.',
          ),
        observationWindowMinutes: durationMinutes(
          30,
          'A refused user may try once more after this long since the last bad password (AD FS ExtranetObservationWindow, recommended 30 minutes). Counters clear only on a successful sign-in or an admin reset.',
        ),
        familiarLocationDays: z
          .number()
          .int()
          .positive()
          .max(365)
          .default(14)
          .describe('An address a user signed in from successfully within this many days is familiar to that user.'),
        perAddress: z
          .object({
            attempts: z
              .number()
              .int()
              .nonnegative()
              .default(100)
              .describe(
                'Sign-in attempts (form posts) allowed from one client address (IPv4) or /64 (IPv6) per window; more get 429. 0 turns it off. ' +
                  'Caps a password spray from one address; generous by default because an office behind one NAT address signs in in bursts.',
              ),
            windowSeconds: z.number().int().positive().max(86_400).default(60).describe('The per-address window.'),
          })
          .strict()
          .prefault({})
          .describe('Per-address sign-in throttling, shared through Redis when configured.'),
      })
      .strict()
      .prefault({})
      .describe('Password-guessing defences: extranet smart lockout per user, and throttling per client address.'),
    management: z
      .object({
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .optional()
          .describe('Port of the management listener (/metrics for Prometheus, /healthz, /readyz). Absent: no management listener.'),
        host: z.string().default('127.0.0.1').describe('Address of the management listener; keep it off the public network.'),
      })
      .strict()
      .prefault({})
      .describe('Operations endpoints on their own port, away from users.'),
    audit: z
      .object({
        file: z
          .string()
          .optional()
          .describe('Where the audit trail (one JSON line per security event) is appended; "-" for stdout. Default: <dataDir>/audit.log.'),
      })
      .strict()
      .prefault({})
      .describe('The audit trail: sign-ins, lockouts, tokens issued and refused, logouts, admin changes.'),
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .describe('pino log level.'),
        outageReportSeconds: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe(
            'While Redis or every domain controller is unreachable, how often the log says it is still down (with the requests refused since the last line). ' +
              'The outage is logged as "lost", "still down" and "back", not per request: a refused request\'s detail is at debug.',
          ),
      })
      .strict()
      .prefault({})
      .describe('Logging (JSON lines on stdout).'),
  })
  .strict()
  // A relying party naming a policy that does not exist is a configuration mistake, said at start;
  // one added later (openfed rp) with an unknown name is refused at sign-in instead (fail closed).
  .superRefine((config, ctx) => {
    const check = (name: string | undefined, path: (string | number)[]) => {
      if (name !== undefined && policyNamed(name, config.accessControl.policies) === undefined) {
        ctx.addIssue({ code: 'custom', message: `no access policy ${name} in accessControl.policies (nor a template of that name)`, path });
      }
    };
    config.relyingParties.forEach((rp, i) => check(rp.accessPolicy, ['relyingParties', i, 'accessPolicy']));
    config.wsfedRelyingParties.forEach((rp, i) => check(rp.accessPolicy, ['wsfedRelyingParties', i, 'accessPolicy']));
    check(config.microsoft365.accessPolicy, ['microsoft365', 'accessPolicy']);
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type LdapConfig = NonNullable<Config['directory']['ldap']>;
export type RedisConfig = NonNullable<Config['sessions']['redis']>;
export type LockoutConfig = Config['lockout'];
export type SigningKeyConfig = NonNullable<Config['keys']['signing']>;

/** The identifier AD FS uses by default: http://<federation service name>/adfs/services/trust. */
export function federationIdentifier(config: Config): string {
  return config.server.identifier ?? `http://${new URL(config.server.baseUrl).hostname}/adfs/services/trust`;
}
