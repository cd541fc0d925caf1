/**
 * Redis crashing under signed-in users: errors only while it is down, no crash, and — when Redis
 * persists data with AOF, as the README recommends — the same sessions are there after it restarts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, readyWithin, startTestServer, type TestServer } from '../helpers/server.js';

// Top level: the helper's cleanup belongs to the file. appendfsync always: a SIGKILL loses nothing.
const redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', mkdtempSync(join(tmpdir(), 'openfed-aof-'))] });

describe('Redis restarted while users are signed in', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ sessions: { redis: { url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 } } });
  });
  after(() => server?.stop());

  async function signedInAgents(n: number) {
    const agents: request.Agent[] = [];
    for (let i = 0; i < n; i++) {
      const agent = request.agent(server.url);
      const form = await agent.get('/signin');
      await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
      agents.push(agent);
    }
    return agents;
  }

  test('503 while Redis is down, never a crash; with AOF every session is back after the restart', async () => {
    const agents = await signedInAgents(5);
    await redis.stop(); // SIGKILL, as a crash
    const during = await Promise.all(agents.map((a) => a.get('/')));
    assert.deepEqual(during.map((r) => r.status), [503, 503, 503, 503, 503]);
    await request(server.url).get('/healthz').expect(200);

    await redis.restart();
    assert.equal(await readyWithin(server.url), 200);
    for (const agent of agents) {
      assert.match((await agent.get('/').expect(200)).text, /You are signed in/, 'the session survived the Redis restart');
    }
  });
});
