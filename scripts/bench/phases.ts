/**
 * The measurements of one run, each a function: token phases (SAML 2.0 and WS-Fed, raw signing rate
 * measured before and after each), metadata, Redis memory per session, sign-ins against the DC next to
 * the DC's own bind rate. Each returns its table line and whatever broke.
 */
import { createPrivateKey } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { loadAdFacts } from '../../test/helpers/ad.js';
import { clockTicksPerSecond, cpuSecondsBetween, cpuSnapshot, ownCpus, processTree, setAffinity } from './cpu.js';
import { runLoad, type LoadResult, type Step } from './load.js';
import { AD_DIR, dcPid, ensureDc, freePort, startOpenFed, undoOnExit, type OpenFed, type PemPair } from './processes.js';
import { rawSignRateAround } from './raw-sign.js';
import { measureSessionMemory, type SessionMemory } from './redis-memory.js';
import { efficiency, fmt1, fmtInt, fmtMs, perUnitMs, type ScenarioLine } from './report.js';
import { DEMO_PASSWORD, DEMO_UPN, IDENTIFIER, log, METADATA_PATHS, openfedConfig, SP_ACS, SP_ENTITY_ID, SSO_PATH, WSFED_REALM, WSFED_REPLY, type Setup } from './setup.js';
import { dcBindRate, signIn, signInSteps, type BindRate } from './signin.js';
import {
  assertionOf,
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
  type SamlRequestFactory,
  type WsfedExpectation,
} from './tokens.js';

export const SAMPLE_SIZE = 20;
/** AuthnRequests made ahead per second of a SAML phase: above any rate this bench has seen (≈2,000/s on 2 cores); beyond it they are made on the fly. */
const PREPARED_REQUESTS_PER_SECOND = 4_000;
export const SIGN_IN_CONNECTIONS = 16;

export type Protocol = 'saml2' | 'wsfed';

export interface PhaseResult {
  line: ScenarioLine;
  load: LoadResult;
  failures: string[];
}

/** Bad responses, errors, or nothing done at all: the run is broken. */
export function problemsOf(name: string, r: LoadResult): string[] {
  const out: string[] = [];
  if (r.bad + r.errors > 0) out.push(`${name}: ${r.bad} bad response(s), ${r.errors} error(s): ${r.problems.join('; ')}`);
  if (r.units === 0) out.push(`${name}: nothing completed`);
  return out;
}

export function lineOf(scenario: string, r: LoadResult, rawRate?: number): ScenarioLine {
  return {
    scenario,
    connections: r.connections,
    perSecond: r.units / r.seconds,
    p50: r.p50,
    p99: r.p99,
    bad: r.bad + r.errors,
    cpuSeconds: r.cpuSeconds,
    seconds: r.seconds,
    perCpuSecond: r.cpuSeconds > 0 ? r.units / r.cpuSeconds : 0,
    ...(rawRate !== undefined ? { rawRate, efficiency: efficiency(r.units, r.cpuSeconds, rawRate) } : {}),
  };
}

async function fetchText(url: string, cookie: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
  return { status: res.status, body: await res.text() };
}

// ------------------------------------------------------------------------------------ tokens

/** A signed-in browser and what is needed to check the tokens it gets. */
export interface TokenRig {
  openfed: OpenFed;
  cookie: string;
  saml: SamlRequestFactory;
  samlExpect: SamlExpectation;
  wsfedExpect: WsfedExpectation;
  /** bytes of the first SAML token page: the size the floor server's page is made */
  samlPageBytes: number;
}

/**
 * Signs in, then gets one token of each kind and validates it before any load, so a broken set-up
 * fails with a plain reason; and checks that the validators refuse a tampered copy.
 */
export async function prepareTokens(openfed: OpenFed, signing: PemPair, sp: PemPair, signRequests: boolean): Promise<TokenRig> {
  const cookie = await signIn(openfed.url, DEMO_UPN, DEMO_PASSWORD);
  const saml = samlRequestFactory({
    idpSsoUrl: `${openfed.url}${SSO_PATH}`,
    spEntityId: SP_ENTITY_ID,
    ...(signRequests ? { signingKey: createPrivateKey(sp.keyPem) } : {}),
  });
  const firstSaml = await fetchText(openfed.url + saml.next(), cookie);
  const rig: TokenRig = {
    openfed,
    cookie,
    saml,
    samlExpect: { idpCertPem: signing.certPem, idpIssuer: IDENTIFIER, spEntityId: SP_ENTITY_ID, acsUrl: SP_ACS, requestIds: saml.ids },
    wsfedExpect: { idpCertPem: signing.certPem, idpIssuer: IDENTIFIER, realm: WSFED_REALM, replyUrl: WSFED_REPLY, upn: DEMO_UPN },
    samlPageBytes: Buffer.byteLength(firstSaml.body),
  };
  const firstWsfed = await fetchText(openfed.url + wsfedQuery(SSO_PATH, WSFED_REALM, 0), cookie);
  await validateSamlPage(firstSaml.body, rig.samlExpect).catch((err: Error) => {
    throw new Error(`the first SAML token did not validate (HTTP ${firstSaml.status}): ${err.message}`);
  });
  await validateWsfedPage(firstWsfed.body, rig.wsfedExpect).catch((err: Error) => {
    throw new Error(`the first WS-Fed token did not validate (HTTP ${firstWsfed.status}): ${err.message}`);
  });
  await negativeControls(firstSaml.body, firstWsfed.body, rig);
  return rig;
}

/**
 * The validators must be able to say no: a token with one changed character must be refused by
 * both, or a "validated" sample would prove nothing.
 */
async function negativeControls(samlPage: string, wsfedPage: string, rig: TokenRig): Promise<void> {
  const other = DEMO_UPN.replace('bench', 'bunch');
  const samlXml = Buffer.from(readPostForm(samlPage)?.fields.SAMLResponse ?? '', 'base64').toString('utf8');
  const tamperedSaml = samlXml.replace(DEMO_UPN, other);
  if (tamperedSaml === samlXml) throw new Error('negative control: the SAML token does not carry the UPN');
  const samlRefused = await validateSamlResponse(Buffer.from(tamperedSaml).toString('base64'), rig.samlExpect).then(() => false, () => true);
  if (!samlRefused) throw new Error('negative control: node-saml accepted a tampered SAML response');
  const assertion = assertionOf(readPostForm(wsfedPage)?.fields.wresult ?? '') ?? '';
  const tampered = assertion.replace(`>${DEMO_UPN}<`, `>${other}<`);
  if (tampered === assertion) throw new Error('negative control: the WS-Fed token does not carry the UPN');
  const wsfedRefused = await validateWsfedAssertion(tampered, { ...rig.wsfedExpect, upn: other }).then(() => false, () => true);
  if (!wsfedRefused) throw new Error('negative control: xmlsec1 accepted a tampered WS-Fed assertion');
}

function tokenSteps(rig: TokenRig, protocol: Protocol, sample: Reservoir<string>): Step[] {
  let n = 0;
  const field = protocol === 'saml2' ? 'SAMLResponse' : 'wresult';
  return [
    {
      method: 'GET',
      path: protocol === 'saml2' ? () => rig.saml.next() : () => wsfedQuery(SSO_PATH, WSFED_REALM, n++),
      headers: { cookie: rig.cookie },
      counts: true,
      check: (status, body) => {
        if (status !== 200) return 'not 200';
        if (!looksLikeToken(body, field)) return body.includes('name="_csrf"') ? 'the sign-in page, not a token' : 'not a token page';
        sample.offer(body);
        return true;
      },
    },
  ];
}

export async function warmUp(rig: TokenRig, seconds: number): Promise<void> {
  for (const protocol of ['saml2', 'wsfed'] as const) {
    await runLoad({ target: rig.openfed, connections: 16, seconds, steps: tokenSteps(rig, protocol, new Reservoir(0)) });
  }
}

async function validateSample(rig: TokenRig, protocol: Protocol, pages: readonly string[]): Promise<string[]> {
  const failures: string[] = [];
  const seen = new Set<string>();
  for (const page of pages) {
    try {
      const id = protocol === 'saml2' ? (await validateSamlPage(page, rig.samlExpect)).inResponseTo : (await validateWsfedPage(page, rig.wsfedExpect)).assertionId;
      if (seen.has(id)) throw new Error(`two sampled tokens share ${protocol === 'saml2' ? 'InResponseTo' : 'AssertionID'} ${id}`);
      seen.add(id);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  return failures;
}

/** Raw signing rate, then the load, then the sample validated (after the load, so it costs the load nothing). */
export async function tokenPhase(rig: TokenRig, protocol: Protocol, connections: number, seconds: number, rawSeconds: number): Promise<PhaseResult> {
  const name = `${protocol === 'saml2' ? 'SAML 2.0' : 'WS-Fed'} @${connections}`;
  const sample = new Reservoir<string>(SAMPLE_SIZE);
  if (protocol === 'saml2') rig.saml.prepare(Math.ceil(seconds * PREPARED_REQUESTS_PER_SECOND));
  log(`${name}: load ${seconds} s between two raw signing measurements`);
  const { rate, readings, result: load } = await rawSignRateAround(rawSeconds, () =>
    runLoad({ target: rig.openfed, connections, seconds, steps: tokenSteps(rig, protocol, sample), sampleRss: connections === 64 }),
  );
  log(`${name}: raw RSA-2048 ${readings.map(fmtInt).join(' / ')} signatures/core-s before / after`);
  const failures = problemsOf(name, load);
  const invalid = await validateSample(rig, protocol, sample.items);
  failures.push(...invalid.map((reason) => `${name}: a sampled token did not validate: ${reason}`));
  if (sample.items.length < Math.min(SAMPLE_SIZE, load.units)) failures.push(`${name}: only ${sample.items.length} tokens sampled`);
  const line = lineOf(name, load, rate);
  log(
    `${name}: ${fmtInt(line.perSecond)} tokens/s, p50 ${fmtMs(load.p50)}, p99 ${fmtMs(load.p99)}, ` +
      `efficiency ${(line.efficiency ?? 0).toFixed(2)}; ${sample.items.length - invalid.length}/${sample.items.length} sampled tokens validate`,
  );
  return { line, load, failures };
}

// ------------------------------------------------------------------------------------ metadata

export async function metadataPhase(openfed: OpenFed, seconds: number): Promise<PhaseResult> {
  const name = 'metadata GET @64';
  log(`${name}: ${seconds} s`);
  let n = 0;
  const load = await runLoad({
    target: openfed,
    connections: 64,
    seconds,
    sampleRss: true,
    steps: [
      {
        method: 'GET',
        path: () => METADATA_PATHS[n++ % METADATA_PATHS.length]!,
        counts: true,
        check: (status, body) => (status === 200 && body.includes('EntityDescriptor') ? true : 'not the metadata document'),
      },
    ],
  });
  return { line: lineOf(name, load), load, failures: problemsOf(name, load) };
}

// ------------------------------------------------------------------------------------ Redis

/** Signs in `count` times, `concurrency` at once, and uses each session for one SAML and one WS-Fed token. */
async function makeUsedSessions(rig: TokenRig, count: number, concurrency: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      const n = started++;
      const cookie = await signIn(rig.openfed.url, DEMO_UPN, DEMO_PASSWORD);
      const a = await fetchText(rig.openfed.url + rig.saml.next(), cookie);
      const b = await fetchText(rig.openfed.url + wsfedQuery(SSO_PATH, WSFED_REALM, n), cookie);
      if (!looksLikeToken(a.body, 'SAMLResponse') || !looksLikeToken(b.body, 'wresult')) throw new Error('a fresh session did not get its tokens');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export async function sessionMemoryPhase(rig: TokenRig, redisUrl: string, keyPrefix: string, count: number): Promise<SessionMemory> {
  log(`Redis memory: ${count} sessions`);
  // A few sessions first, outside the measurement: Redis allocates some structures on first use.
  await makeUsedSessions(rig, 5, 4);
  return measureSessionMemory(redisUrl, keyPrefix, () => makeUsedSessions(rig, count, 4));
}

// ------------------------------------------------------------------------------------ sign-ins

export interface SignInResult {
  line: ScenarioLine;
  signIns: LoadResult;
  binds: BindRate;
  /** CPU-seconds of the DC's processes during the sign-ins and during the plain binds */
  dcCpu: { signIns: number; binds: number };
  /** where the DC, OpenFed and the load generator ran (separateDc) */
  layout: string;
  failures: string[];
  note: string;
}

/** CPU-seconds a process tree used while `work` ran (0 without a root pid). */
async function cpuDuring<T>(root: number | undefined, work: () => Promise<T>): Promise<{ result: T; cpuSeconds: number }> {
  if (root === undefined) return { result: await work(), cpuSeconds: 0 };
  const before = cpuSnapshot(root);
  const result = await work();
  return { result, cpuSeconds: cpuSecondsBetween(before, cpuSnapshot(root), clockTicksPerSecond()).seconds };
}

/**
 * Puts the DC's processes on a CPU of their own and the bench (the load generator, and the OpenFed it
 * starts next) on the others, as in a deployment where the DC is its own server: sign-ins/s ÷ binds/s
 * then compares what the DC can serve in either case, rather than how OpenFed, the load generator and
 * the DC share two cores. Undone afterwards: the DC may be the test suite's.
 */
export function separateDc(
  dcRoot: number | undefined,
  cpus: readonly number[] | undefined,
  pin: (pids: readonly number[], cpus: readonly number[]) => void = setAffinity,
): { layout: string; undo: () => void } {
  const shared = (why: string) => ({ layout: `all on the same ${cpus?.length ?? availableParallelism()} cores (${why})`, undo: () => undefined });
  if (dcRoot === undefined) return shared('no DC pid');
  if (cpus === undefined) return shared('no taskset');
  if (cpus.length < 2) return shared('one core');
  const dcCpu = cpus.slice(-1);
  const rest = cpus.slice(0, -1);
  const dcTree = () => processTree(dcRoot).map((p) => p.pid);
  const undo = () => {
    try {
      pin(dcTree(), cpus);
      pin([process.pid], cpus);
    } catch (err) {
      log(`could not give the DC and the bench every CPU back: ${(err as Error).message}`);
    }
  };
  try {
    pin(dcTree(), dcCpu);
    pin([process.pid], rest);
  } catch (err) {
    // A container may forbid changing another process's CPUs (e.g. a DC run by another user).
    undo();
    return shared(`taskset refused: ${(err as Error).message.split('\n')[0]}`);
  }
  return { layout: `DC on CPU ${dcCpu.join(',')}, OpenFed and the load generator on CPU ${rest.join(',')}`, undo };
}

/**
 * Password sign-ins through OpenFed against the Samba DC (a second OpenFed, configured for AD), then
 * the DC's own simple-bind rate for the same user at the same concurrency, each with the DC on a CPU
 * of its own (separateDc).
 */
export async function signInPhase(setup: Setup, seconds: number, warmUpSeconds: number): Promise<SignInResult> {
  const dc = await ensureDc(log);
  const ad = loadAdFacts(dc.envFile);
  const user = ad.users.NORMAL;
  const ldap = {
    urls: [ad.ldapUrl],
    caFile: ad.caFile,
    baseDn: ad.baseDn,
    bindDn: ad.svcDn,
    bindPassword: ad.users.SVC.password,
    // As many binds in flight as the bench has connections, so OpenFed's own queue does not cap the rate.
    maxConcurrentBinds: SIGN_IN_CONNECTIONS,
  };
  // The DC's own CPU during each part: what a sign-in costs the DC next to what a bind does, which
  // holds whoever else (OpenFed, the load generator) shares the cores.
  const dcRoot = dcPid(AD_DIR);
  const cores = separateDc(dcRoot, ownCpus());
  // Also on Ctrl-C, which exits without reaching the finally below.
  const undo = undoOnExit('the CPU layout of the sign-in phase', cores.undo);
  log(`${cores.layout}; starting OpenFed against the Samba AD DC`);
  try {
    return await signInsAndBinds();
  } finally {
    undo();
  }

  async function signInsAndBinds(): Promise<SignInResult> {
    const openfed = await startOpenFed(setup.dir, 'signin', openfedConfig({ ...setup, port: await freePort(), keyPrefix: 'benchad:' }, { ldap }));
    const signInLoad = (seconds: number) => runLoad({ target: openfed, connections: SIGN_IN_CONNECTIONS, seconds, steps: signInSteps(user.sam, user.password) });
    const binding = (seconds: number) => dcBindRate({ url: ad.ldapUrl, dn: user.dn, password: user.password, connections: SIGN_IN_CONNECTIONS, seconds });
    let signIns: LoadResult;
    let dcSignInCpu: number;
    try {
      await signIn(openfed.url, user.sam, user.password);
      // A fresh process spends its first seconds compiling the sign-in path (express, ldapts, ejs):
      // ~9 ms of OpenFed CPU per sign-in in the first 5 s, ~6 ms after 25 s on this machine. The DC and
      // a long-running server have no such start-up cost, so it stays out of the measurement.
      log(`sign-ins @${SIGN_IN_CONNECTIONS}: warm-up ${warmUpSeconds} s (not measured)`);
      await signInLoad(warmUpSeconds);
      log(`sign-ins @${SIGN_IN_CONNECTIONS}: ${seconds} s`);
      const run = await cpuDuring(dcRoot, () => signInLoad(seconds));
      signIns = run.result;
      dcSignInCpu = run.cpuSeconds;
    } finally {
      await openfed.stop();
    }
    // The bench's own LDAP client warms up the same way before its binds are counted.
    await binding(Math.min(2, warmUpSeconds));
    log(`DC binds @${SIGN_IN_CONNECTIONS}: ${seconds} s`);
    const bindRun = await cpuDuring(dcRoot, () => binding(seconds));
    const binds = bindRun.result;
    const name = `password sign-in @${SIGN_IN_CONNECTIONS}`;
    const failures = problemsOf(name, signIns);
    if (binds.errors > 0) failures.push(`DC binds: ${binds.errors} error(s): ${binds.firstError ?? ''}`);
    const note =
      `Sign-ins: ${fmtInt(signIns.units)} in ${fmt1(signIns.seconds)} s as ${user.sam} (GET + POST /signin; p50/p99 are per HTTP request); ` +
      `DC: ${fmtInt(binds.binds)} simple binds in ${fmt1(binds.seconds)} s, ${SIGN_IN_CONNECTIONS} connections. ` +
      `CPU per sign-in: DC ${perUnitMs(dcSignInCpu, signIns.units)}, OpenFed ${perUnitMs(signIns.cpuSeconds, signIns.units)}; ` +
      `DC CPU per plain bind ${perUnitMs(bindRun.cpuSeconds, binds.binds)}. ` +
      `${cores.layout}. The DC ${dc.started ? 'was started by the bench' : 'was already running (shared with the test suite)'}.`;
    if (dcRoot === undefined) failures.push(`no pid file under ${AD_DIR}/run: the DC's CPU could not be measured`);
    return { line: lineOf(name, signIns), signIns, binds, dcCpu: { signIns: dcSignInCpu, binds: bindRun.cpuSeconds }, layout: cores.layout, failures, note };
  }
}
