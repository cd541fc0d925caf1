/**
 * A Redis outage under a burst of requests is logged as state changes (lost, still down with a count,
 * back), not as lines per refused request: the log pipeline is what people read during an outage
 * (issue #17). Measured before the change: two error-level lines per 503.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { capturedLogger } from '../helpers/captured-log.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, readyWithin, startTestServer, type TestServer } from '../helpers/server.js';

const redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', mkdtempSync(join(tmpdir(), 'openfed-aof-'))] });

// info: the level a production node runs at, so the counts below are what an operator's pipeline gets.
const { logger, lines } = capturedLogger('info');

const WARN = 40;

describe('Redis outage under load: a handful of log lines, not one per request', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(
      { sessions: { redis: { url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 } }, log: { level: 'info', outageReportSeconds: 1 } },
      { logger },
    );
  });
  after(() => server?.stop());

  test('lost once, still down with counts, back with the total; the session survives', async (t) => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    await agent.get('/').expect(200);

    const from = lines.length;
    await redis.stop(); // SIGKILL, as a crash
    // A burst for 2.5 s: 16 clients, each asking again as soon as it is answered.
    const statuses: number[] = [];
    const until = Date.now() + 2500;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < until) statuses.push((await agent.get('/')).status);
      }),
    );
    const refused = statuses.filter((s) => s === 503).length;
    assert.equal(refused, statuses.length, 'every request answered 503 while Redis was down');
    assert.ok(refused > 200, `a real burst (${refused} requests)`);

    await redis.restart();
    assert.equal(await readyWithin(server.url), 200);
    assert.match((await agent.get('/').expect(200)).text, /You are signed in/, 'the session survived the Redis restart');

    const outage = lines.slice(from);
    const loud = outage.filter((l) => l.level >= WARN);
    const redisLines = outage.filter((l) => l.component === 'redis');
    t.diagnostic(`${refused} requests refused; ${outage.length} lines at info and above, ${loud.length} at warn and above`);
    for (const l of redisLines) t.diagnostic(`${l.level} ${l.msg} ${JSON.stringify({ refused: l.refused, totalRefused: l.totalRefused, downMs: l.downMs })}`);

    // Lost once (with the cause), one or a few "still down" (1 s apart here), back once: never per request.
    assert.ok(outage.length < 20, `${outage.length} lines for ${refused} refused requests`);
    const lost = redisLines.filter((l) => /^Redis lost/.test(l.msg));
    const stillDown = redisLines.filter((l) => /^Redis still down/.test(l.msg));
    const back = redisLines.filter((l) => /^Redis back/.test(l.msg));
    assert.equal(lost.length, 1);
    assert.ok(lost[0]!.level >= WARN && typeof lost[0]!.reason === 'string', 'lost: at warn or error, with the cause');
    assert.ok(stillDown.length >= 1, 'still down at least once in 2.5 s with a 1 s report interval');
    assert.ok(stillDown.every((l) => typeof l.refused === 'number'));
    assert.equal(back.length, 1);
    const total = back[0]!.totalRefused as number;
    // Every refused request failed at least one store operation; a request may fail more than one.
    assert.ok(total >= refused, `back counts ${total} refused operations for ${refused} refused requests`);
    assert.ok((back[0]!.downMs as number) > 2000);

    // The metrics still count every failure, whatever the log says.
    const metrics = await server.metrics.registry.getSingleMetricAsString('openfed_redis_errors_total');
    const counted = [...metrics.matchAll(/^openfed_redis_errors_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.ok(counted >= refused, `openfed_redis_errors_total ${counted} for ${refused} refused requests`);
  });
});
