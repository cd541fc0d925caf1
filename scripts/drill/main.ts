/**
 * `npm run drill` (issue #17): OpenFed under steady token and sign-in load while things break, one at
 * a time — a worker killed, Redis killed and restarted (or its master failed over), the domain
 * controllers cut (the first of two, then both), SIGTERM to the primary — and what each did to the
 * requests: how many failed and how, the longest time without a success, the time to recovery,
 * whether sessions survived, how many log lines it wrote.
 *
 *   npm run drill                        the full drill (~1 minute of faults), single Redis with AOF
 *   npm run drill -- --redis sentinel    with a master, a replica and a sentinel: a failover instead of the restart
 *   npm run drill -- --redis cluster     three masters, three replicas: a master's failover
 *   npm run drill -- --smoke             short phases, two workers (the CI's version, test/faults/drill-smoke.test.ts)
 *   npm run drill -- --soak 600          no faults: 10 minutes at half the measured capacity, memory at start and end
 *   npm run drill -- --drain-delay 500   server.shutdownDelayMs 500, the load through a balancer that probes /adfs/probe
 *
 * Exits 1 when a request hangs (no answer and no error in 5 s), a session is lost, a graceful shutdown
 * drops a request, a fault is not recovered from, OpenFed dies by itself, or (soak) memory grows beyond
 * noise; 2 when the drill itself could not run.
 */
import { statSync, readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { ConfigInput } from '../../src/config/schema.js';
import { build, ensureDc, freePort, installCleanupHandlers, isInterrupted, makeKeyPair, randomSecret, startOpenFed, stopAll, stopWithTheRest, type OpenFed } from '../bench/processes.js';
import { openfedConfig, SP_ENTITY_ID, SSO_PATH } from '../bench/setup.js';
import { samlRequestFactory, type SamlRequestFactory } from '../bench/tokens.js';
import { signIn } from '../bench/signin.js';
import { fmtInt, markdownTable } from '../bench/report.js';
import { loadAdFacts } from '../../test/helpers/ad.js';
import { startRedisCluster, startRedisSentinel, startRedisServer, stopServersWith } from '../../test/helpers/redis.js';
import { logVolume, summarise, summariseDrain, type FaultResult, type FaultWindow, type KindSummary } from './analysis.js';
import { DcAddresses, dcCut, drain, firstDcCut, redisFailover, redisRestart, workerKill, type Fault, type FaultContext, type RedisTopology } from './faults.js';
import { judgeGrowth, sampleFor, type MemorySample } from './soak.js';
import { Balancer, tokenRequest, Traffic, type TrafficOptions } from './traffic.js';

interface Options {
  smoke: boolean;
  redis: 'single' | 'sentinel' | 'cluster';
  workers: string;
  build: boolean;
  soak?: number;
  soakShare: number;
  drainDelay?: number;
  json?: string;
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
};

const program = new Command('drill')
  .description('Faults under load: what each does to requests, sessions and the log (issue #17).')
  .option('--smoke', 'short phases and two workers: the CI version (~1 minute)', false)
  .option('--redis <kind>', 'single (AOF) | sentinel | cluster', (v) => {
    if (v !== 'single' && v !== 'sentinel' && v !== 'cluster') throw new InvalidArgumentError('expected single, sentinel or cluster');
    return v;
  }, 'single')
  .option('--workers <n|auto>', "server.workers ('auto' = one per core)", 'auto')
  .option('--no-build', 'skip npm run build (use the dist/ that is there)')
  .option('--soak <seconds>', 'no faults: a steady phase this long at --soak-share of the measured capacity, sampling memory', positiveInt)
  .option('--soak-share <fraction>', 'share of the measured capacity the soak runs at', (v) => {
    const n = Number(v);
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number in (0, 1]');
    return n;
  }, 0.5)
  .option('--drain-delay <ms>', 'server.shutdownDelayMs, and the load sent through a balancer that probes /adfs/probe every 100 ms', positiveInt)
  .option('--json <file>', 'also write the results as JSON')
  .showHelpAfterError();

const log = (line: string) => process.stderr.write(`[drill] ${line}\n`);

interface Drill {
  traffic: Traffic;
  trafficOptions: TrafficOptions;
  witnesses: string[];
  /** AuthnRequests for the witness checks, each with its own ID (a reused one is refused as a replay). */
  witnessRequests: SamlRequestFactory;
  context: FaultContext;
}

async function main(): Promise<number> {
  const opts = program.parse(process.argv).opts<Options>();
  installCleanupHandlers();
  stopServersWith((stop) => stopWithTheRest('redis-server', stop));
  const timing = opts.smoke ? { before: 1000, after: 1000, downMs: 1500, warmUp: 1500 } : { before: 3000, after: 3000, downMs: 3000, warmUp: 5000 };
  const loops = opts.smoke ? { token: 6, signIn: 2, witnesses: 8 } : { token: 12, signIn: 4, witnesses: 20 };
  const workers = opts.workers === 'auto' ? (opts.smoke ? 2 : 'auto') : positiveInt(opts.workers);

  if (opts.build) {
    log('npm run build');
    await build();
  }
  const dir = mkdtempSync(join(tmpdir(), 'openfed-drill-'));
  try {
    const [signing, sp] = await Promise.all([makeKeyPair(dir, 'signing', 'sts.drill.test'), makeKeyPair(dir, 'sp', 'sp.drill.test')]);
    const redis = await startRedisTopology(opts.redis, dir);
    const dcInfo = await ensureDc(log);
    const ad = loadAdFacts(dcInfo.envFile);
    const ldapTarget = new URL(ad.ldapUrl);
    const dc = await DcAddresses.open({ host: ldapTarget.hostname, port: Number(ldapTarget.port || 389) }, 2);
    stopWithTheRest('DC proxies', () => dc.close());

    const port = await freePort();
    const base = openfedConfig(
      // redisUrl: replaced below by the topology's own settings (a URL, sentinels or cluster seeds).
      { dir, port, redisUrl: 'redis://unused', keyPrefix: 'drill:', signing, sp, csrfSecret: randomSecret(), workers },
      {
        ldap: {
          urls: dc.ports.map((p) => `ldap://${ldapTarget.hostname}:${p}`),
          caFile: ad.caFile,
          baseDn: ad.baseDn,
          bindDn: ad.svcDn,
          bindPassword: ad.users.SVC.password,
          connectTimeoutMs: 1000,
          timeoutMs: 2000,
        },
      },
    );
    const config: ConfigInput = {
      ...base,
      ...(opts.drainDelay ? { server: { ...base.server, shutdownDelayMs: opts.drainDelay } } : {}),
      management: { port: await freePort(), host: '127.0.0.1' },
      sessions: { redis: { ...redisConfig(redis), keyPrefix: 'drill:' }, ...(opts.soak ? { lifetimeMinutes: 1 } : {}) },
      // The soak: replay-cache entries expire after a minute and a bit, as sessions do.
      ...(opts.soak ? { saml: { requestMaxAgeMinutes: 1 } } : {}),
      // What an operator runs with: the drill counts the lines a real outage writes.
      log: { level: 'info' },
    };
    log(`starting OpenFed (server.workers ${workers}, Redis ${opts.redis}, two DC addresses in front of ${ad.ldapUrl})`);
    let openfed = await startOpenFed(dir, 'drill', config);
    const user = ad.users.NORMAL;
    const newSession = () => signIn(openfed.url, user.sam, user.password);
    const sessions = await Promise.all(Array.from({ length: loops.token }, newSession));
    const witnesses = opts.soak ? [] : await Promise.all(Array.from({ length: loops.witnesses }, newSession));
    const trafficOptions: TrafficOptions = {
      baseUrl: openfed.url,
      ssoUrl: `${String(config.server?.baseUrl)}${SSO_PATH}`,
      spEntityId: SP_ENTITY_ID,
      sessions,
      signInLoops: loops.signIn,
      username: user.sam,
      password: user.password,
    };
    const context: FaultContext = {
      primaryPid: () => openfed.pid,
      workerPids: async () => {
        const answer = await fetch(`http://127.0.0.1:${config.management!.port}/readyz`);
        const body = (await answer.json()) as { checks?: { pid: number }[] };
        return answer.ok ? (body.checks ?? []).map((c) => c.pid) : [];
      },
      redis,
      dc,
      downMs: timing.downMs,
      shutdownGraceMs: Number(config.server?.shutdownGraceMs),
      shutdownDelayMs: opts.drainDelay ?? 0,
      restartOpenFed: async () => {
        openfed = await startOpenFed(dir, 'drill', config);
      },
      log,
    };

    if (opts.soak) return await runSoak(opts, { ...trafficOptions, renewSession: newSession }, context, redis);

    const balancer = opts.drainDelay ? new Balancer(openfed.url) : undefined;
    if (balancer) stopWithTheRest('the balancer', () => balancer.stop());
    const traffic = new Traffic({ ...trafficOptions, ...(balancer ? { balancer } : {}) });
    const drill: Drill = { traffic, trafficOptions, witnesses, witnessRequests: samlRequestFactory({ idpSsoUrl: trafficOptions.ssoUrl, spEntityId: SP_ENTITY_ID }), context };
    log(
      `load: ${loops.token} token loops (one SSO session each), ${loops.signIn} sign-in loops as ${user.sam}; ${loops.witnesses} more sessions as witnesses` +
        (balancer ? `; through a balancer probing /adfs/probe every 100 ms, server.shutdownDelayMs ${opts.drainDelay}` : ''),
    );
    await sleep(timing.warmUp);
    const faults = [workerKill, opts.redis === 'single' ? redisRestart : redisFailover, firstDcCut, dcCut, drain];
    const results: FaultResult[] = [];
    try {
      for (const fault of faults) {
        results.push(await runFault(drill, fault, timing, () => openfed));
      }
    } finally {
      await traffic.stop();
    }
    printReport(results, opts, traffic.outcomes.length);
    await balancer?.stop();
    // A hang between the faults' windows (the warm-up) fails the drill as much as one inside them.
    const problems = results.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
    const hangs = traffic.outcomes.filter((o) => o.result === 'hang').length;
    const counted = results.reduce((n, r) => n + (r.token.failed.hang ?? 0) + (r.signin.failed.hang ?? 0), 0);
    if (hangs > counted) problems.push(`${hangs - counted} request(s) hung outside the faults' windows`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ redis: opts.redis, workers, requests: traffic.outcomes.length, results, problems }, null, 2));
    if (problems.length > 0) {
      process.stdout.write(`\nTHE DRILL FOUND PROBLEMS:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);
      return 1;
    }
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startRedisTopology(kind: Options['redis'], dir: string): Promise<RedisTopology> {
  switch (kind) {
    case 'single': {
      // As the README tells operators to run it: AOF, fsync every second.
      const data = join(dir, 'redis');
      mkdirSync(data);
      return { kind, server: await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', data] }) };
    }
    case 'sentinel':
      return { kind, setup: await startRedisSentinel({ downAfterMs: 1000 }) };
    case 'cluster':
      // The README's settings: a short node timeout, and a cluster that serves the slots it still has.
      return { kind, setup: await startRedisCluster({ masters: 3, replicas: 3, args: ['--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no'] }) };
  }
}

function redisConfig(redis: RedisTopology): Record<string, unknown> {
  switch (redis.kind) {
    case 'single':
      return { url: redis.server.url };
    case 'sentinel':
      return { sentinels: redis.setup.sentinels, name: redis.setup.name };
    case 'cluster':
      return { cluster: redis.setup.seeds };
  }
}

function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

async function runFault(drill: Drill, fault: Fault, timing: { before: number; after: number }, current: () => OpenFed): Promise<FaultResult> {
  const logFile = current().logFile;
  const from = Date.now();
  await sleep(timing.before);
  const logFrom = logSize(logFile);
  log(`${fault.name}: ${fault.what}`);
  const faultAt = Date.now();
  const problems: string[] = [];
  let restoredAt = faultAt;
  let notes: string[] = [];
  try {
    const outcome = await fault.run(drill.context);
    ({ restoredAt, notes } = outcome);
    problems.push(...(outcome.problems ?? []));
  } catch (err) {
    problems.push(`the fault could not be dealt or undone: ${(err as Error).message}`);
  }
  const recovered = await waitRecovered(drill.traffic, restoredAt, 30_000);
  if (!recovered) problems.push('not recovered within 30 s of the cause being removed');
  await sleep(timing.after);
  const to = Date.now();
  const logText = readFileSync(logFile).subarray(logFrom).toString('utf8');

  const window: FaultWindow = { from, faultAt, restoredAt, to };
  const token = summarise(drill.traffic.outcomes, 'token', window);
  const signin = summarise(drill.traffic.outcomes, 'signin', window);
  const lost = await lostWitnesses(drill);
  const result: FaultResult = {
    name: fault.name,
    what: fault.what,
    notes,
    token,
    signin,
    witnesses: { checked: drill.witnesses.length, lost },
    logs: logVolume(logText),
    problems,
  };
  if (fault === drain) {
    result.drain = summariseDrain(drill.traffic.outcomes, faultAt);
    for (const d of result.drain.dropped) problems.push(`a request dropped in the drain: ${d.label}, sent ${d.sentAfterSignalMs} ms after SIGTERM`);
  }
  const hangs = (token.failed.hang ?? 0) + (signin.failed.hang ?? 0);
  if (hangs > 0) problems.push(`${hangs} request(s) hung (no answer, no error in 5 s)`);
  if (token.failed['session lost']) problems.push(`${token.failed['session lost']} token request(s) found their session gone`);
  if (lost > 0) problems.push(`${lost} of ${drill.witnesses.length} witness sessions lost`);
  if (fault !== drain && current().exited()) problems.push('OpenFed exited');
  log(`${fault.name}: ${problems.length === 0 ? 'passed' : problems.join('; ')}`);
  return result;
}

/** Recovered: the last few outcomes of each kind succeeded, the latest after the cause was removed. */
async function waitRecovered(traffic: Traffic, since: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const whole = (['token', 'signin'] as const).every((kind) => {
      const recent = traffic.outcomes.filter((o) => o.kind === kind).slice(-3);
      return recent.length === 3 && recent.every((o) => o.result === 'ok') && recent[2]!.endedAt > since;
    });
    if (whole) return true;
    await sleep(50);
  }
  return false;
}

/** One token request per witness session (fresh connection); a transient error is tried again. */
async function lostWitnesses(drill: Drill): Promise<number> {
  let lost = 0;
  for (const cookie of drill.witnesses) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const outcome = await tokenRequest(drill.trafficOptions, cookie, false, drill.witnessRequests.next);
      if (outcome.result === 'ok') break;
      if (outcome.result === 'session-lost') {
        lost++;
        break;
      }
      await sleep(250);
    }
  }
  return lost;
}

async function runSoak(opts: Options, trafficOptions: TrafficOptions, context: FaultContext, redis: RedisTopology): Promise<number> {
  const seconds = opts.soak!;
  // A fresh process spends its first seconds compiling: measured cold, the capacity would be a third low.
  log('warm-up: 10 s unpaced; then the capacity: 10 s unpaced');
  const warmUp = new Traffic(trafficOptions);
  await sleep(10_000);
  await warmUp.stop();
  const probe = new Traffic(trafficOptions);
  await sleep(10_000);
  await probe.stop();
  const rate = (kind: 'token' | 'signin') => probe.outcomes.filter((o) => o.kind === kind && o.result === 'ok').length / 10;
  const tokenRate = rate('token');
  const signInRate = rate('signin');
  log(`capacity ${fmtInt(tokenRate)} tokens/s and ${fmtInt(signInRate)} sign-ins/s; soak at ${Math.round(opts.soakShare * 100)} % for ${seconds} s`);
  const paced = new Traffic({
    ...trafficOptions,
    tokenPace: (opts.soakShare * tokenRate) / trafficOptions.sessions.length,
    signInPace: (opts.soakShare * signInRate) / trafficOptions.signInLoops,
  });
  let samples: MemorySample[];
  try {
    samples = await sampleFor({ durationMs: seconds * 1000, everyMs: 15_000, primaryPid: context.primaryPid, redis, log });
  } finally {
    await paced.stop();
  }
  // Sessions live a minute, replay-cache entries two (one minute's window plus the default skew):
  // the comparison starts once both have expired at least once.
  const steadyFrom = 150_000;
  const start = samples.find((s) => s.at >= steadyFrom) ?? samples[0]!;
  const end = samples[samples.length - 1]!;
  const growth = start === end ? ['the soak was too short to compare (needs more than 150 s)'] : judgeGrowth(start, end);
  const bad = paced.outcomes.filter((o) => o.result !== 'ok' && o.result !== 'session-lost');
  const expired = paced.outcomes.filter((o) => o.result === 'session-lost').length;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const rows = [...start.rss.keys()].map((pid) => [`OpenFed process ${pid}`, mb(start.rss.get(pid)!), end.rss.has(pid) ? mb(end.rss.get(pid)!) : 'gone']);
  rows.push(['Redis memory (data)', mb(start.redisBytes), mb(end.redisBytes)], ['Redis keys', fmtInt(start.redisKeys), fmtInt(end.redisKeys)]);
  process.stdout.write(
    `\nSoak: ${seconds} s at ${Math.round(opts.soakShare * 100)} % of ${fmtInt(tokenRate)} tokens/s and ${fmtInt(signInRate)} sign-ins/s; ` +
      `${fmtInt(paced.outcomes.length)} requests, ${bad.length} failed, ${expired} sessions expired and signed in again.\n` +
      `Memory at ${Math.round(start.at / 1000)} s and at ${Math.round(end.at / 1000)} s:\n\n${markdownTable(['', 'start', 'end'], rows)}\n\n` +
      (growth.length ? `GREW BEYOND NOISE:\n${growth.map((g) => `- ${g}`).join('\n')}\n` : 'No growth beyond noise.\n'),
  );
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ soak: { seconds, tokenRate, signInRate, start: plain(start), end: plain(end), growth, failed: bad.length } }, null, 2));
  return growth.length > 0 || bad.length > 0 ? 1 : 0;
}

const plain = (s: MemorySample) => ({ ...s, rss: Object.fromEntries(s.rss) });

function printReport(results: readonly FaultResult[], opts: Options, total: number): void {
  const failures = (s: KindSummary) => {
    const parts = Object.entries(s.failed).map(([how, n]) => `${n}× ${how}`);
    return `${s.requests - s.ok}/${fmtInt(s.requests)}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  };
  const ms = (n: number | undefined) => (n === undefined ? 'not recovered' : `${fmtInt(n)} ms`);
  const rows = results.map((r) => [
    r.name,
    failures(r.token),
    failures(r.signin),
    `${ms(r.token.longestGapMs)} / ${ms(r.signin.longestGapMs)}`,
    `${ms(r.token.recoveryMs)} / ${ms(r.signin.recoveryMs)}`,
    `${r.witnesses.checked - r.witnesses.lost}/${r.witnesses.checked}`,
    `${Object.entries(r.logs.byLevel).map(([l, n]) => `${n} ${l}`).join(', ') || 'none'}`,
    `${fmtInt(r.logs.requestLines)} (${(r.logs.requestLines / Math.max(1, r.token.requests + r.signin.requests)).toFixed(1)} per request)`,
  ]);
  process.stdout.write(
    `\nDrill (Redis ${opts.redis}${opts.smoke ? ', smoke' : ''}${opts.drainDelay ? `, through a probing balancer, server.shutdownDelayMs ${opts.drainDelay}` : ''}): ${fmtInt(total)} requests\n\n` +
      markdownTable(['fault', 'tokens failed', 'sign-ins failed', 'longest gap token / sign-in', 'recovery token / sign-in', 'sessions', 'service log lines', 'request log lines'], rows) +
      '\n\n' +
      results
        .flatMap((r) => [
          ...r.notes.map((n) => `- ${r.name}: ${n}`),
          ...Object.entries(r.logs.warnings)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 3)
            .map(([msg, n]) => `- ${r.name}: logged ${n}× "${msg}"`),
          ...(r.drain
            ? [
                `- ${r.name}: ${r.drain.inFlightAnswered}/${r.drain.inFlight} requests in flight answered; ${r.drain.answeredAfterSignal} sent after the signal answered; ` +
                  `listener closed ${r.drain.listenerClosedAfterMs === undefined ? '(no refusal seen)' : `${r.drain.listenerClosedAfterMs} ms`} after SIGTERM; ` +
                  `${r.drain.idleKeepAliveClosed} idle keep-alive connection(s) closed as a request was sent on them; ` +
                  `${r.drain.resetInAcceptQueue} fresh connection(s) reset from the accept queue as the listener closed; ${r.drain.dropped.length} dropped`,
              ]
            : []),
        ])
        .join('\n') +
      '\n',
  );
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    if (isInterrupted()) return;
    process.stderr.write(`[drill] could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(2);
  },
);

