/**
 * What an operator reads: the request id on every log line written while serving a request (also
 * lines from components that never see the request, like the directory), a caller's safe
 * X-Request-Id kept and echoed, the LDAP bind latency histogram from real binds against the Samba
 * DC, and the Redis error counter when the real redis-server goes away.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { createLogger } from '../../src/log.js';
import { ldapConfig, loadAdFacts, unlockUser, type AdFacts } from '../helpers/ad.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis = await startRedisServer();

/** A logger whose JSON lines the test reads back. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids and LDAP bind latency, against Active Directory', () => {
  let ad: AdFacts;
  let server: TestServer;
  const log = capturedLogger();

  before(async () => {
    ad = loadAdFacts();
    server = await startTestServer({ directory: { ldap: ldapConfig(ad) }, management: { port: 0 }, log: { level: 'debug' } }, { logger: log.logger });
  });
  after(async () => {
    await server?.stop();
    await unlockUser(ad, 'WRONG_PW');
  });

  test('every line written while serving a request carries its id, the directory\'s own lines too', async () => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').expect(200);
    const from = log.lines.length;
    const id = 'lb-7f3a.0001';
    const res = await agent
      .post('/signin')
      .set('X-Request-Id', id)
      .type('form')
      .send({ _csrf: csrfFrom(form.text), username: ad.users.WRONG_PW.sam, password: 'Not-The-Passw0rd!' })
      .expect(401);
    assert.equal(res.headers['x-request-id'], id, 'a safe incoming id is kept and echoed');
    // The completion line is written when the response has gone out: wait for it, not for a time.
    while (!log.lines.slice(from).some((l) => l.msg === 'request completed')) await new Promise((r) => setImmediate(r));

    const during = log.lines.slice(from);
    assert.ok(during.some((l) => l.component === 'active-directory' && l.msg === 'sign-in failed'), 'the directory logged the failure itself');
    assert.ok(during.some((l) => l.event === 'signin.failed'), 'so did the handler');
    for (const line of during) assert.equal(line.reqId, id, `line without the request id: ${JSON.stringify(line)}`);
  });

  test('an unsafe or oversized incoming X-Request-Id is replaced by a fresh one', async () => {
    for (const hostile of ['<script>alert(1)</script>', 'a'.repeat(65), 'two words', '{"reqId":"forged"}']) {
      const res = await request(server.url).get('/signin').set('X-Request-Id', hostile).expect(200);
      assert.match(String(res.headers['x-request-id']), UUID, hostile);
    }
    const res = await request(server.url).get('/signin').expect(200);
    assert.match(String(res.headers['x-request-id']), UUID, 'one is made when none comes');
  });

  test('binds are timed into openfed_ldap_bind_duration_seconds by outcome', async () => {
    const before = await request(server.managementUrl!).get('/metrics').expect(200);
    const count = (text: string, outcome: string) => metricValue(text, `openfed_ldap_bind_duration_seconds_count{outcome="${outcome}"}`) ?? 0;

    const agent = request.agent(server.url);
    let form = await agent.get('/signin').expect(200);
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: ad.users.NORMAL.sam, password: ad.users.NORMAL.password }).expect(303);
    const other = request.agent(server.url);
    form = await other.get('/signin').expect(200);
    await other.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: ad.users.WRONG_PW.sam, password: 'Not-The-Passw0rd!' }).expect(401);

    const metrics = await request(server.managementUrl!).get('/metrics').expect(200);
    assert.equal(count(metrics.text, 'success') - count(before.text, 'success'), 1);
    assert.equal(count(metrics.text, 'rejected') - count(before.text, 'rejected'), 1);
    assert.equal(count(metrics.text, 'unavailable'), 0);
    const sum = metricValue(metrics.text, 'openfed_ldap_bind_duration_seconds_sum{outcome="success"}');
    assert.ok(sum !== undefined && sum > 0 && sum < 30, `sum ${sum}`);
    assert.match(metrics.text, /^openfed_ldap_bind_duration_seconds_bucket\{le="\+Inf",outcome="success"\} 1$/m);
  });
});

describe('Redis errors', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      sessions: { redis: { url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 } },
      management: { port: 0 },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('each store operation that fails because Redis is gone is counted; the user still gets the 503', async () => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').expect(200);
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    let metrics = await request(server.managementUrl!).get('/metrics').expect(200);
    assert.equal(metricValue(metrics.text, 'openfed_redis_errors_total{store="sessions"}'), undefined, 'nothing failed yet');

    await redis.stop();
    try {
      await agent.get('/').expect(503);
      await agent.get('/').expect(503);
      metrics = await request(server.managementUrl!).get('/metrics').expect(200);
      assert.equal(metricValue(metrics.text, 'openfed_redis_errors_total{store="sessions"}'), 2, 'one failed session read per page');
    } finally {
      await redis.restart();
    }
  });
});
