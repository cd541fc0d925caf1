/**
 * `npm run bench` (issue #7): how close token issuance comes to the RSA signing floor, and the other
 * numbers of the issue, on this machine, written to BENCHMARKS.md.
 *
 *   npm run bench                   the full run, ~2-4 minutes
 *   npm run bench -- --quick        a ~1 minute smoke run (prints, does not write BENCHMARKS.md)
 *   npm run bench -- --help         every option
 *
 * Beside OpenFed's token phases, a floor phase loads a bare node:http server that only signs once per
 * response (floor-server.ts): the ceiling of the efficiency figure on this machine, in the same run.
 *
 * Exits non-zero only when the bench itself broke (a token that does not validate, a bad response,
 * an OpenFed process that died); a missed target is reported, not a failure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { floorPhase, floorWorkerCount } from './floor.js';
import {
  metadataPhase,
  prepareTokens,
  sessionMemoryPhase,
  signInPhase,
  tokenPhase,
  warmUp,
  type PhaseResult,
  type SignInResult,
} from './phases.js';
import { build, clusterModeSupported, freePort, installCleanupHandlers, isInterrupted, makeKeyPair, openfedProblems, randomSecret, REPO, startOpenFed, startRedis, stopAll } from './processes.js';
import { hotFunctions, readProfiles } from './profile.js';
import type { SessionMemory } from './redis-memory.js';
import {
  ceilingNote,
  dcCapacityShare,
  efficiencyResult,
  floorScenario,
  fmt1,
  fmt2,
  fmtBytes,
  fmtInt,
  fmtMB,
  fmtMs,
  markdownTable,
  perUnitMs,
  renderMarkdown,
  row,
  scenarioTable,
  targetsTable,
  TARGETS,
  type Report,
  type Row,
  type ScenarioLine,
} from './report.js';
import { log, machine, openfedConfig, writeDemoUsers, type Setup } from './setup.js';

interface Options {
  quick: boolean;
  build: boolean;
  ad: boolean;
  floor: boolean;
  workers: string;
  duration?: number;
  sessions?: number;
  signedRequests: boolean;
  output?: string;
  cpuProf?: string;
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
  .option('--no-floor', 'skip the floor phases (a bare node:http server that signs once per response: the efficiency ceiling)')
  .option('--workers <n|auto>', "OpenFed processes: server.workers when this build has cluster mode ('auto' = one per core), else 1", 'default')
  .option('--duration <seconds>', 'seconds per load phase (default 10, quick 2)', positiveInt)
  .option('--sessions <n>', 'sessions made for the Redis memory figure (default 100, quick 40)', positiveInt)
  .option('--signed-requests', 'sign every AuthnRequest (Redirect binding signature), as an SP that must sign', false)
  .option('--output <file>', 'where the results go (default BENCHMARKS.md; none for --quick)')
  .option('--cpu-prof <dir>', 'run the token OpenFed with node --cpu-prof into <dir> and print its hottest functions')
  .showHelpAfterError();

/** server.workers for this run: undefined when the build has no cluster mode (one process). */
function resolveWorkers(option: string): number | 'auto' | undefined {
  const cluster = clusterModeSupported();
  if (option === 'default') return cluster ? 'auto' : undefined;
  const workers = option === 'auto' ? 'auto' : positiveInt(option);
  if (cluster) return workers;
  if (workers === 1) return undefined;
  throw new Error(`--workers ${option}: this build has no cluster mode (no server.workers in src/config/schema.ts); run without --workers`);
}

interface Measured {
  scenarios: ScenarioLine[];
  failures: string[];
  notes: string[];
  rssMax: Map<number, number>;
  processes: number;
  sessionMemory?: SessionMemory;
  signIn?: SignInResult;
}

function absorb(m: Measured, phase: PhaseResult): void {
  m.scenarios.push(phase.line);
  m.failures.push(...phase.failures);
  for (const [pid, rss] of phase.load.rssMax ?? []) m.rssMax.set(pid, Math.max(rss, m.rssMax.get(pid) ?? 0));
  m.processes = Math.max(m.processes, phase.load.processes);
}

async function main(): Promise<number> {
  const opts = program.parse(process.argv).opts<Options>();
  installCleanupHandlers();
  const started = Date.now();
  const host = machine();
  const seconds = opts.duration ?? (opts.quick ? 2 : 10);
  const rawSeconds = opts.quick ? 1 : 2;
  const sessionCount = opts.sessions ?? (opts.quick ? 40 : 100);
  const output = opts.output ?? (opts.quick ? undefined : join(REPO, 'BENCHMARKS.md'));
  log(`${host.cpuModel}, ${host.cores} cores, Node ${host.node}, load average ${host.loadAverage.map(fmt2).join(' ')}`);

  if (opts.build) {
    log('npm run build');
    await build();
  }
  const workers = resolveWorkers(opts.workers);

  const dir = mkdtempSync(join(tmpdir(), 'openfed-bench-'));
  const m: Measured = { scenarios: [], failures: [], notes: [], rssMax: new Map(), processes: 0 };
  try {
    const [signing, sp, redis] = await Promise.all([makeKeyPair(dir, 'signing', 'sts.bench.test'), makeKeyPair(dir, 'sp', 'sp.bench.test'), startRedis(dir)]);
    const usersFile = join(dir, 'demo-users.json');
    await writeDemoUsers(usersFile);
    const setup: Setup = { dir, port: await freePort(), redisUrl: redis.url, keyPrefix: 'bench:', signing, sp, csrfSecret: randomSecret(), ...(workers !== undefined ? { workers } : {}) };

    log(`starting OpenFed (demo directory, ${workers !== undefined ? `server.workers ${workers}` : 'one process'})`);
    const profileDir = opts.cpuProf ? resolve(opts.cpuProf) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    const openfed = await startOpenFed(dir, 'tokens', openfedConfig(setup, { demo: { usersFile } }), nodeArgs);
    const rig = await prepareTokens(openfed, signing, sp, opts.signedRequests);
    log('first tokens validate (node-saml, xmlsec1); tampered copies are refused');
    // Before the load: later the replay cache holds thousands of keys, and its table growth and expiry
    // would blur a delta of a few hundred bytes per session.
    m.sessionMemory = await sessionMemoryPhase(rig, redis.url, setup.keyPrefix, sessionCount);
    // Compiled code, warm caches and a replay cache in steady state, as a server that has been up a while.
    log('warm-up');
    await warmUp(rig, opts.quick ? 1 : 5);
    for (const protocol of ['saml2', 'wsfed'] as const) {
      for (const connections of [16, 64]) absorb(m, await tokenPhase(rig, protocol, connections, seconds, rawSeconds));
    }
    absorb(m, await metadataPhase(openfed, seconds));
    await openfed.stop();
    if (profileDir) printHotFunctions(profileDir);

    // After OpenFed has stopped, so the two never share the cores; RSS and process count stay OpenFed's.
    if (opts.floor) {
      for (const connections of [16, 64]) {
        const floor = await floorPhase(connections, seconds, rawSeconds, floorWorkerCount(workers), rig.samlPageBytes);
        m.scenarios.push(floor.line);
        m.failures.push(...floor.failures);
      }
    } else {
      m.notes.push('--no-floor: the ceiling (a bare node:http server signing once per response) was not measured.');
    }

    if (opts.ad) {
      m.signIn = await signInPhase(setup, seconds, opts.quick ? 3 : 15);
      m.scenarios.push(m.signIn.line);
      m.failures.push(...m.signIn.failures);
      m.notes.push(m.signIn.note);
    } else {
      m.notes.push('--no-ad: password sign-ins against the Samba AD DC were not measured.');
    }

    const ceiling = ceilingNote(m.scenarios.filter((s) => s.scenario === floorScenario(s.connections)));
    const report: Report = {
      machine: host,
      mode: `${opts.quick ? 'quick' : 'full'} (${seconds} s per load phase, raw signing ${rawSeconds} s before and after each token${opts.floor ? ' and floor' : ''} phase, ${opts.signedRequests ? 'signed' : 'unsigned'} AuthnRequests)`,
      workers: workers === undefined ? '1 process (this build has no cluster mode)' : `server.workers ${workers} (${m.processes} processes, the primary included)`,
      rows: targetRows(m),
      scenarios: m.scenarios,
      notes: [
        ...(ceiling ? [ceiling] : []),
        ...m.notes,
        `Redis: ${m.sessionMemory.sessions} sessions; MEMORY USAGE ${fmtBytes(m.sessionMemory.sessionKeyBytes)} per sess key + ` +
          `${fmtBytes(m.sessionMemory.userIndexBytesPerSession)} per entry of the user index. The INFO used_memory delta leaves out ` +
          `replication and client buffers (they grow with traffic, not with sessions) and ${fmtBytes(m.sessionMemory.otherBytesPerSession)} ` +
          `per session of other new keys (replay-cache entries of its token requests).`,
        `RSS per OpenFed process (max during the 64-connection phases): ${[...m.rssMax.values()].map(fmtMB).join(', ') || 'not sampled'}.`,
        `Whole run: ${Math.round((Date.now() - started) / 1000)} s.`,
      ],
      failures: m.failures,
    };
    process.stdout.write(`\n${targetsTable(report.rows)}\n\n${scenarioTable(m.scenarios)}\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (m.failures.length > 0) {
      process.stdout.write(`\nTHE BENCH BROKE:\n${m.failures.map((f) => `- ${f}`).join('\n')}\n`);
      if (output) log(`${output} left as it was: a broken run does not replace results`);
      return 1;
    }
    if (output) {
      writeFileSync(output, renderMarkdown(report));
      log(`wrote ${output}`);
    } else {
      log('quick run: BENCHMARKS.md not written (--output <file> writes one)');
    }
    return 0;
  } catch (err) {
    // Read before the directory with the logs goes; an interrupted run broke nothing worth reading.
    const problems = isInterrupted() ? '' : openfedProblems();
    if (problems) process.stderr.write(`[bench] OpenFed's last warnings and errors:\n${problems}\n`);
    throw err;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every phase of the token OpenFed is in the profile (sign-in, tokens, metadata), as in production. */
function printHotFunctions(dir: string): void {
  const profiles = readProfiles(dir);
  if (profiles.length === 0) {
    log(`--cpu-prof: no profile written to ${dir} (did OpenFed exit cleanly?)`);
    return;
  }
  const rows = hotFunctions(profiles, 25).map((f) => [`${(f.share * 100).toFixed(1)} %`, f.name, f.location]);
  process.stdout.write(`\nOpenFed self time, ${profiles.length} process profile(s) in ${dir}:\n${markdownTable(['self', 'function', 'where'], rows)}\n`);
}

function targetRows(m: Measured): Row[] {
  const rows: Row[] = [];
  const line = (name: string) => m.scenarios.find((s) => s.scenario === name);
  for (const protocol of ['SAML 2.0', 'WS-Fed']) {
    for (const connections of [16, 64]) {
      const s = line(`${protocol} @${connections}`);
      if (!s) continue;
      rows.push(row(`${protocol} efficiency @${connections}`, s.efficiency, efficiencyResult(s, line(floorScenario(connections))), TARGETS.efficiency));
      rows.push(row(`${protocol} p99 @${connections}`, s.p99, `${fmtMs(s.p99)} (p50 ${fmtMs(s.p50)})`, connections === 16 ? TARGETS.p99At16 : TARGETS.p99At64));
      rows.push(row(`${protocol} errors @${connections}`, s.bad, String(s.bad), TARGETS.errors));
    }
  }
  const md = line('metadata GET @64');
  if (md) rows.push(row('metadata GET/s @64', md.perSecond, fmtInt(md.perSecond), TARGETS.metadataPerSecond));
  if (m.signIn) {
    const signIns = m.signIn.signIns.units / m.signIn.signIns.seconds;
    const binds = m.signIn.binds.binds / m.signIn.binds.seconds;
    const share = binds > 0 ? signIns / binds : 0;
    rows.push(row('password sign-ins ÷ DC binds (wall clock)', share, `${Math.round(share * 100)} % (${fmt1(signIns)}/s vs ${fmt1(binds)} binds/s; ${m.signIn.layout})`, TARGETS.signInShareOfBinds));
    const { dcCpu } = m.signIn;
    const capacity = dcCapacityShare(m.signIn.signIns.units, dcCpu.signIns, m.signIn.binds.binds, dcCpu.binds);
    rows.push(
      row(
        'password sign-ins ÷ DC binds (DC CPU)',
        capacity > 0 ? capacity : undefined,
        capacity > 0 ? `${Math.round(capacity * 100)} % (${perUnitMs(dcCpu.signIns, m.signIn.signIns.units)} vs ${perUnitMs(dcCpu.binds, m.signIn.binds.binds)} of DC CPU)` : 'DC CPU not measured',
        TARGETS.signInShareOfBinds,
      ),
    );
  } else {
    rows.push(row('password sign-ins ÷ DC binds', undefined, 'not measured (--no-ad)', TARGETS.signInShareOfBinds));
  }
  if (m.sessionMemory) {
    // MEMORY USAGE is exact per key; the INFO delta (shown beside it) also catches what keys do not
    // account for, but moves by tens of KB between runs, so the verdict goes by the keys.
    const s = m.sessionMemory;
    const perSession = s.sessionKeyBytes + s.userIndexBytesPerSession;
    rows.push(row('Redis per SSO session', perSession, `${fmtBytes(perSession)} (INFO delta ${fmtBytes(s.infoBytesPerSession)})`, TARGETS.redisBytesPerSession));
  }
  const rss = Math.max(0, ...m.rssMax.values());
  rows.push(row('RSS per OpenFed process under load', rss > 0 ? rss : undefined, rss > 0 ? fmtMB(rss) : 'not sampled', TARGETS.rssBytesPerWorker));
  return rows;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    if (isInterrupted()) return; // the signal handler stops everything and exits
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
