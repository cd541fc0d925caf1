/**
 * `npm run bench` (issue #7): how close token issuance comes to the RSA signing floor, and the other
 * numbers of the issue, on this machine, written to BENCHMARKS.md.
 *
 *   npm run bench                   the full run, ~2-4 minutes
 *   npm run bench -- --quick        a ~1 minute smoke run (prints, does not write BENCHMARKS.md)
 *   npm run bench -- --help         every option
 *
 * Exits non-zero only when the bench itself broke (a token that does not validate, a bad response,
 * an OpenFed process that died); a missed target is reported, not a failure.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { ConfigInput } from '../../src/config/schema.js';
import { hashPassword } from '../../src/directory/demo.js';
import { loadAdFacts } from '../../test/helpers/ad.js';
import { runLoad, type LoadResult, type Step } from './load.js';
import {
  build,
  clusterModeSupported,
  ensureDc,
  freePort,
  installCleanupHandlers,
  makeKeyPair,
  randomSecret,
  REPO,
  startOpenFed,
  startRedis,
  stopAll,
  type OpenFed,
  type PemPair,
} from './processes.js';
import { measureRawSignRate } from './raw-sign.js';
import { measureSessionMemory, type SessionMemory } from './redis-memory.js';
import {
  efficiency,
  fmt1,
  fmt2,
  fmtBytes,
  fmtInt,
  fmtMB,
  fmtMs,
  renderMarkdown,
  row,
  scenarioTable,
  targetsTable,
  TARGETS,
  type Machine,
  type Row,
  type ScenarioLine,
} from './report.js';
import { dcBindRate, signIn, signInSteps, type BindRate } from './signin.js';
import {
  looksLikeToken,
  readPostForm,
  Reservoir,
  samlRequestFactory,
  validateSamlPage,
  validateSamlResponse,
  validateWsfedAssertion,
  validateWsfedPage,
  wsfedQuery,
  type SamlExpectation,
  type WsfedExpectation,
} from './tokens.js';

// ------------------------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  build: boolean;
  ad: boolean;
  workers: string;
  duration?: number;
  sessions?: number;
  signedRequests: boolean;
  output?: string;
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
};

const program = new Command('bench')
  .description('Token issuance, metadata, sign-in and memory benchmark of OpenFed (issue #7).')
  .option('--quick', 'short smoke run (~1 minute); prints only unless --output is given', false)
  .option('--no-build', 'skip npm run build (use the dist/ that is there)')
  .option('--no-ad', 'skip the sign-in part against the Samba AD DC')
  .option('--workers <n|auto>', "OpenFed processes: server.workers when this build has cluster mode ('auto' = one per core), else 1", 'default')
  .option('--duration <seconds>', 'seconds per load phase (default 10, quick 2)', positiveInt)
  .option('--sessions <n>', 'sessions made for the Redis memory figure (default 200, quick 20)', positiveInt)
  .option('--signed-requests', 'sign every AuthnRequest (Redirect binding signature), as an SP that must sign', false)
  .option('--output <file>', 'where the results go (default BENCHMARKS.md; none for --quick)')
  .showHelpAfterError();

// ------------------------------------------------------------------------------------ constants

const SP_ENTITY_ID = 'urn:openfed:bench:sp';
const SP_ACS = 'https://sp.bench.test/saml/acs';
const WSFED_REALM = 'urn:openfed:bench:wsfed';
const WSFED_REPLY = 'https://rp.bench.test/wsfed';
const IDENTIFIER = 'http://sts.bench.test/adfs/services/trust';
const SSO_PATH = '/adfs/ls/';
const METADATA_PATHS = ['/FederationMetadata/2007-06/FederationMetadata.xml', '/federationmetadata/2007-06/federationmetadata.xml'];
const DEMO_UPN = 'bench.user@openfed.test';
const DEMO_PASSWORD = 'Bench-Passw0rd!';
const SAMPLE_SIZE = 20;
const SIGN_IN_CONNECTIONS = 16;

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function machine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpuModel: model.trim(),
    cores: cpus().length,
    node: process.version,
    loadAverage: loadavg(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/** A demo user shaped like an AD user: groups with SIDs, display name, mail. */
async function writeDemoUsers(file: string): Promise<void> {
  const sid = (rid: number) => `S-1-5-21-1004336348-1177238915-682003330-${rid}`;
  const groups = ['Domain Users', 'Staff', 'Finance', 'VPN Users', 'Office 365 Licensed'].map((name, i) => ({ name, sid: sid(1100 + i) }));
  const user = {
    userPrincipalName: DEMO_UPN,
    sAMAccountName: 'bench.user',
    passwordHash: await hashPassword(DEMO_PASSWORD),
    objectGuid: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
    mail: DEMO_UPN,
    displayName: 'Bench User',
    givenName: 'Bench',
    sn: 'User',
    groups,
  };
  writeFileSync(file, JSON.stringify({ users: [user] }), { mode: 0o600 });
}

interface Setup {
  dir: string;
  port: number;
  redisUrl: string;
  keyPrefix: string;
  signing: PemPair;
  sp: PemPair;
  workers?: number | 'auto';
  csrfSecret: string;
}

function openfedConfig(s: Setup, directory: ConfigInput['directory']): ConfigInput {
  const server = {
    baseUrl: `http://127.0.0.1:${s.port}`,
    identifier: IDENTIFIER,
    host: '127.0.0.1',
    port: s.port,
    shutdownGraceMs: 1000,
    // Only when this build has cluster mode: an older schema refuses unknown keys.
    ...(s.workers !== undefined ? { workers: s.workers } : {}),
  };
  return {
    server,
    dataDir: join(s.dir, `data-${s.keyPrefix.replace(/:$/, '')}`),
    directory,
    sessions: { redis: { url: s.redisUrl, keyPrefix: s.keyPrefix } },
    keys: { signing: { keyFile: s.signing.keyFile, certFile: s.signing.certFile } },
    web: { csrfSecret: s.csrfSecret },
    relyingParties: [
      {
        entityId: SP_ENTITY_ID,
        name: 'Bench SP',
        assertionConsumerServices: [{ url: SP_ACS, binding: 'post', isDefault: true }],
        signingCertificates: [s.sp.certPem],
        requireSignedRequests: false,
        nameId: { format: 'persistent' },
        attributes: [
          { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' },
          { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', source: 'displayName' },
          { name: 'http://schemas.xmlsoap.org/claims/Group', source: 'groups' },
        ],
      },
    ],
    wsfedRelyingParties: [
      {
        realm: WSFED_REALM,
        name: 'Bench RP',
        replyUrls: [WSFED_REPLY],
        claims: [
          { type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' },
          { type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', source: 'displayName' },
          { type: 'http://schemas.xmlsoap.org/claims/Group', source: 'groups' },
        ],
      },
    ],
    // Neither may distort a sign-in rate: the bench signs in thousands of times from one address.
    lockout: { mode: 'off', perAddress: { attempts: 0 } },
    audit: { file: join(s.dir, `audit-${s.keyPrefix.replace(/:$/, '')}.log`) },
    log: { level: 'warn' },
  };
}

// ------------------------------------------------------------------------------------ phases

interface TokenScenario {
  protocol: 'saml2' | 'wsfed';
  connections: number;
}

interface Measured {
  scenarios: ScenarioLine[];
  loads: Map<string, LoadResult>;
  failures: string[];
  notes: string[];
  rssMax: Map<number, number>;
  sessionMemory?: SessionMemory;
  signIns?: LoadResult;
  binds?: BindRate;
}

function mergeRss(into: Map<number, number>, from: Map<number, number> | undefined): void {
  for (const [pid, rss] of from ?? []) into.set(pid, Math.max(rss, into.get(pid) ?? 0));
}

function recordProblems(m: Measured, name: string, r: LoadResult): void {
  if (r.bad + r.errors > 0) m.failures.push(`${name}: ${r.bad} bad response(s), ${r.errors} error(s): ${r.problems.join('; ')}`);
  if (r.units === 0) m.failures.push(`${name}: nothing completed`);
}

function tokenSteps(protocol: TokenScenario['protocol'], saml: ReturnType<typeof samlRequestFactory>, cookie: string, sample: Reservoir<string>): Step[] {
  let n = 0;
  const field = protocol === 'saml2' ? 'SAMLResponse' : 'wresult';
  return [
    {
      method: 'GET',
      path: protocol === 'saml2' ? () => saml.next() : () => wsfedQuery(SSO_PATH, WSFED_REALM, n++),
      headers: { cookie },
      counts: true,
      check: (status, body) => {
        if (status !== 200) return 'not 200';
        if (!looksLikeToken(body, field)) return /name="_csrf"/.test(body) ? 'the sign-in page, not a token' : 'not a token page';
        sample.offer(body);
        return true;
      },
    },
  ];
}

async function validateSample(
  protocol: TokenScenario['protocol'],
  pages: readonly string[],
  samlExpect: SamlExpectation,
  wsfedExpect: WsfedExpectation,
): Promise<string[]> {
  const failures: string[] = [];
  const seen = new Set<string>();
  for (const page of pages) {
    try {
      const id = protocol === 'saml2' ? (await validateSamlPage(page, samlExpect)).inResponseTo : (await validateWsfedPage(page, wsfedExpect)).assertionId;
      if (seen.has(id)) throw new Error(`two sampled tokens share ${protocol === 'saml2' ? 'InResponseTo' : 'AssertionID'} ${id}`);
      seen.add(id);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  return failures;
}

/**
 * The validators must be able to say no: a token with one changed character must be refused by
 * both, or a "validated" sample would prove nothing.
 */
async function negativeControls(samlPage: string, wsfedPage: string, samlExpect: SamlExpectation, wsfedExpect: WsfedExpectation): Promise<void> {
  const samlXml = Buffer.from(readPostForm(samlPage)!.fields.SAMLResponse!, 'base64').toString('utf8');
  const tamperedSaml = Buffer.from(samlXml.replace(DEMO_UPN, DEMO_UPN.replace('bench', 'bunch'))).toString('base64');
  if (tamperedSaml === Buffer.from(samlXml).toString('base64')) throw new Error('negative control: the SAML token does not carry the UPN');
  const samlRefused = await validateSamlResponse(tamperedSaml, samlExpect).then(() => false, () => true);
  if (!samlRefused) throw new Error('negative control: node-saml accepted a tampered SAML response');
  const assertion = /<saml:Assertion\s[\s\S]*<\/saml:Assertion>/.exec(readPostForm(wsfedPage)!.fields.wresult!)![0];
  const tamperedAssertion = assertion.replace(`>${DEMO_UPN}<`, `>${DEMO_UPN.replace('bench', 'bunch')}<`);
  if (tamperedAssertion === assertion) throw new Error('negative control: the WS-Fed token does not carry the UPN');
  const wsfedRefused = await validateWsfedAssertion(tamperedAssertion, { ...wsfedExpect, upn: DEMO_UPN.replace('bench', 'bunch') }).then(() => false, () => true);
  if (!wsfedRefused) throw new Error('negative control: xmlsec1 accepted a tampered WS-Fed assertion');
}

async function fetchText(url: string, cookie: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
  return { status: res.status, body: await res.text() };
}

/** Signs in `count` times, `concurrency` at once, and uses each session for one SAML and one WS-Fed token. */
async function makeUsedSessions(openfed: OpenFed, saml: ReturnType<typeof samlRequestFactory>, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const cookie = await signIn(openfed.url, DEMO_UPN, DEMO_PASSWORD);
      const a = await fetchText(openfed.url + saml.next(), cookie);
      const b = await fetchText(openfed.url + wsfedQuery(SSO_PATH, WSFED_REALM, next), cookie);
      if (!looksLikeToken(a.body, 'SAMLResponse') || !looksLikeToken(b.body, 'wresult')) throw new Error('a fresh session did not get tokens');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<number> {
  const opts = program.parse(process.argv).opts<Options>();
  installCleanupHandlers();
  const started = Date.now();
  const host = machine();
  const seconds = opts.duration ?? (opts.quick ? 2 : 10);
  const rawSeconds = opts.quick ? 1 : 2;
  const sessionCount = opts.sessions ?? (opts.quick ? 20 : 200);
  const output = opts.output ?? (opts.quick ? undefined : join(REPO, 'BENCHMARKS.md'));
  log(`${host.cpuModel}, ${host.cores} cores, Node ${host.node}, load average ${host.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);

  if (opts.build) {
    log('npm run build');
    await build();
  }
  const cluster = clusterModeSupported();
  let workers: number | 'auto' | undefined;
  if (opts.workers === 'default') workers = cluster ? 'auto' : undefined;
  else if (opts.workers === 'auto') workers = 'auto';
  else workers = positiveInt(opts.workers);
  if (!cluster && workers !== undefined && workers !== 1) {
    throw new Error(`--workers ${opts.workers}: this build has no cluster mode yet (no server.workers in src/config/schema.ts); run without --workers`);
  }
  if (!cluster) workers = undefined;

  const dir = mkdtempSync(join(tmpdir(), 'openfed-bench-'));
  const m: Measured = { scenarios: [], loads: new Map(), failures: [], notes: [], rssMax: new Map() };
  try {
    const [signing, sp, redis] = await Promise.all([makeKeyPair(dir, 'signing', 'sts.bench.test'), makeKeyPair(dir, 'sp', 'sp.bench.test'), startRedis(dir)]);
    const usersFile = join(dir, 'demo-users.json');
    await writeDemoUsers(usersFile);
    const setup: Setup = { dir, port: await freePort(), redisUrl: redis.url, keyPrefix: 'bench:', signing, sp, csrfSecret: randomSecret(), ...(workers !== undefined ? { workers } : {}) };

    log(`starting OpenFed (demo directory${workers !== undefined ? `, server.workers ${workers}` : ', one process'})`);
    const openfed = await startOpenFed(dir, 'tokens', openfedConfig(setup, { demo: { usersFile } }));
    const cookie = await signIn(openfed.url, DEMO_UPN, DEMO_PASSWORD);
    const saml = samlRequestFactory({
      idpSsoUrl: `${openfed.url}${SSO_PATH}`,
      spEntityId: SP_ENTITY_ID,
      ...(opts.signedRequests ? { signingKey: createPrivateKey(sp.keyPem) } : {}),
    });
    const samlExpect: SamlExpectation = { idpCertPem: signing.certPem, idpIssuer: IDENTIFIER, spEntityId: SP_ENTITY_ID, acsUrl: SP_ACS, requestIds: saml.ids };
    const wsfedExpect: WsfedExpectation = { idpCertPem: signing.certPem, idpIssuer: IDENTIFIER, realm: WSFED_REALM, replyUrl: WSFED_REPLY, upn: DEMO_UPN };

    // One token of each kind before any load: a broken set-up fails here with a plain reason.
    const firstSaml = await fetchText(openfed.url + saml.next(), cookie);
    const firstWsfed = await fetchText(openfed.url + wsfedQuery(SSO_PATH, WSFED_REALM, 0), cookie);
    await validateSamlPage(firstSaml.body, samlExpect).catch((err: Error) => {
      throw new Error(`the first SAML token did not validate (HTTP ${firstSaml.status}): ${err.message}`);
    });
    await validateWsfedPage(firstWsfed.body, wsfedExpect).catch((err: Error) => {
      throw new Error(`the first WS-Fed token did not validate (HTTP ${firstWsfed.status}): ${err.message}`);
    });
    await negativeControls(firstSaml.body, firstWsfed.body, samlExpect, wsfedExpect);
    log('first tokens validate (node-saml, xmlsec1); tampered copies are refused');

    if (!opts.quick) {
      log('warm-up');
      for (const protocol of ['saml2', 'wsfed'] as const) {
        await runLoad({ target: openfed, connections: 16, seconds: 2, steps: tokenSteps(protocol, saml, cookie, new Reservoir(0)) });
      }
    }

    const scenarios: TokenScenario[] = [
      { protocol: 'saml2', connections: 16 },
      { protocol: 'saml2', connections: 64 },
      { protocol: 'wsfed', connections: 16 },
      { protocol: 'wsfed', connections: 64 },
    ];
    for (const s of scenarios) {
      const name = `${s.protocol === 'saml2' ? 'SAML 2.0' : 'WS-Fed'} @${s.connections}`;
      const raw = await measureRawSignRate(rawSeconds);
      log(`${name}: raw RSA-2048 ${fmtInt(raw.perCpuSecond)} signatures/core-s; load ${seconds} s`);
      const sample = new Reservoir<string>(SAMPLE_SIZE);
      const r = await runLoad({ target: openfed, connections: s.connections, seconds, steps: tokenSteps(s.protocol, saml, cookie, sample), sampleRss: s.connections === 64 });
      m.loads.set(name, r);
      mergeRss(m.rssMax, r.rssMax);
      recordProblems(m, name, r);
      const invalid = await validateSample(s.protocol, sample.items, samlExpect, wsfedExpect);
      for (const reason of invalid) m.failures.push(`${name}: a sampled token did not validate: ${reason}`);
      if (sample.items.length < Math.min(SAMPLE_SIZE, r.units)) m.failures.push(`${name}: only ${sample.items.length} tokens sampled`);
      const eff = efficiency(r.units, r.cpuSeconds, raw.perCpuSecond);
      m.scenarios.push({
        scenario: name,
        connections: s.connections,
        perSecond: r.units / r.seconds,
        p50: r.p50,
        p99: r.p99,
        bad: r.bad + r.errors,
        cpuSeconds: r.cpuSeconds,
        seconds: r.seconds,
        perCpuSecond: r.cpuSeconds > 0 ? r.units / r.cpuSeconds : 0,
        rawRate: raw.perCpuSecond,
        efficiency: eff,
      });
      log(`${name}: ${fmtInt(r.units / r.seconds)} tokens/s, p50 ${fmtMs(r.p50)}, p99 ${fmtMs(r.p99)}, efficiency ${eff.toFixed(2)}; ${sample.items.length - invalid.length}/${sample.items.length} sampled tokens validate`);
    }

    log(`metadata @64: ${seconds} s`);
    let metadataIndex = 0;
    const metadata = await runLoad({
      target: openfed,
      connections: 64,
      seconds,
      sampleRss: true,
      steps: [
        {
          method: 'GET',
          path: () => METADATA_PATHS[metadataIndex++ % METADATA_PATHS.length]!,
          counts: true,
          check: (status, body) => (status === 200 && body.includes('EntityDescriptor') ? true : 'not the metadata document'),
        },
      ],
    });
    m.loads.set('metadata', metadata);
    mergeRss(m.rssMax, metadata.rssMax);
    recordProblems(m, 'metadata @64', metadata);
    m.scenarios.push({
      scenario: 'metadata GET @64',
      connections: 64,
      perSecond: metadata.units / metadata.seconds,
      p50: metadata.p50,
      p99: metadata.p99,
      bad: metadata.bad + metadata.errors,
      cpuSeconds: metadata.cpuSeconds,
      seconds: metadata.seconds,
      perCpuSecond: metadata.cpuSeconds > 0 ? metadata.units / metadata.cpuSeconds : 0,
    });
    const processes = metadata.processes;
    m.notes.push(
      workers === undefined
        ? 'This build has no cluster mode yet (no server.workers): OpenFed ran as one process, so it used at most one of the cores.'
        : `server.workers ${workers}: ${processes} OpenFed process(es) (primary included).`,
    );

    log(`Redis memory: ${sessionCount} sessions`);
    m.sessionMemory = await measureSessionMemory(redis.url, setup.keyPrefix, () => makeUsedSessions(openfed, saml, sessionCount, 4));
    await openfed.stop();

    if (opts.ad) {
      const dc = await ensureDc(log);
      const ad = loadAdFacts(dc.envFile);
      const user = ad.users.NORMAL;
      const adSetup: Setup = { ...setup, port: await freePort(), keyPrefix: 'benchad:' };
      const ldap = {
        urls: [ad.ldapUrl],
        caFile: ad.caFile,
        baseDn: ad.baseDn,
        bindDn: ad.svcDn,
        bindPassword: ad.users.SVC.password,
        // As many binds in flight as the bench has connections, so OpenFed's own queue does not cap the rate.
        maxConcurrentBinds: SIGN_IN_CONNECTIONS,
      };
      log('starting OpenFed against the Samba AD DC');
      const adOpenfed = await startOpenFed(dir, 'signin', openfedConfig(adSetup, { ldap }));
      await signIn(adOpenfed.url, user.sam, user.password);
      log(`sign-ins @${SIGN_IN_CONNECTIONS}: ${seconds} s`);
      m.signIns = await runLoad({ target: adOpenfed, connections: SIGN_IN_CONNECTIONS, seconds, steps: signInSteps(user.sam, user.password) });
      recordProblems(m, `sign-ins @${SIGN_IN_CONNECTIONS}`, m.signIns);
      await adOpenfed.stop();
      log(`DC binds @${SIGN_IN_CONNECTIONS}: ${seconds} s`);
      m.binds = await dcBindRate({ url: ad.ldapUrl, dn: user.dn, password: user.password, connections: SIGN_IN_CONNECTIONS, seconds });
      if (m.binds.errors > 0) m.failures.push(`DC binds: ${m.binds.errors} error(s): ${m.binds.firstError ?? ''}`);
      m.scenarios.push({
        scenario: `password sign-in @${SIGN_IN_CONNECTIONS}`,
        connections: SIGN_IN_CONNECTIONS,
        perSecond: m.signIns.units / m.signIns.seconds,
        p50: m.signIns.p50,
        p99: m.signIns.p99,
        bad: m.signIns.bad + m.signIns.errors,
        cpuSeconds: m.signIns.cpuSeconds,
        seconds: m.signIns.seconds,
        perCpuSecond: m.signIns.cpuSeconds > 0 ? m.signIns.units / m.signIns.cpuSeconds : 0,
      });
      m.notes.push(
        `Sign-ins: ${fmtInt(m.signIns.units)} in ${fmt1(m.signIns.seconds)} s as ${user.sam} (GET + POST /signin; p50/p99 above are per HTTP request); ` +
          `DC: ${fmtInt(m.binds.binds)} simple binds in ${fmt1(m.binds.seconds)} s, ${SIGN_IN_CONNECTIONS} connections. ` +
          `The DC ${dc.started ? 'was started by the bench' : 'was already running (shared with the test suite)'}.`,
      );
    } else {
      m.notes.push('--no-ad: password sign-ins against the Samba AD DC were not measured.');
    }

    const rows = targetRows(m);
    const report = {
      machine: host,
      mode: `${opts.quick ? 'quick' : 'full'} (${seconds} s per load phase, raw signing ${rawSeconds} s before each token phase${opts.signedRequests ? ', signed AuthnRequests' : ', unsigned AuthnRequests'})`,
      workers: workers === undefined ? '1 process (no cluster mode in this build)' : `server.workers ${workers} (${processes} processes)`,
      rows,
      scenarios: m.scenarios,
      notes: [
        ...m.notes,
        `Redis: ${m.sessionMemory.sessions} sessions; MEMORY USAGE ${fmtBytes(m.sessionMemory.sessionKeyBytes)} per sess:<id> key + ${fmtBytes(m.sessionMemory.userIndexBytesPerSession)} per entry of the user index; the INFO delta leaves out ${fmtBytes(m.sessionMemory.otherBytesPerSession)} per session of other new keys (replay-cache entries of the token requests).`,
        `RSS per OpenFed process (max during the 64-connection phases): ${[...m.rssMax.values()].map(fmtMB).join(', ') || 'not sampled'}.`,
        `Whole run: ${Math.round((Date.now() - started) / 1000)} s.`,
      ],
      failures: m.failures,
    };
    process.stdout.write(`\n${targetsTable(rows)}\n\n${scenarioTable(m.scenarios)}\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (m.failures.length > 0) {
      process.stdout.write(`\nTHE BENCH BROKE:\n${m.failures.map((f) => `- ${f}`).join('\n')}\n`);
      if (output) log(`${output} left as it was: a broken run does not replace results`);
      return 1;
    }
    if (output) {
      writeFileSync(output, renderMarkdown(report));
      log(`wrote ${output}`);
    } else {
      log('quick run: BENCHMARKS.md not written (--output <file> to write one)');
    }
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

function targetRows(m: Measured): Row[] {
  const rows: Row[] = [];
  const line = (name: string) => m.scenarios.find((s) => s.scenario === name);
  for (const protocol of ['SAML 2.0', 'WS-Fed']) {
    for (const connections of [16, 64]) {
      const s = line(`${protocol} @${connections}`);
      if (!s) continue;
      rows.push(row(`${protocol} efficiency @${connections}`, s.efficiency, `${fmt2(s.efficiency ?? 0)} (${fmtInt(s.perSecond)} tokens/s)`, TARGETS.efficiency));
      rows.push(row(`${protocol} p99 @${connections}`, s.p99, `${fmtMs(s.p99)} (p50 ${fmtMs(s.p50)})`, connections === 16 ? TARGETS.p99At16 : TARGETS.p99At64));
      rows.push(row(`${protocol} errors @${connections}`, s.bad, String(s.bad), TARGETS.errors));
    }
  }
  const md = line('metadata GET @64');
  if (md) rows.push(row('metadata GET/s @64', md.perSecond, fmtInt(md.perSecond), TARGETS.metadataPerSecond));
  if (m.signIns && m.binds) {
    const signIns = m.signIns.units / m.signIns.seconds;
    const binds = m.binds.binds / m.binds.seconds;
    const share = binds > 0 ? signIns / binds : 0;
    rows.push(row('password sign-ins ÷ DC binds', share, `${Math.round(share * 100)} % (${fmt1(signIns)}/s vs ${fmt1(binds)} binds/s)`, TARGETS.signInShareOfBinds));
  } else {
    rows.push(row('password sign-ins ÷ DC binds', undefined, 'not measured (--no-ad)', TARGETS.signInShareOfBinds));
  }
  if (m.sessionMemory) {
    rows.push(row('Redis per SSO session', m.sessionMemory.infoBytesPerSession, fmtBytes(m.sessionMemory.infoBytesPerSession), TARGETS.redisBytesPerSession));
  }
  const rss = Math.max(0, ...m.rssMax.values());
  rows.push(row('RSS per OpenFed process under load', rss > 0 ? rss : undefined, rss > 0 ? fmtMB(rss) : 'not sampled', TARGETS.rssBytesPerWorker));
  return rows;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
