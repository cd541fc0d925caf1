/**
 * The state-changing forms (/signin, /signout): CSRF on every POST, field caps, Unicode username
 * normalisation against the demo directory, and LDAP-filter metacharacters typed at /signin against
 * a real Active Directory (the Samba DC of test/setup/samba-ad.sh) never signing anyone in.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify as stringifyYaml } from 'yaml';
import { DEMO_PASSWORD, DEMO_USER, hashPassword } from '../../src/directory/demo.js';
import { ldapConfig, loadAdFacts, type AdFacts } from '../helpers/ad.js';
import { assertRefusedPage } from '../helpers/hostile.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const NFC_UPN = 'zoë.müller@openfed.test'.normalize('NFC');
const NFC_PASSWORD = 'Pässwörd-Ünïcode-1'.normalize('NFC');
/** Stored decomposed, as an editor on macOS may save it. */
const NFD_STORED_UPN = 'renée.dubois@openfed.test'.normalize('NFD');

describe('forms: CSRF, field caps, Unicode names (demo directory)', () => {
  let server: TestServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openfed-sec-users-'));
    const usersFile = join(dir, 'users.yaml');
    const user = async (upn: string, sam: string, password: string) => ({
      userPrincipalName: upn,
      sAMAccountName: sam,
      passwordHash: await hashPassword(password),
      objectGuid: randomUUID(),
      mail: upn,
      groups: [],
    });
    writeFileSync(
      usersFile,
      stringifyYaml({
        users: [
          await user(DEMO_USER, 'demo', DEMO_PASSWORD),
          await user(NFC_UPN, 'zoe', NFC_PASSWORD),
          await user(NFD_STORED_UPN, 'renee', NFC_PASSWORD),
        ],
      }),
      { mode: 0o600 },
    );
    // Per-address throttling (lockout.perAddress) would answer 429 to this file's many posts from 127.0.0.1.
    server = await startTestServer({ directory: { demo: { usersFile } }, lockout: { perAddress: { attempts: 0 } } });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function formFor(agent: request.Agent) {
    const page = await agent.get('/signin').expect(200);
    return csrfFrom(page.text);
  }
  async function signIn(username: string, password: string) {
    const agent = request.agent(server.url);
    const csrf = await formFor(agent); // before the POST is created: the agent attaches cookies then
    const res = await agent.post('/signin').type('form').send({ _csrf: csrf, username, password });
    return { agent, res };
  }
  async function signedInAs(agent: request.Agent): Promise<string | undefined> {
    const home = await agent.get('/').expect(200);
    return /<[^>]*>([^<]*@openfed\.test)</.exec(home.text)?.[1];
  }

  // ------------------------------------------------------------------------------------------- CSRF

  const forgeries: Array<[string, (agent: request.Agent, other: request.Agent) => Promise<Record<string, string>>]> = [
    ['no token', async () => ({})],
    ['empty token', async () => ({ _csrf: '' })],
    ['a made-up token', async () => ({ _csrf: 'a'.repeat(64) + '.' + 'b'.repeat(64) })],
    ['the token of another browser', async (_agent, other) => ({ _csrf: await formFor(other) })],
    ['its own token, tampered', async (agent) => ({ _csrf: (await formFor(agent)).replace(/.$/, (c) => (c === '0' ? '1' : '0')) })],
  ];
  for (const path of ['/signin', '/signout']) {
    for (const [what, token] of forgeries) {
      test(`POST ${path} with ${what} → 403`, async () => {
        const agent = request.agent(server.url);
        const other = request.agent(server.url);
        await agent.get('/signin'); // the browser has its CSRF cookie
        const fields = await token(agent, other);
        const res = await agent.post(path).type('form').send({ ...fields, username: DEMO_USER, password: DEMO_PASSWORD });
        assert.equal(res.status, 403, res.text.slice(0, 200));
        assertRefusedPage(res, `${path} ${what}`);
        const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
        assert.ok(!cookies.some((c) => c.startsWith(`${server.config.sessions.cookieName}=`) && !/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)), 'no session started');
      });
    }
  }

  test('POST /signout with a forged token does not end the session', async () => {
    const { agent } = await signIn(DEMO_USER, DEMO_PASSWORD);
    assert.equal(await signedInAs(agent), DEMO_USER);
    const res = await agent.post('/signout').type('form').send({ _csrf: 'forged' });
    assert.equal(res.status, 403);
    assert.equal(await signedInAs(agent), DEMO_USER, 'still signed in');
  });

  test('a token minted before sign-in is bound to that (absent) session; the signed-in session needs a new one', async () => {
    const agent = request.agent(server.url);
    const before = await formFor(agent);
    await agent.post('/signin').type('form').send({ _csrf: before, username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    const res = await agent.post('/signout').type('form').send({ _csrf: before });
    assert.equal(res.status, 403);
  });

  test('control: the real token signs in and out', async () => {
    const { agent, res } = await signIn(DEMO_USER, DEMO_PASSWORD);
    assert.equal(res.status, 303);
    const home = await agent.get('/').expect(200);
    const out = await agent.post('/signout').type('form').send({ _csrf: csrfFrom(home.text) });
    assert.ok(out.status < 400, `${out.status}`);
    assert.equal(await signedInAs(agent), undefined);
  });

  // ------------------------------------------------------------------------------------- field caps

  const capCases: Array<[string, (csrf: string) => string | Record<string, string>, number]> = [
    ['username over maxUsernameLength', (csrf) => ({ _csrf: csrf, username: `${'u'.repeat(257)}`, password: 'x' }), 400],
    ['password over maxPasswordLength', (csrf) => ({ _csrf: csrf, username: DEMO_USER, password: 'p'.repeat(257) }), 400],
    ['username repeated', (csrf) => `_csrf=${encodeURIComponent(csrf)}&username=a&username=b&password=x`, 400],
    ['password repeated', (csrf) => `_csrf=${encodeURIComponent(csrf)}&username=a&password=x&password=y`, 400],
    ['empty username', (csrf) => ({ _csrf: csrf, username: '   ', password: 'x' }), 400],
    ['empty password', (csrf) => ({ _csrf: csrf, username: DEMO_USER, password: '' }), 400],
    ['body over 16 KB', (csrf) => ({ _csrf: csrf, username: DEMO_USER, password: 'p'.repeat(20_000) }), 413],
    ['more than 16 fields', (csrf) => `_csrf=${encodeURIComponent(csrf)}&${Array.from({ length: 20 }, (_, i) => `f${i}=1`).join('&')}`, 413],
  ];
  for (const [what, body, status] of capCases) {
    test(`/signin: ${what} → ${status}, nobody signed in`, async () => {
      const agent = request.agent(server.url);
      const csrf = await formFor(agent);
      const res = await agent.post('/signin').type('form').send(body(csrf));
      assert.equal(res.status, status, res.text.slice(0, 200));
      assert.doesNotMatch(res.text, /\n\s+at [^\n]+\(/);
      assert.equal(await signedInAs(agent), undefined);
    });
  }

  test('an overlong username is not echoed back into the form', async () => {
    const agent = request.agent(server.url);
    const long = `${'z'.repeat(300)}@openfed.test`;
    const csrf = await formFor(agent);
    const res = await agent.post('/signin').type('form').send({ _csrf: csrf, username: long, password: 'x' });
    assert.equal(res.status, 400);
    assert.ok(!res.text.includes('z'.repeat(300)));
  });

  test('the username is escaped when echoed after a failure', async () => {
    const { res } = await signIn('"><script>alert(1)</script>@openfed.test', 'wrong');
    assert.equal(res.status, 401);
    assert.ok(!res.text.includes('<script>alert(1)</script>'));
  });

  // --------------------------------------------------------------------------------------- Unicode

  for (const [what, username, password] of [
    ['NFC name, NFC password', NFC_UPN, NFC_PASSWORD],
    ['NFD name, NFD password', NFC_UPN.normalize('NFD'), NFC_PASSWORD.normalize('NFD')],
    ['NFD name, NFC password', NFC_UPN.normalize('NFD'), NFC_PASSWORD],
    ['upper-case NFD name', NFC_UPN.normalize('NFD').toUpperCase(), NFC_PASSWORD],
    ['NFC name with surrounding spaces', `  ${NFC_UPN}  `, NFC_PASSWORD],
  ] as const) {
    test(`Unicode: ${what} signs in as the same demo user`, async () => {
      const { agent, res } = await signIn(username, password);
      assert.equal(res.status, 303, res.text.slice(0, 300));
      assert.equal(await signedInAs(agent), NFC_UPN);
    });
  }

  test('Unicode: a look-alike name (Cyrillic о, Latin ligature, fullwidth @) is another name, not the user', async () => {
    for (const lookalike of [NFC_UPN.replace('o', '\u043e'), NFC_UPN.replace('@', '\uff20'), NFC_UPN.replace('ü', 'u\u0308\u0308')]) {
      const { agent, res } = await signIn(lookalike, NFC_PASSWORD);
      assert.equal(res.status, 401, lookalike);
      assert.equal(await signedInAs(agent), undefined);
    }
  });

  test('Unicode: a lone surrogate or control character in the name is a plain 401', async () => {
    for (const bad of ['demo\uD800@openfed.test', 'demo\u0000@openfed.test', 'de\u0007mo@openfed.test']) {
      const { res } = await signIn(bad, DEMO_PASSWORD);
      assert.equal(res.status, 401, JSON.stringify(bad));
    }
  });

  test(
    'Unicode: a users-file entry saved in NFD is found when the name is typed in NFC',
    async () => {
      const { agent, res } = await signIn(NFD_STORED_UPN.normalize('NFC'), NFC_PASSWORD);
      assert.equal(res.status, 303, res.text.slice(0, 200));
      assert.ok((await signedInAs(agent))?.normalize('NFC') === NFD_STORED_UPN.normalize('NFC'));
    },
  );
});

async function waitForDc(ad: AdFacts, timeoutMs: number): Promise<void> {
  const { hostname, port } = new URL(ad.ldapUrl);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port || 389) });
      socket.setTimeout(1000, () => socket.destroy());
      socket.once('connect', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`the test DC at ${ad.ldapUrl} is not answering (sudo bash test/setup/samba-ad.sh)`);
    await sleep(500);
  }
}

describe('LDAP filter metacharacters at /signin against Active Directory (Samba DC)', () => {
  let ad: AdFacts;
  let server: TestServer;

  before(async () => {
    ad = loadAdFacts();
    await waitForDc(ad, 60_000); // another suite (test/faults) may be restarting the DC
    server = await startTestServer({ directory: { ldap: ldapConfig(ad) }, lockout: { perAddress: { attempts: 0 } } });
  });
  after(() => server?.stop());

  async function signIn(username: string, password: string) {
    const agent = request.agent(server.url);
    const page = await agent.get('/signin').expect(200);
    const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(page.text), username, password }).timeout(15_000);
    return res;
  }

  test('control: the NORMAL user signs in with its password', async () => {
    const res = await signIn(`${ad.users.NORMAL.sam}@${ad.dnsDomain}`, ad.users.NORMAL.password);
    assert.equal(res.status, 303, res.text.slice(0, 300));
  });

  test('filter payloads never sign anyone in and answer 401', async () => {
    const sam = ad.users.NORMAL.sam;
    const payloads = [
      '*',
      '*)(uid=*',
      '*)(sAMAccountName=*',
      '*)(|(objectClass=*)',
      'admin*',
      '*admin',
      `${sam.slice(0, 3)}*`,
      `*${sam.slice(1)}`,
      `${sam})(objectClass=*`,
      `${sam}*@${ad.dnsDomain}`,
      `*@${ad.dnsDomain}`,
      `${ad.netbiosDomain}\\*`,
      `${ad.netbiosDomain}\\${sam.slice(0, 3)}*`,
      '\\2a',
      `${sam.slice(0, 3)}\\2a`,
      '\\2a)(objectClass=\\2a',
      '(',
      ')',
      `${sam}\\00`,
      '*\u0000',
    ];
    const answers: string[] = [];
    for (const username of payloads) {
      // The NORMAL user's real password: a filter that matched them would sign in.
      const res = await signIn(username, ad.users.NORMAL.password);
      answers.push(`${JSON.stringify(username)} → ${res.status}`);
      assert.equal(res.status, 401, `${JSON.stringify(username)} answered ${res.status}: ${res.text.slice(0, 200)}`);
      assert.equal(res.headers.location, undefined);
    }
    assert.equal(answers.length, payloads.length);
  });
});
