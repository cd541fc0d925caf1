/**
 * The processes the bench starts — redis-server, OpenFed from dist/, the Samba DC when none runs —
 * and the one place that stops them again, also on Ctrl-C or a failure. Each is started in a process
 * group of its own, so stopping OpenFed also stops its cluster workers, by that group's id only.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';

const run = promisify(execFile);

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

// ------------------------------------------------------------------------------------ cleanup

type Stopper = () => Promise<void>;
const stoppers: { name: string; stop: Stopper; killNow: () => void }[] = [];

/** Stops everything started so far, newest first. Safe to call more than once. */
export async function stopAll(): Promise<void> {
  while (stoppers.length > 0) {
    const s = stoppers.pop()!;
    try {
      await s.stop();
    } catch (err) {
      process.stderr.write(`[bench] stopping ${s.name} failed: ${(err as Error).message}\n`);
    }
  }
}

let handlersInstalled = false;
let interrupted = false;
/** Whether Ctrl-C or SIGTERM is stopping the bench (what fails afterwards is a consequence, not news). */
export const isInterrupted = () => interrupted;
/** Ctrl-C, SIGTERM and a plain exit all end the children; a signal then exits 130/143. */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      interrupted = true;
      process.stderr.write(`\n[bench] ${signal}: stopping what the bench started\n`);
      void stopAll().finally(() => process.exit(code));
    });
  }
  // Last resort when the event loop is gone: only synchronous kills are possible here.
  process.once('exit', () => {
    for (const s of stoppers) s.killNow();
  });
}

/**
 * Has `undo` run also when the bench is interrupted or fails (it must be synchronous: on exit nothing
 * else can run). Returns it, to call when done; it runs once.
 */
export function undoOnExit(name: string, undo: () => void): () => void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    undo();
  };
  stoppers.push({ name, stop: async () => once(), killNow: once });
  return once;
}

/** Has `stop` run with everything else the script started (newest first), also on Ctrl-C. */
export function stopWithTheRest(name: string, stop: Stopper, killNow: () => void = () => undefined): void {
  stoppers.push({ name, stop, killNow });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
  // The group may still hold workers even after the primary left.
  killGroup(child, 'SIGKILL');
  if (timedOut) await exited;
}

function track(name: string, child: ChildProcess, graceMs: number): void {
  stoppers.push({ name, stop: () => stopGroup(child, graceMs), killNow: () => killGroup(child, 'SIGKILL') });
}

// ------------------------------------------------------------------------------------ helpers

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not allocate a port');
  return address.port;
}

function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

const openfedLogs: string[] = [];

/**
 * The last warnings and errors OpenFed logged (JSON lines, level ≥ 40), for a failure report: a bench
 * that only says "answered 503" leaves the cause in a temporary directory nobody reads.
 */
export function openfedProblems(lines = 15): string {
  return problemsIn(openfedLogs, lines);
}

export function problemsIn(files: readonly string[], lines: number): string {
  const problems: string[] = [];
  for (const file of files) {
    const wanted = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 0) >= 40)
      .slice(-lines);
    if (wanted.length > 0) problems.push(`${file}:\n${wanted.join('\n')}`);
  }
  return problems.join('\n');
}

/** `npm run build`: the bench measures what `npm start` runs. */
export async function build(): Promise<void> {
  try {
    await run('npm', ['run', 'build'], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${(e.stdout ?? '').slice(-3000)}${(e.stderr ?? '').slice(-2000)}`);
  }
}

// ------------------------------------------------------------------------------------ redis

export interface BenchRedis {
  port: number;
  url: string;
  pid: number;
}

export async function startRedis(dir: string): Promise<BenchRedis> {
  const port = await freePort();
  const logFile = join(dir, 'redis.log');
  const out = openSync(logFile, 'a');
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', out, out],
    detached: true,
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  track('redis-server', child, 2000);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, sleep(50).then(() => undefined)]);
    if (failed) throw new Error(`redis-server could not start (${failed.message}): install it with apt-get install redis-server`);
    if (child.exitCode !== null) throw new Error(`redis-server exited at start:\n${tail(logFile)}`);
    if (await tcpOpen('127.0.0.1', port, 200)) return { port, url: `redis://127.0.0.1:${port}`, pid: child.pid! };
  }
  throw new Error(`redis-server did not listen within 5 s:\n${tail(logFile)}`);
}

// ------------------------------------------------------------------------------------ OpenFed

/** Whether this build's schema knows server.workers (cluster mode), so the bench runs before and after it lands. */
export function clusterModeSupported(): boolean {
  return configSchema.safeParse({ server: { workers: 2 } }).success;
}

export interface OpenFed {
  url: string;
  pid: number;
  logFile: string;
  /** Rejects when the process exits before stop(): a crash mid-run breaks the bench. */
  crashed: Promise<never>;
  exited(): boolean;
  stop(): Promise<void>;
}

/** Writes the configuration file and starts `node dist/main.js` in production mode; waits for /readyz. */
export async function startOpenFed(dir: string, name: string, config: ConfigInput, nodeArgs: readonly string[] = []): Promise<OpenFed> {
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, `${name}.yaml`);
  writeFileSync(configFile, stringify(config), { mode: 0o600 });
  const logFile = join(dir, `${name}.log`);
  const out = openSync(logFile, 'a');
  openfedLogs.push(logFile);
  const entry = join(REPO, 'dist', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} missing: the build did not produce it`);
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'production', OPENFED_CONFIG: configFile },
    stdio: ['ignore', out, out],
    detached: true,
  });
  let stopping = false;
  const crashed = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (!stopping) reject(new Error(`OpenFed (${name}) exited during the bench (${signal ?? `code ${code}`}):\n${tail(logFile)}`));
    });
  });
  crashed.catch(() => undefined); // observed by whoever races against it
  track(`OpenFed ${name}`, child, 5000);

  const base = `http://127.0.0.1:${config.server?.port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`OpenFed (${name}) exited at start (${child.signalCode ?? `code ${child.exitCode}`}):\n${tail(logFile)}`);
    }
    const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ready) {
      return {
        url: base,
        pid: child.pid!,
        logFile,
        crashed,
        exited: () => child.exitCode !== null || child.signalCode !== null,
        stop: async () => {
          stopping = true;
          await stopGroup(child, 5000);
        },
      };
    }
    await sleep(100);
  }
  throw new Error(`OpenFed (${name}) was not ready within 30 s:\n${tail(logFile)}`);
}

// ------------------------------------------------------------------------------------ floor server

/** The floor server (floor-server.ts): what a load phase needs of a target, and a way to stop it. */
export type FloorServer = Pick<OpenFed, 'url' | 'pid' | 'crashed' | 'exited' | 'stop'>;

/** Starts floor-server.ts with tsx; resolves once it answers a GET with the page. */
export async function startFloorServer(o: { port: number; workers: number; bodyBytes: number }): Promise<FloorServer> {
  const script = new URL('./floor-server.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(o.port), String(o.workers), String(o.bodyBytes)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Its only output is a stack trace when it fails; the end of that is enough to say why.
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let stopping = false;
  const crashed = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (!stopping) reject(new Error(`the floor server exited during the bench (${signal ?? `code ${code}`}):\n${output.trim()}`));
    });
  });
  crashed.catch(() => undefined); // observed by whoever races against it
  track('floor server', child, 2000);

  const url = `http://127.0.0.1:${o.port}`;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`the floor server exited at start (${child.signalCode ?? `code ${child.exitCode}`}):\n${output.trim()}`);
    const answers = await fetch(`${url}/`).then((r) => r.text().then(() => r.ok), () => false);
    if (answers) {
      return {
        url,
        pid: child.pid!,
        crashed,
        exited,
        stop: async () => {
          stopping = true;
          await stopGroup(child, 2000);
        },
      };
    }
    await sleep(100);
  }
  throw new Error(`the floor server did not answer within 30 s:\n${output.trim()}`);
}

// ------------------------------------------------------------------------------------ keys

export interface PemPair {
  keyFile: string;
  certFile: string;
  keyPem: string;
  certPem: string;
}

/** RSA-2048 key and self-signed certificate, made with openssl as an administrator would. */
export async function makeKeyPair(dir: string, name: string, cn: string): Promise<PemPair> {
  const keyFile = join(dir, `${name}-key.pem`);
  const certFile = join(dir, `${name}-cert.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`]);
  return { keyFile, certFile, keyPem: readFileSync(keyFile, 'utf8'), certPem: readFileSync(certFile, 'utf8') };
}

export const randomSecret = () => randomBytes(32).toString('base64url');

// ------------------------------------------------------------------------------------ Samba DC

/** Where the test suite's throwaway domain lives (scripts/test.sh uses the same variable and default). */
export const AD_DIR = process.env.OPENFED_TEST_AD_DIR ?? '/tmp/openfed-samba-ad';

/** The pid in the DC's pid file, when there is one: the root of Samba's process tree. */
export function dcPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'run', 'samba.pid'), 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The test domain controller: one that answers LDAP is reused and left running (other engineers'
 * tests use it); otherwise the bench starts one and stops it at the end — unless by then the DC is no
 * longer the one it started (samba-ad.sh from a test run replaces a running DC), which is left alone.
 * samba-ad.sh is only called when no DC answers, since it would replace a running one.
 */
export async function ensureDc(log: (line: string) => void): Promise<{ envFile: string; started: boolean }> {
  const envFile = join(AD_DIR, 'ad.env');
  if (existsSync(envFile) && (await tcpOpen('127.0.0.1', 389))) return { envFile, started: false };
  log('no Samba AD DC answering: starting one (test/setup/samba-ad.sh)');
  try {
    await run('bash', [join(REPO, 'test/setup/samba-ad.sh'), AD_DIR], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`test/setup/samba-ad.sh failed (use --no-ad to skip the sign-in part):\n${(e.stderr ?? '').slice(-2000)}`);
  }
  const ours = dcPid(AD_DIR);
  stoppers.push({
    name: 'Samba AD DC',
    stop: async () => {
      const now = dcPid(AD_DIR);
      if (ours === undefined || now !== ours) {
        log(`the Samba DC is no longer the one the bench started (pid ${ours ?? '?'} → ${now ?? 'none'}): left as it is`);
        return;
      }
      const { stderr } = await run('bash', [join(REPO, 'test/setup/samba-ad-stop.sh'), AD_DIR]);
      log(`Samba DC ${ours} stopped: ${stderr.trim().split('\n').join(' | ')}`);
    },
    killNow: () => undefined, // its stop script is asynchronous; Ctrl-C and failures take the path above
  });
  return { envFile, started: true };
}
