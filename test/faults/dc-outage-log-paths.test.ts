/**
 * The other two doors that ask the DC on every request, under the outage of
 * test/faults/dc-outage-log.test.ts (issue #17): a burst of password changes
 * (/adfs/portal/updatepassword) and a burst of Windows (Kerberos) sign-ins while no DC answers is
 * logged as the directory's state changes (lost, still down, back with the total), with one line
 * per refused request at debug only — not two warn lines per refused change, nor an info line per
 * refused ticket.
 *
 * As there, OpenFed reaches the real Samba DC through a loopback TCP proxy on its LDAPS port with the
 * DC's host name (password change needs LDAPS, and the certificate still verifies), and the outage
 * is the proxy cut. The Kerberos tickets do not need the DC while it is cut: the service ticket is
 * fetched before, and OpenFed checks it with its keytab alone; only the account check needs the DC.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import request from 'supertest';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { capturedLogger, type LogLine } from '../helpers/captured-log.js';
import { PASSWORD_CHANGE_MESSAGES } from '../../src/web/messages.js';
import { kinit, ldapConfig, loadAdFacts, type AdFacts, type KerberosTicket } from '../helpers/ad.js';
import { ChangeUsers, type ChangeUser } from '../helpers/password-change-users.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const execFileAsync = promisify(execFile);

// Captured at debug; the lines at info and above are what a node at the production level writes.
const { logger, lines } = capturedLogger('debug');

const DEBUG = 20;
const INFO = 30;
const WARN = 40;
/** log.outageReportSeconds: one "still down" line in a burst of BURST_MS. */
const REPORT_SECONDS = 2;
/** A second more than REPORT_SECONDS: room for a loaded machine to take a while to find the DC gone. */
const BURST_MS = 3000;
const CLIENTS = 16;
const ANSWER_WITHIN_MS = 5000;
const CHANGE_PATH = '/adfs/portal/updatepassword';
/** Negotiate tokens made before the cut, well over what a burst uses (up to 500 a second here): GSSAPI accepts each once (replay cache). */
const TOKENS = 4000;

interface Answer {
  status: number;
  text: string;
  ms: number;
}

describe('every DC unreachable: password changes and Windows sign-ins log a handful of lines, not one each', () => {
  let ad: AdFacts;
  let proxy: TcpProxy;
  let server: TestServer;
  let dc: { host: string; port: number };
  let users: ChangeUsers;
  let user: ChangeUser;
  let ticket: KerberosTicket;
  const audit = new MemoryAuditLog();
  const krb5Config = process.env.KRB5_CONFIG;

  before(async () => {
    ad = loadAdFacts();
    // The acceptor (in this process) reads the test realm's krb5.conf, as a deployment has one:
    // without it MIT Kerberos looks the service's host name up in DNS (dns_canonicalize_hostname),
    // and under 16 clients at once some of those lookups took the resolver's 5 s retry here — a
    // stall that is not the DC's outage.
    process.env.KRB5_CONFIG = ad.krb5Config;
    users = new ChangeUsers(ad, 'openfed-outage-log');
    await users.setUp();
    user = await users.create('outage-pwc', 'Outage-Chang3-Passw0rd!');
    ticket = await kinit(ad, 'NORMAL');
    const url = new URL(ad.ldapsUrl);
    dc = { host: url.hostname, port: Number(url.port || 636) };
    proxy = await tcpProxy(dc);
    server = await startTestServer(
      {
        directory: { ldap: ldapConfig(ad, { urls: [`ldaps://${dc.host}:${proxy.port}`], connectTimeoutMs: 1000, timeoutMs: 2000 }) },
        log: { level: 'debug', outageReportSeconds: REPORT_SECONDS },
        // The burst comes from one address: the per-address throttle would answer 429 instead.
        lockout: { perAddress: { attempts: 0 } },
        kerberos: {
          enabled: true,
          servicePrincipal: ad.spn,
          keytab: ad.keytab,
          realm: ad.realm,
          intranetNetworks: ['127.0.0.0/8'],
          userAgents: ['curl/'],
        },
      },
      { logger, audit },
    );
    assert.ok(server.deps.windows, 'Windows Integrated Authentication is on (the kerberos addon loaded)');
    assert.equal(server.deps.directory.passwordChangeSupport().available, true, 'password change is on (LDAPS)');
  });
  after(async () => {
    await server?.stop();
    await proxy?.cut();
    await ticket?.destroy();
    await users?.remove();
    if (krb5Config === undefined) delete process.env.KRB5_CONFIG;
    else process.env.KRB5_CONFIG = krb5Config;
  });

  /**
   * Cuts the proxy, runs `attempt` from CLIENTS clients for BURST_MS, then lets the DC "come back"
   * (a proxy on the same port) and tries again until an answer `worked`. Returns every answer of the
   * burst, the refusals in all (a try just after the DC is back may be refused still), and where the
   * burst's lines are: [from, outageEnd).
   */
  async function outage(attempt: () => Promise<Answer>, worked: (answer: Answer) => boolean) {
    const from = lines.length;
    const auditFrom = audit.events.length;
    await proxy.cut();
    const cutAt = Date.now();
    const answers: Answer[] = [];
    const until = Date.now() + BURST_MS;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (Date.now() < until) answers.push(await attempt());
      }),
    );
    const outageEnd = lines.length;
    proxy = await tcpProxy(dc, { listenPort: proxy.port });
    let ok = false;
    let refusedAfter = 0;
    for (let i = 0; i < 20 && !ok; i++) {
      const answer = await attempt();
      ok = worked(answer);
      if (!ok && answer.status === 503) refusedAfter++;
      if (!ok) await sleep(200);
    }
    assert.ok(ok, 'works again once a DC answers, OpenFed was not restarted');
    const refused = answers.filter((a) => a.status === 503).length;
    return { answers, refused, refusedInAll: refused + refusedAfter, from, outageEnd, auditFrom, cutAt };
  }

  /**
   * What every outage must look like in the log, whichever door: every answer a quick 503, then at
   * info and above lost once, still down, back once with the total, and little else; the detail of
   * each refusal at debug. `served` are the lines a served request writes without any outage.
   */
  function assertLoggedAsStateChanges(t: TestContext, what: string, burst: Awaited<ReturnType<typeof outage>>, served: (l: LogLine) => boolean) {
    const { answers, refused, from, outageEnd } = burst;
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [503], `every ${what} answered 503 while no DC answered`);
    assert.ok(answers.every((a) => /no domain controller answered/.test(a.text)), 'each 503 is the directory-unavailable page');
    const slowest = Math.max(...answers.map((a) => a.ms));
    assert.ok(slowest < ANSWER_WITHIN_MS, `slowest refusal ${Math.round(slowest)} ms`);
    assert.ok(refused >= 50, `a real burst (${refused} ${what}s)`);

    const loud = lines.slice(from).filter((l) => l.level >= INFO && !served(l));
    const directory = loud.filter((l) => l.component === 'active-directory');
    const lost = directory.filter((l) => /^Active Directory lost/.test(l.msg));
    const stillDown = directory.filter((l) => /^Active Directory still down/.test(l.msg));
    const back = directory.filter((l) => /^Active Directory back/.test(l.msg));
    for (const l of loud.slice(0, 20)) t.diagnostic(`${l.level} ${String(l.component ?? '-')} ${l.msg} ${JSON.stringify({ reason: l.reason, refused: l.refused, totalRefused: l.totalRefused })}`);
    console.log(
      `DC outage: ${refused} ${what}s refused (503) in ${BURST_MS / 1000} s, slowest ${Math.round(slowest)} ms; ${loud.length} lines at info and above ` +
        `(${directory.length} from the directory, ${loud.filter((l) => l.level >= WARN).length} at warn and above); ` +
        `${lines.slice(from, outageEnd).filter((l) => l.level === DEBUG).length} at debug; lost ${lost[0] ? Date.parse(String(lost[0].time)) - burst.cutAt : '-'} ms after the cut`,
    );

    assert.equal(lost.length, 1, 'lost once');
    assert.ok(lost[0]!.level >= WARN && typeof lost[0]!.reason === 'string', 'lost: at warn or error, with the cause');
    assert.ok(stillDown.length >= 1, `still down at least once in ${BURST_MS / 1000} s with a ${REPORT_SECONDS} s report interval`);
    assert.ok(stillDown.every((l) => typeof l.refused === 'number'), 'still down says how many were refused');
    assert.equal(back.length, 1, 'back once');
    assert.equal(back[0]!.totalRefused, burst.refusedInAll, `back counts every refused ${what}`);
    assert.ok(loud.length <= 10, `${loud.length} lines at info and above for ${refused} refused ${what}s`);
  }

  const debugLines = (burst: { from: number; outageEnd: number }, match: (l: LogLine) => boolean) =>
    lines.slice(burst.from, burst.outageEnd).filter((l) => l.level === DEBUG && match(l));
  const servedRequest = (l: LogLine) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode < 400;

  test('password changes: lost, still down, back with the total; each refused change at debug, audited', async (t) => {
    /** The change-password form, then its POST: the user's own change (an OU of this file's own). */
    const change = async (next: string): Promise<Answer> => {
      const agent = request.agent(server.url);
      const page = await agent.get(CHANGE_PATH).timeout(ANSWER_WITHIN_MS).expect(200);
      const started = performance.now();
      const posted = await agent
        .post(CHANGE_PATH)
        .timeout(ANSWER_WITHIN_MS)
        .type('form')
        .send({ _csrf: csrfFrom(page.text), username: user.upn, currentPassword: user.password, newPassword: next, confirmPassword: next });
      return { status: posted.status, text: posted.text, ms: performance.now() - started };
    };
    const changed = (a: Answer) => a.status === 200 && a.text.includes(PASSWORD_CHANGE_MESSAGES.changedText);
    // A change through the proxy while the DC answers; it also leaves the user's name resolved for
    // extranet lockout (cached), so the burst's changes reach the directory's changePassword, as a
    // user's second try does — an unresolved name is refused earlier, in the lockout's look-up.
    const first = 'Outage-F1rst-Passw0rd!';
    assert.ok(changed(await change(first)), 'a password change through the proxy while the DC answers');
    user.password = first;
    const next = 'Outage-N3xt-Passw0rd!';
    const burst = await outage(() => change(next), changed);
    user.password = next;

    assertLoggedAsStateChanges(t, 'password change', burst, (l) => servedRequest(l) || l.msg === 'password changed');

    // One line per refused change from each side, at debug; each names its own request.
    const directory = debugLines(burst, (l) => l.component === 'active-directory' && l.msg === 'password change refused: no domain controller');
    assert.equal(directory.length, burst.refused, 'the directory (changePassword): one debug line per refused change');
    assert.equal(new Set(directory.map((l) => l.reqId)).size, burst.refused, 'each names its own request (reqId)');
    assert.equal(
      debugLines(burst, (l) => l.event === 'password.change_failed' && l.reason === 'directory_unavailable').length,
      burst.refused,
      'the change (src/authn/password-change.ts): one debug line per refused change',
    );
    assert.equal(debugLines(burst, (l) => l.msg === 'request failed: dependency unavailable').length, burst.refused, 'the error response: one debug line per 503');

    // The audit trail still has every refusal.
    const audited = audit.events.slice(burst.auditFrom).filter((e) => e.type === 'password.change_failed' && e.reason === 'directory_unavailable');
    assert.equal(audited.length, burst.refusedInAll, `password.change_failed directory_unavailable audited ${audited.length} times for ${burst.refusedInAll} refused changes`);
  });

  test('Windows sign-ins: lost, still down, back with the total; each refused ticket at debug, audited and counted', async (t) => {
    // Negotiate tokens as a browser makes them, from the ticket cache (service ticket fetched now,
    // while the KDC answers; the KDC is not behind the proxy anyway).
    const script =
      "const k=require('kerberos');(async()=>{const out=[];for(let i=0;i<Number(process.argv[2]);i++){" +
      "const c=await k.initializeClient(process.argv[1],{mechOID:k.GSS_MECH_OID_SPNEGO});out.push(await c.step(''));}" +
      "process.stdout.write(out.join('\\n'))})().catch((e)=>{console.error(e);process.exit(1)})";
    const minted = await execFileAsync(process.execPath, ['-e', script, `HTTP@${ad.stsHost}`, String(TOKENS)], {
      env: { ...process.env, ...ticket.env, NODE_PATH: join(process.cwd(), 'node_modules') },
      maxBuffer: 64 * 1024 * 1024,
    });
    const tokens = minted.stdout.split('\n');
    assert.equal(tokens.length, TOKENS);

    const windowsSignIn = async (): Promise<Answer> => {
      const token = tokens.pop();
      assert.ok(token, `more than ${TOKENS} Windows sign-ins: make more tokens`);
      const started = performance.now();
      const res = await fetch(`${server.url}/signin`, {
        headers: { 'User-Agent': 'curl/8', Authorization: `Negotiate ${token}` },
        redirect: 'manual',
        signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      });
      return { status: res.status, text: await res.text(), ms: performance.now() - started };
    };
    const windowsRefused = async (): Promise<number> => {
      const text = await server.metrics.registry.getSingleMetricAsString('openfed_signins_total');
      const m = /^openfed_signins_total\{outcome="failure",reason="windows_directory_unavailable"\} (\d+)$/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    assert.equal((await windowsSignIn()).status, 303, 'a Windows sign-in through the proxy while the DC answers');
    const countedBefore = await windowsRefused();

    const burst = await outage(windowsSignIn, (a) => a.status === 303);

    assertLoggedAsStateChanges(
      t,
      'Windows sign-in',
      burst,
      (l) => servedRequest(l) || l.msg === 'sign-in succeeded' || l.msg === 'account checked: may sign in',
    );

    const directory = debugLines(burst, (l) => l.component === 'active-directory' && l.msg === 'look-up failed: no domain controller');
    assert.equal(directory.length, burst.refused, 'the directory (the account check): one debug line per refused sign-in');
    assert.equal(new Set(directory.map((l) => l.reqId)).size, burst.refused, 'each names its own request (reqId)');
    assert.equal(
      debugLines(burst, (l) => l.msg === 'sign-in failed' && l.method === 'windows' && l.reason === 'directory_unavailable').length,
      burst.refused,
      'the sign-in (src/authn/kerberos.ts): one debug line per refused sign-in',
    );
    assert.equal(debugLines(burst, (l) => l.msg === 'request failed: dependency unavailable').length, burst.refused, 'the error response: one debug line per 503');

    const audited = audit.events.slice(burst.auditFrom).filter((e) => e.type === 'signin.failed' && e.reason === 'windows_directory_unavailable');
    assert.equal(audited.length, burst.refusedInAll, `signin.failed windows_directory_unavailable audited ${audited.length} times for ${burst.refusedInAll} refused sign-ins`);
    const counted = (await windowsRefused()) - countedBefore;
    assert.equal(counted, burst.refusedInAll, `openfed_signins_total{reason="windows_directory_unavailable"} grew by ${counted} for ${burst.refusedInAll} refused sign-ins`);
  });
});
