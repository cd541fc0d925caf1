/**
 * A worker killed (SIGKILL) under steady token load must never leave a request hanging: every
 * request gets an answer or a reset (a load balancer retries a reset; it waits on a hang). Issue #17.
 *
 * Two cluster workers, client loops sending SAML Redirect requests with one SSO cookie — most on a
 * fresh connection each, so that every request goes through the cluster's hand-off of an accepted
 * connection to a worker, two on keep-alive connections — while a worker is killed ten times, each
 * time once its predecessor's replacement listens. A request with neither an answer nor an error
 * after 5 s is a hang; the failure says which process held the server side of it, and when it
 * was sent relative to the kill.
 *
 * OPENFED_TEST_WORKER_KILLS sets the number of kills (default 10); OPENFED_TEST_WORKER_WARMUP_MS the
 * load before the first kill of each farm (default 400 ms), over which the summary also gives each
 * worker's share of the requests.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { csrfFrom } from '../helpers/server.js';
import { startRedisServer } from '../helpers/redis.js';
import { craftAuthnRequest, makeKeyPair, redirectQuery } from '../helpers/saml.js';
import { CookieJar, eventually, send, startOpenFed, type OpenFedProcess } from '../farm/processes.js';

const KILLS = Number(process.env.OPENFED_TEST_WORKER_KILLS ?? 10);
const HANG_MS = 5_000;
const FRESH_CONNECTION_LOOPS = 8;
const KEEP_ALIVE_LOOPS = 2;
/** Load after each replacement before the next kill: both workers busy again. */
const STEADY_MS = 400;
const WARMUP_MS = Number(process.env.OPENFED_TEST_WORKER_WARMUP_MS ?? STEADY_MS);
const KILLS_PER_FARM = 5;
const SP = 'https://sp.worker-kill.test';
const BASE_URL = 'http://sts.worker-kill.test';

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis = await startRedisServer();

interface Outcome {
  sentAt: number;
  endedAt: number;
  kind: 'answer' | 'error' | 'hang';
  status?: number;
  error?: string;
  /** The client's port: how holderOf() finds the server side of a hung connection. */
  localPort?: number;
  /** For a hang: which process held the accepted connection, when it could be told. */
  heldBy?: string;
}

/**
 * Which process holds the server side of the connection from this client port, read from /proc
 * (the socket's inode in /proc/net/tcp, then the process with a descriptor on it): a hang held by
 * the cluster primary is a connection handed to a worker that never took it.
 */
function holderOf(serverPort: number, clientPort: number | undefined, primaryPid: number): string {
  if (clientPort === undefined) return 'not connected';
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  try {
    const row = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find((f) => f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(clientPort)}`));
    if (!row) return 'no socket';
    // Field 4 is the state (01 established), field 9 the inode; 0 once no process holds it.
    const [state, inode] = [row[3], row[9]];
    const socket = `socket:[${inode}]`;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue; // gone, or not ours to read
      }
      if (fds.some((fd) => readlinkIfAny(`/proc/${pid}/fd/${fd}`) === socket)) {
        return `${Number(pid) === primaryPid ? 'the cluster primary' : 'a worker'} (pid ${pid}, TCP state ${state})`;
      }
    }
    return `no process (TCP state ${state})`;
  } catch (err) {
    return `could not tell: ${(err as Error).message}`;
  }
}

function readlinkIfAny(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** One request; settles as an answer (any status), an error (reset, refused) or a hang after HANG_MS. */
function tokenRequest(url: string, cookie: string, agent: Agent | false, serverPort: number, primaryPid: number): Promise<Outcome> {
  const sentAt = Date.now();
  const { xml } = craftAuthnRequest({ issuer: SP, destination: `${BASE_URL}/adfs/ls/` });
  return new Promise((resolve) => {
    let settled = false;
    let localPort: number | undefined;
    const done = (o: Omit<Outcome, 'sentAt' | 'endedAt' | 'localPort'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ sentAt, endedAt: Date.now(), localPort, ...o });
    };
    const req = httpRequest(`${url}/adfs/ls/?${redirectQuery(xml)}`, { agent, headers: { cookie, ...(agent ? {} : { connection: 'close' }) } }, (res) => {
      res.resume();
      res.on('end', () => done({ kind: 'answer', status: res.statusCode ?? 0 }));
      res.on('error', (err) => done({ kind: 'error', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
    req.on('socket', (socket) => {
      const note = () => (localPort = socket.localPort);
      if (socket.localPort) note();
      else socket.once('connect', note);
    });
    req.on('error', (err) => done({ kind: 'error', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    const timer = setTimeout(() => {
      // Look before destroying: afterwards the server side would be gone or closing.
      const heldBy = holderOf(serverPort, localPort, primaryPid);
      done({ kind: 'hang', heldBy });
      req.destroy();
    }, HANG_MS);
    req.end();
  });
}

interface Readiness {
  status: number;
  pids: number[];
}

async function readiness(farm: OpenFedProcess): Promise<Readiness> {
  const answer = await send(`${farm.managementUrl}/readyz`);
  const body = JSON.parse(answer.text) as { checks: { pid: number }[] };
  return { status: answer.status, pids: body.checks.map((c) => c.pid) };
}

/** A fresh farm, signed in once: the SSO cookie every loop sends. */
async function startFarm(): Promise<{ farm: OpenFedProcess; cookie: string }> {
  const keys = makeKeyPair('OpenFed worker kill test signing');
  const farm = await startOpenFed({
    server: { host: '127.0.0.1', port: 0, baseUrl: BASE_URL, workers: 2, shutdownGraceMs: 1000 },
    management: { port: 0 },
    sessions: { redis: { url: redis.url } },
    web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
    keys: { signing: { keyFile: `${keys.dir}/key.pem`, certFile: `${keys.dir}/cert.pem` } },
    relyingParties: [{ entityId: SP, assertionConsumerServices: [{ url: `${SP}/acs` }], attributes: [{ name: 'upn', source: 'upn' }] }],
    lockout: { mode: 'off', perAddress: { attempts: 0 } },
    // info: the primary's "OpenFed farm listening" says when the farm is up, and where.
    log: { level: 'info' },
  });
  const browser = new CookieJar();
  const form = browser.take(await send(`${farm.url}/signin`));
  const posted = browser.take(
    await send(`${farm.url}/signin`, { headers: browser.header(), form: { _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD } }),
  );
  assert.equal(posted.status, 303, posted.text.slice(0, 200));
  return { farm, cookie: browser.header().cookie! };
}

interface Kill {
  at: number;
  victim: number;
  replacedAfterMs: number;
}

/** Steady load on a fresh farm while `count` workers are killed one after the other. */
async function killUnderLoad(count: number): Promise<{ outcomes: Outcome[]; kills: Kill[]; warmUpShares: number[]; warmUpRate: number }> {
  const { farm, cookie } = await startFarm();
  const serverPort = Number(new URL(farm.url).port);
  const outcomes: Outcome[] = [];
  const kills: Kill[] = [];
  let warmUpShares: number[] = [];
  let warmUpRate = 0;
  let running = true;
  const loop = async (agent: Agent | false) => {
    while (running) outcomes.push(await tokenRequest(farm.url, cookie, agent, serverPort, farm.child.pid!));
  };
  const keepAlive = new Agent({ keepAlive: true, maxSockets: KEEP_ALIVE_LOOPS });
  const loops = [
    ...Array.from({ length: FRESH_CONNECTION_LOOPS }, () => loop(false)),
    ...Array.from({ length: KEEP_ALIVE_LOOPS }, () => loop(keepAlive)),
  ];
  try {
    const warmUpFrom = Date.now();
    await sleep(WARMUP_MS);
    // How the connections spread over the two workers while both serve (the logs' "request completed").
    const perWorker = new Map<number, number>();
    for (const line of farm.logs()) {
      if (line.msg === 'request completed' && Date.parse(String(line.time)) >= warmUpFrom) perWorker.set(line.pid!, (perWorker.get(line.pid!) ?? 0) + 1);
    }
    const total = [...perWorker.values()].reduce((a, b) => a + b, 0);
    warmUpRate = Math.round((1000 * total) / (Date.now() - warmUpFrom));
    warmUpShares = [...perWorker.values()].map((n) => Math.round((100 * n) / total)).sort((a, b) => b - a);
    for (let i = 0; i < count; i++) {
      const { pids } = await eventually('two listening workers', async () => {
        const r = await readiness(farm);
        return r.status === 200 && r.pids.length === 2 ? r : undefined;
      });
      const victim = pids[i % 2]!;
      const at = Date.now();
      process.kill(victim, 'SIGKILL');
      await eventually('a replacement worker', async () => {
        const r = await readiness(farm);
        return r.status === 200 && r.pids.length === 2 && !r.pids.includes(victim) ? r : undefined;
      });
      kills.push({ at, victim, replacedAfterMs: Date.now() - at });
      await sleep(STEADY_MS);
    }
  } finally {
    running = false;
    await Promise.all(loops);
    keepAlive.destroy();
    await farm.stop();
  }
  return { outcomes, kills, warmUpShares, warmUpRate };
}

describe('a worker killed (SIGKILL) under steady token load', () => {
  test(`${KILLS} kills: every request answered or reset, none hanging ${HANG_MS / 1000} s`, async () => {
    const outcomes: Outcome[] = [];
    const kills: Kill[] = [];
    const warmUpShares: number[][] = [];
    const warmUpRates: number[] = [];
    // The primary stops the farm at the sixth death within a minute (a crash loop, restart-policy.ts):
    // a fresh farm for every five kills.
    for (let left = KILLS; left > 0; left -= KILLS_PER_FARM) {
      const round = await killUnderLoad(Math.min(left, KILLS_PER_FARM));
      outcomes.push(...round.outcomes);
      kills.push(...round.kills);
      warmUpShares.push(round.warmUpShares);
      warmUpRates.push(round.warmUpRate);
    }

    const hangs = outcomes.filter((o) => o.kind === 'hang');
    const errors = outcomes.filter((o) => o.kind === 'error');
    const answers = outcomes.filter((o) => o.kind === 'answer');
    // Relative to the nearest kill: a request sent just before one is as much at risk as one just after.
    const sinceKill = (o: Outcome) => {
      const nearest = kills.reduce((a, b) => (Math.abs(b.at - o.sentAt) < Math.abs(a.at - o.sentAt) ? b : a));
      const ms = o.sentAt - nearest.at;
      return `sent ${Math.abs(ms)} ms ${ms < 0 ? 'before' : 'after'} kill ${kills.indexOf(nearest) + 1}`;
    };
    // What a kill costs: from the kill to the first answer to a request sent after it.
    const firstAnswer = kills.map((k) => {
      const ends = answers.filter((o) => o.sentAt >= k.at).map((o) => o.endedAt - k.at);
      return ends.length ? Math.min(...ends) : Infinity;
    });
    const summary = {
      requests: outcomes.length,
      warmUpSharePercent: warmUpShares,
      warmUpRequestsPerSecond: warmUpRates,
      answered: answers.length,
      non200: answers.filter((o) => o.status !== 200).map((o) => o.status),
      errors: errors.map((o) => `${o.error} (${sinceKill(o)})`),
      firstAnswerAfterKillMs: firstAnswer,
      replacementListeningAfterMs: kills.map((k) => k.replacedAfterMs),
      hangs: hangs.map((o) => `${sinceKill(o)}, held by: ${o.heldBy}`),
    };
    console.log(JSON.stringify(summary, null, 2));
    assert.deepEqual(summary.hangs, [], 'a request neither answered nor reset');
    assert.deepEqual(summary.non200, [], 'every answer is a token page');
    assert.equal(kills.length, KILLS);
  });
});
