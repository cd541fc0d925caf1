/**
 * One Redis connection per process: every store of a server (sessions, pending requests, replay
 * cache, lockout, added relying parties, the key set) shares it, so they fail and recover together
 * and /readyz speaks for all of them. Counted on the Redis side (CLIENT LIST, by the connection
 * name openfed-<pid>), in process and in a farm of two cluster workers.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { CONNECTION_NAME } from '../../src/redis/connection.js';
import { CookieJar, eventually, send, startOpenFed } from '../farm/processes.js';
import { connectedClients, startRedisServer, type RedisServer } from '../helpers/redis.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis = await startRedisServer();

/** OpenFed's connections (named openfed-<pid>), by name: how many each process holds. */
async function openfedConnections(server: RedisServer): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const client of await connectedClients(server)) {
    if (client.name?.startsWith('openfed-')) byName.set(client.name, (byName.get(client.name) ?? 0) + 1);
  }
  return byName;
}

/** A sign-in with the demo directory: sessions, pending request, lockout and throttle all used. */
async function signIn(url: string): Promise<void> {
  const browser = new CookieJar();
  const form = browser.take(await send(`${url}/signin`));
  assert.equal(form.status, 200);
  const signedIn = await send(`${url}/signin`, { headers: browser.header(), form: { _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD } });
  assert.equal(signedIn.status, 303, signedIn.text.slice(0, 300));
}

const config = (keyPrefix: string) => ({
  server: { baseUrl: 'http://sts.one.test' },
  sessions: { redis: { url: redis.url, keyPrefix } },
  // Per-address throttle on: the limiter runs its own script on the shared connection too.
  lockout: { mode: 'enforce' as const, perAddress: { attempts: 50, windowSeconds: 60 } },
});

describe('one Redis connection per process', () => {
  test('a server: every store on one connection, closed with the server', async () => {
    const server = await startTestServer(config('one:'));
    let stopped = false;
    after(async () => {
      if (!stopped) await server.stop();
    });
    // The managed key set and the relying-party store were read at start; a sign-in uses the rest.
    assert.equal(await redis.command('HEXISTS', 'one:keyset', 'version'), 1, 'the key set is in Redis');
    await signIn(server.url);
    const ready = await send(`${server.url}/readyz`);
    assert.equal(ready.status, 200, ready.text);

    assert.deepStrictEqual([...(await openfedConnections(redis))], [[CONNECTION_NAME, 1]]);

    await server.stop();
    stopped = true;
    await eventually('the connection closed', async () => ((await openfedConnections(redis)).size === 0 ? true : undefined), 5000);
  });

  test('a farm of two workers: one connection each, none left in the primary', async () => {
    const farm = await startOpenFed({
      ...config('farm:'),
      server: { host: '127.0.0.1', port: 0, baseUrl: 'http://sts.one.test', workers: 2, shutdownGraceMs: 2000 },
      web: { csrfSecret: 'one-csrf-secret-for-every-worker-of-the-farm' },
      keys: { encryptionSecret: 'farm test key encryption secret, 32+ characters' },
      log: { level: 'info' },
    });
    after(() => farm.stop());
    for (let i = 0; i < 4; i++) await signIn(farm.url); // round robin: both workers serve

    const workerPids = new Set(farm.logs().filter((l) => l.msg === 'OpenFed listening').map((l) => l.pid));
    assert.equal(workerPids.size, 2, 'two workers listening');
    const connections = await openfedConnections(redis);
    assert.deepStrictEqual(
      [...connections].sort(),
      [...workerPids].map((pid) => [`openfed-${pid}`, 1]).sort(),
      `one connection per worker, none for the primary ${farm.child.pid}`,
    );
  });
});
