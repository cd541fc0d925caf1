/**
 * The domain controller really stops and starts again (the Samba processes of the test setup), while
 * OpenFed keeps running: "directory unavailable" and a red readiness while it is down, sign-ins again
 * afterwards without restarting OpenFed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { ldapConfig, loadAdFacts, type AdFacts } from '../helpers/ad.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const STOP_SCRIPT = join(import.meta.dirname, '..', 'setup', 'samba-ad-stop.sh');

function sambaConf(ad: AdFacts): string {
  const line = readFileSync(ad.envFile, 'utf8').split('\n').find((l) => l.startsWith('AD_SAMBA_CONF='));
  return line!.slice('AD_SAMBA_CONF='.length).replace(/^'|'$/g, '');
}

describe('the domain controller stops and comes back', () => {
  let ad: AdFacts;
  let server: TestServer;

  before(async () => {
    ad = loadAdFacts();
    server = await startTestServer({ directory: { ldap: ldapConfig(ad, { connectTimeoutMs: 1000, timeoutMs: 2000 }) } });
  });
  after(async () => {
    await server?.stop();
    await startDc(); // whatever happened, leave the DC running for the tests after this file
  });

  const signIn = async () => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin');
    return agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: ad.users.NORMAL.sam, password: ad.users.NORMAL.password });
  };

  async function startDc(): Promise<void> {
    const probe = () => spawnSync('ldapsearch', ['-x', '-H', ad.ldapUrl, '-s', 'base', '-b', '', '-LLL', '-o', 'nettimeout=2', 'dn'], { stdio: 'ignore' }).status === 0;
    if (probe()) return;
    execFileSync('samba', ['-s', sambaConf(ad), '-D'], { stdio: 'pipe' });
    for (let i = 0; i < 300 && !probe(); i++) await sleep(100);
    assert.ok(probe(), 'the DC answers LDAP again');
  }

  test('all DCs down: 503 "no domain controller answered", readiness red; back to normal when the DC returns', async () => {
    assert.equal((await signIn()).status, 303, 'signs in while the DC runs');

    execFileSync('bash', [STOP_SCRIPT, ad.dir], { stdio: 'pipe' });
    const down = await signIn();
    assert.equal(down.status, 503);
    assert.match(down.text, /no domain controller answered/);
    const ready = await request(server.url).get('/readyz').expect(503);
    assert.equal(ready.body.checks.directory.ok, false);
    await request(server.url).get('/healthz').expect(200);

    await startDc();
    let status = 0;
    for (let i = 0; i < 50 && status !== 303; i++) {
      status = (await signIn()).status;
      if (status !== 303) await sleep(200);
    }
    assert.equal(status, 303, 'sign-in works again, OpenFed was not restarted');
    await request(server.url).get('/readyz').expect(200);
  });
});
