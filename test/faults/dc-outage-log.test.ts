/**
 * Every domain controller unreachable under a burst of sign-ins is logged as state changes (lost,
 * still down with a count, back with the total), not as lines per refused sign-in: the log pipeline
 * is what people read during an outage (issue #17). The directory side of
 * test/faults/redis-outage-log.test.ts, against the real Samba DC.
 *
 * The DC itself keeps running (other test files use it): OpenFed reaches it through a loopback TCP
 * proxy, and the outage is the proxy cut; it ends when a proxy listens on the same port again. The
 * URL keeps the DC's host name (127.0.0.1 of ad.ldapsUrl), so LDAPS still verifies the certificate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { capturedLogger, type LogLine } from '../helpers/captured-log.js';
import { ldapConfig, loadAdFacts, type AdFacts } from '../helpers/ad.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// Captured at debug, so the per-request detail can be checked; the lines at info and above are
// exactly what a node at the production level (info) writes, as pino filters by level alone.
const { logger, lines } = capturedLogger('debug');

const DEBUG = 20;
const INFO = 30;
const WARN = 40;
/** log.outageReportSeconds: one or two "still down" lines in the burst, not one a second. */
const REPORT_SECONDS = 2;
/** No refusal may take longer: the proxy refuses connections at once, so anything near this is a hang. */
const ANSWER_WITHIN_MS = 5000;

describe('every DC unreachable under load: a handful of log lines, not one per sign-in', () => {
  let ad: AdFacts;
  let proxy: TcpProxy;
  let server: TestServer;
  let dc: { host: string; port: number };

  before(async () => {
    ad = loadAdFacts();
    const url = new URL(ad.ldapsUrl);
    dc = { host: url.hostname, port: Number(url.port || 636) };
    proxy = await tcpProxy(dc);
    const proxyUrl = `ldaps://${dc.host}:${proxy.port}`;
    server = await startTestServer(
      {
        directory: { ldap: ldapConfig(ad, { urls: [proxyUrl], connectTimeoutMs: 1000, timeoutMs: 2000 }) },
        log: { level: 'debug', outageReportSeconds: REPORT_SECONDS },
        // The burst comes from one address: the per-address throttle would answer 429 instead.
        lockout: { perAddress: { attempts: 0 } },
      },
      { logger },
    );
  });
  after(async () => {
    await server?.stop();
    await proxy?.cut();
  });

  /** GET /signin then POST /signin as the AD user, on a fresh agent (its own CSRF cookie). */
  const signIn = async (): Promise<{ status: number; text: string; ms: number }> => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').timeout(ANSWER_WITHIN_MS).expect(200);
    const started = performance.now();
    const posted = await agent
      .post('/signin')
      .timeout(ANSWER_WITHIN_MS)
      .type('form')
      .send({ _csrf: csrfFrom(form.text), username: ad.users.NORMAL.sam, password: ad.users.NORMAL.password });
    return { status: posted.status, text: posted.text, ms: performance.now() - started };
  };

  const signInsFailedUnavailable = async (): Promise<number> => {
    const text = await server.metrics.registry.getSingleMetricAsString('openfed_signins_total');
    const m = /^openfed_signins_total\{outcome="failure",reason="directory_unavailable"\} (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };

  test('lost once, still down with counts, back with the total; every refusal a quick 503', async (t) => {
    assert.equal((await signIn()).status, 303, 'signs in through the proxy while the DC answers');
    const countedBefore = await signInsFailedUnavailable();

    const from = lines.length;
    await proxy.cut();
    // A burst for 2.5 s: 16 clients, each signing in again as soon as it is answered.
    const answers: { status: number; text: string; ms: number }[] = [];
    const until = Date.now() + 2500;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < until) answers.push(await signIn());
      }),
    );
    const refused = answers.filter((a) => a.status === 503).length;
    const others = [...new Set(answers.filter((a) => a.status !== 503).map((a) => a.status))];
    assert.deepEqual(others, [], 'every sign-in answered 503 while no DC answered (no 500, no 303)');
    assert.ok(
      answers.every((a) => /no domain controller answered/.test(a.text)),
      'each 503 is the directory-unavailable page',
    );
    const slowest = Math.max(...answers.map((a) => a.ms));
    assert.ok(slowest < ANSWER_WITHIN_MS, `slowest refusal ${Math.round(slowest)} ms`);
    assert.ok(refused > 100, `a real burst (${refused} sign-ins)`);
    const outageEnd = lines.length;

    // The DC "comes back": a proxy on the same port, so the configured URL works again.
    proxy = await tcpProxy(dc, { listenPort: proxy.port });
    let status = 0;
    for (let i = 0; i < 20 && status !== 303; i++) {
      status = (await signIn()).status;
      if (status !== 303) await sleep(200);
    }
    assert.equal(status, 303, 'sign-in works again once a DC answers, OpenFed was not restarted');

    // At info and above, less what any served request writes (the sign-in page's access line, the
    // sign-in after the outage): those would be there without an outage, one per request as ever.
    const served = (l: LogLine) =>
      (l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode < 400) || l.msg === 'sign-in succeeded';
    const outage = lines.slice(from);
    const loud = outage.filter((l) => l.level >= INFO && !served(l));
    const directory = loud.filter((l) => l.component === 'active-directory');
    const debug = lines.slice(from, outageEnd).filter((l) => l.level === DEBUG);
    // A flood would be hundreds of lines: the first 20 say enough.
    for (const l of loud.slice(0, 20)) t.diagnostic(`${l.level} ${String(l.component ?? '-')} ${l.msg} ${JSON.stringify({ refused: l.refused, totalRefused: l.totalRefused, downMs: l.downMs })}`);
    console.log(
      `DC outage: ${refused} sign-ins refused (503) in 2.5 s, slowest ${Math.round(slowest)} ms; ${loud.length} lines at info and above ` +
        `(${directory.length} from the directory, ${loud.filter((l) => l.level >= WARN).length} at warn and above); ${debug.length} at debug`,
    );

    // Lost once (with the cause), one or two "still down" (REPORT_SECONDS apart), back once: never per
    // request. Around them: the first failures that found the DC gone (the service connection, the
    // one DC tried) at warn before the outage began, and the service connection open again after.
    const lost = directory.filter((l) => /^Active Directory lost/.test(l.msg));
    const stillDown = directory.filter((l) => /^Active Directory still down/.test(l.msg));
    const back = directory.filter((l) => /^Active Directory back/.test(l.msg));
    assert.equal(lost.length, 1, 'lost once');
    assert.ok(lost[0]!.level >= WARN && typeof lost[0]!.reason === 'string', 'lost: at warn or error, with the cause');
    assert.ok(stillDown.length >= 1, `still down at least once in 2.5 s with a ${REPORT_SECONDS} s report interval`);
    assert.ok(stillDown.every((l) => typeof l.refused === 'number'), 'still down says how many were refused');
    assert.equal(back.length, 1, 'back once');
    assert.equal(back[0]!.totalRefused, refused, 'back counts every refused sign-in');
    assert.ok((back[0]!.downMs as number) > 2000);
    assert.ok(directory.length >= 3 && directory.length <= 8, `${directory.length} directory lines at info and above for ${refused} refused sign-ins`);
    assert.ok(loud.length <= 10, `${loud.length} lines at info and above for ${refused} refused sign-ins`);

    // The detail of each refusal is still there at debug: the directory's and the response's.
    const perRequest = (msg: string) => debug.filter((l) => l.msg === msg).length;
    assert.equal(perRequest('sign-in failed: no domain controller'), refused, 'the directory: one debug line per refused sign-in');
    assert.equal(
      debug.filter((l) => l.msg === 'sign-in failed' && l.reason === 'directory_unavailable').length,
      refused,
      'the sign-in (src/authn/password.ts): one debug line per refused sign-in',
    );
    assert.equal(perRequest('request failed: dependency unavailable'), refused, 'the error response: one debug line per 503');
    const requestIds = new Set(debug.filter((l) => l.msg === 'sign-in failed: no domain controller').map((l) => l.reqId));
    assert.equal(requestIds.size, refused, 'each names its own request (reqId)');

    // The metrics still count every refusal, whatever the log says.
    const counted = (await signInsFailedUnavailable()) - countedBefore;
    assert.equal(counted, refused, `openfed_signins_total{reason="directory_unavailable"} grew by ${counted} for ${refused} refused sign-ins`);
  });
});
