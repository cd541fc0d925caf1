/**
 * One OpenFed started as operators start it, with two cluster workers: both serve the port, the
 * primary's /metrics adds up what both counted, a worker killed with SIGKILL is replaced while the
 * other keeps serving, and SIGTERM to the primary stops everything cleanly with exit code 0. Also:
 * configuration mistakes stop the start with one line before any worker is forked.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { startRedisServer } from '../helpers/redis.js';
import { makeKeyPair } from '../helpers/saml.js';
import { csrfFrom } from '../helpers/server.js';
import { CookieJar, eventually, runOpenFedToExit, send, startOpenFed, type OpenFedProcess } from './processes.js';

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis = await startRedisServer();

interface FarmReadiness {
  status: string;
  workers: { configured: number; listening: number };
  checks: { worker: number; pid: number; status: string }[];
}

async function readiness(farm: OpenFedProcess): Promise<{ status: number; body: FarmReadiness }> {
  const answer = await send(`${farm.managementUrl}/readyz`);
  return { status: answer.status, body: JSON.parse(answer.text) as FarmReadiness };
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('a farm of two cluster workers', () => {
  let farm: OpenFedProcess;

  before(async () => {
    const keys = makeKeyPair('OpenFed cluster test signing');
    farm = await startOpenFed({
      server: { host: '127.0.0.1', port: 0, baseUrl: 'http://sts.farm.test', workers: 2, shutdownGraceMs: 2000 },
      management: { port: 0 },
      sessions: { redis: { url: redis.url } },
      web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
      keys: { signing: { keyFile: `${keys.dir}/key.pem`, certFile: `${keys.dir}/cert.pem` } },
      // Many sign-ins from one address in a row: the per-address throttle is not under test here.
      lockout: { perAddress: { attempts: 1000 } },
      log: { level: 'info' },
    });
  });
  after(async () => {
    await farm?.stop();
  });

  test('both workers serve; /metrics on the management port adds up their counters; /readyz lists them', async () => {
    assert.ok(farm.managementUrl, 'the primary serves the management listener');
    const ready = await readiness(farm);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.deepEqual(ready.body.workers, { configured: 2, listening: 2 });
    const pids = new Set(ready.body.checks.map((c) => c.pid));
    assert.equal(pids.size, 2, 'two distinct worker processes');
    assert.ok(!pids.has(farm.child.pid!), 'the primary serves no user itself');

    // Sign-ins until each worker has completed at least one (the workers accept from the shared socket,
    // cluster.SCHED_NONE, so the kernel spreads connections without any promise of alternation), each
    // POST tagged with an id to find it in the log.
    const servedBy = new Map<string, number>();
    let signIns = 0;
    while (new Set(servedBy.values()).size < 2) {
      assert.ok(signIns < 100, 'a hundred sign-ins all landed on one worker');
      const browser = new CookieJar();
      const form = browser.take(await send(`${farm.url}/signin`));
      const id = `farm-signin-${++signIns}`;
      const posted = await send(`${farm.url}/signin`, {
        headers: { ...browser.header(), 'x-request-id': id },
        form: { _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD },
      });
      assert.equal(posted.status, 303, posted.text.slice(0, 200));
      assert.equal(posted.headers['x-request-id'], id, 'a safe incoming request id is kept and echoed');
      const line = await eventually(`the log line of ${id}`, async () =>
        farm.logs().find((l) => l.reqId === id && l.msg === 'request completed'),
      );
      servedBy.set(id, line.pid!);
      // Two requests per sign-in would keep every POST on the same worker of a strict alternation.
      await send(`${farm.url}/healthz`);
    }
    assert.deepEqual(new Set(servedBy.values()), pids, 'the sign-ins were served by the two workers /readyz names');

    const metrics = await send(`${farm.managementUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.equal(metricValue(metrics.text, 'openfed_signins_total{outcome="success",reason=""}'), signIns, 'the count of both workers together');
    assert.equal(metricValue(metrics.text, 'openfed_workers{state="listening"}'), 2);
    // The certificate is the same in every worker: its gauge is not summed.
    const days = metricValue(metrics.text, 'openfed_signing_certificate_expiry_days');
    assert.ok(days !== undefined && days > 25 && days < 31, `expiry days ${days}`);
    assert.equal(await send(`${farm.url}/metrics`).then((a) => a.status), 404, 'users cannot reach the metrics');
  });

  test('a worker killed with SIGKILL is restarted while the other keeps serving', async () => {
    const before = (await readiness(farm)).body.checks.map((c) => c.pid);
    assert.equal(before.length, 2);
    const [victim, survivor] = before as [number, number];
    process.kill(victim, 'SIGKILL');

    // Until the replacement listens, the survivor answers every request alone.
    await eventually('the primary to notice the death', async () => {
      const { body } = await readiness(farm);
      return body.checks.every((c) => c.pid !== victim) ? body : undefined;
    });
    for (let i = 0; i < 6; i++) assert.equal((await send(`${farm.url}/healthz`)).status, 200);

    const after = await eventually('a replacement worker', async () => {
      const { status, body } = await readiness(farm);
      return status === 200 && body.checks.length === 2 ? body : undefined;
    });
    const pids = after.checks.map((c) => c.pid);
    assert.ok(pids.includes(survivor), 'the other worker was left alone');
    assert.ok(!pids.includes(victim));
    const metrics = await send(`${farm.managementUrl}/metrics`);
    assert.equal(metricValue(metrics.text, 'openfed_worker_restarts_total'), 1);
    assert.match(farm.output(), /"msg":"worker died: restarting it"/);
  });

  test('a worker that dies while /readyz waits for its answer: the probe answers at once, without it', async () => {
    const ready = await eventually('two ready workers', async () => {
      const { status, body } = await readiness(farm);
      return status === 200 && body.checks.length === 2 ? body : undefined;
    });
    const [victim, survivor] = ready.checks.map((c) => c.pid) as [number, number];
    // Frozen, it cannot answer: the question is surely pending when it dies.
    process.kill(victim, 'SIGSTOP');
    const probe = readiness(farm);
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const { status, body } = await probe;
    const tookMs = Date.now() - killedAt;
    // Before: the primary waited for the dead worker until its 4 s timeout, then answered 503.
    assert.ok(tookMs < 1000, `answered ${tookMs} ms after the death`);
    assert.equal(status, 200, 'the surviving worker is ready');
    assert.deepEqual(body.checks.map((c) => c.pid), [survivor]);
    await eventually('a replacement worker', async () => {
      const r = await readiness(farm);
      return r.status === 200 && r.body.checks.length === 2 ? true : undefined;
    });
  });

  test('SIGTERM to the primary: every worker stops gracefully, then exit code 0', async () => {
    const pids = (await readiness(farm)).body.checks.map((c) => c.pid);
    farm.child.kill('SIGTERM');
    const [code, signal] = (await once(farm.child, 'exit')) as [number | null, string | null];
    assert.equal(signal, null);
    assert.equal(code, 0);
    const stopped = farm.logs().filter((l) => l.msg === 'stopped').map((l) => l.pid);
    for (const pid of [...pids, farm.child.pid]) assert.ok(stopped.includes(pid), `process ${pid} logged "stopped"`);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'no worker outlives the primary');
  });
});

describe('a farm stopped with server.shutdownDelayMs', () => {
  test('SIGTERM: every probe answers 503 at once (management and the workers\' /adfs/probe), users are served until the delay ends, then exit 0', async () => {
    const keys = makeKeyPair('OpenFed cluster delay test signing');
    const farm = await startOpenFed({
      server: { host: '127.0.0.1', port: 0, baseUrl: 'http://sts.farm.test', workers: 2, shutdownGraceMs: 2000, shutdownDelayMs: 1500 },
      management: { port: 0 },
      sessions: { redis: { url: redis.url } },
      web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
      keys: { signing: { keyFile: `${keys.dir}/key.pem`, certFile: `${keys.dir}/cert.pem` } },
      log: { level: 'info' },
    });
    try {
      await eventually('two ready workers', async () => {
        const { status, body } = await readiness(farm);
        return status === 200 && body.checks.length === 2 ? true : undefined;
      });
      assert.equal((await send(`${farm.url}/adfs/probe`)).status, 200);
      const signalAt = Date.now();
      farm.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      const ready = await send(`${farm.managementUrl}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((JSON.parse(ready.text) as { shuttingDown?: boolean }).shuttingDown, true);
      assert.equal((await send(`${farm.managementUrl}/healthz`)).status, 503);
      // Each answer from whichever worker takes the connection: both have stopped passing the probe.
      for (let i = 0; i < 4; i++) assert.equal((await send(`${farm.url}/adfs/probe`)).status, 503);
      assert.equal((await send(`${farm.url}/signin`)).status, 200, 'users are still served');
      assert.ok(Date.now() - signalAt < 1500, 'within the delay');
      const [code] = (await once(farm.child, 'exit')) as [number | null];
      assert.equal(code, 0);
      assert.ok(Date.now() - signalAt >= 1500, 'the port closed only after the delay');
    } finally {
      await farm.stop();
    }
  });
});

describe('start-up mistakes in cluster mode', () => {
  test('more than one worker without Redis: one line, exit 1', async () => {
    const { code, stderr, stdout } = await runOpenFedToExit({ server: { host: '127.0.0.1', port: 0, workers: 2 } });
    assert.equal(code, 1);
    assert.equal(stderr, 'openfed: configuration key server.workers: 2 workers need sessions.redis (sessions in memory are not shared between processes); set it, or workers: 1\n');
    assert.doesNotMatch(stdout, /worker listening/);
  });

  test('a key file that does not exist: one line, exit 1, no worker forked', async () => {
    const { code, stderr, stdout } = await runOpenFedToExit({
      server: { host: '127.0.0.1', port: 0, workers: 2 },
      sessions: { redis: { url: redis.url } },
      keys: { signing: { keyFile: '/nonexistent/key.pem', certFile: '/nonexistent/cert.pem' } },
    });
    assert.equal(code, 1);
    assert.equal(stderr, 'openfed: configuration key keys.signing.keyFile: file /nonexistent/key.pem does not exist\n');
    assert.doesNotMatch(stdout, /"worker":/);
  });

  test('a worker that cannot start (trusted proxy not an address): one line for the farm, exit 1', async () => {
    const { code, stderr } = await runOpenFedToExit({
      server: { host: '127.0.0.1', port: 0, workers: 2, trustedProxies: ['not-an-address'] },
      sessions: { redis: { url: redis.url } },
      web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
      keys: { encryptionSecret: 'a-key-encryption-secret-for-the-test-farm' },
    });
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^openfed: configuration key server\.trustedProxies: /);
  });
});

describe('a crash loop', () => {
  test('workers dying as fast as they are started stop the farm (exit 1) instead of spinning', async () => {
    const keys = makeKeyPair('OpenFed crash loop test signing');
    const farm = await startOpenFed({
      server: { host: '127.0.0.1', port: 0, workers: 2, shutdownGraceMs: 1000 },
      sessions: { redis: { url: redis.url } },
      web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
      keys: { signing: { keyFile: `${keys.dir}/key.pem`, certFile: `${keys.dir}/cert.pem` } },
      log: { level: 'debug' },
    });
    try {
      // Kill every worker as soon as it exists, the two first ones and each replacement.
      const killed = new Set<number>();
      const exited = once(farm.child, 'exit') as Promise<[number | null, string | null]>;
      let done = false;
      void exited.then(() => (done = true));
      while (!done) {
        for (const line of farm.logs()) {
          const pid = line.msg === 'worker forked' || line.msg === 'worker listening' ? Number(line.workerPid) : undefined;
          if (pid && !killed.has(pid)) {
            killed.add(pid);
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
        assert.ok(killed.size <= 12, 'the primary kept restarting');
        await new Promise((r) => setTimeout(r, 20));
      }
      const [code] = await exited;
      assert.equal(code, 1);
      // The sixth death within a minute (more than max(5, 2 × 2 workers)) gives up instead of restarting.
      assert.equal(farm.logs().filter((l) => l.msg === 'worker died: restarting it').length, 5);
      assert.match(farm.output(), /"msg":"workers keep dying: stopping the farm rather than restarting in a loop"/);
    } finally {
      await farm.stop();
    }
  });
});
