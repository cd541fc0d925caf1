/**
 * The audit trail: one JSON line per security event with its AD FS event id, in its own file, and
 * never a password or token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { craftAuthnRequest, redirectQuery } from '../helpers/saml.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';

async function auditLines(dataDir: string, count: number): Promise<Array<Record<string, unknown>>> {
  for (;;) {
    const text = readFileSync(join(dataDir, 'audit.log'), 'utf8').trim();
    const lines = text === '' ? [] : text.split('\n');
    if (lines.length >= count) return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('sign-ins, tokens issued and refused, and sign-out land in <dataDir>/audit.log with AD FS event ids', async () => {
  const server = await startTestServer({
    server: { baseUrl: 'http://127.0.0.1' },
    relyingParties: [{ entityId: 'https://sp.example.test', assertionConsumerServices: [{ url: 'https://sp.example.test/acs' }] }],
  });
  try {
    const agent = request.agent(server.url);
    let form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: 'Wrong-Passw0rd-42' }).expect(401);
    form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    const issued = await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: 'https://sp.example.test' }).xml)}`).expect(200);
    await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: 'https://evil.example' }).xml)}`).expect(400);
    const home = await agent.get('/');
    await agent.post('/signout').type('form').send({ _csrf: csrfFrom(home.text) }).expect(200);

    // A serving process buffers its audit lines for up to 100 ms: wait for them, not for a time.
    const lines = await auditLines(server.dataDir, 5);
    const summary = lines.map((l) => `${l.type}:${l.adfsEventId ?? '-'}`);
    assert.deepEqual(summary, ['signin.failed:1203', 'signin.succeeded:1202', 'token.issued:1200', 'token.refused:1201', 'signout:-']);
    assert.equal(lines[0]!.reason, 'invalid_credentials');
    assert.equal(lines[2]!.rp, 'https://sp.example.test');
    assert.match(String(lines[2]!.nameId), /^[A-Za-z0-9+/]{22}==$/, 'the NameID issued (ImmutableID)');
    assert.equal(lines[3]!.reason, 'saml_unknown_relying_party');
    for (const line of lines) {
      assert.equal(line.log, 'audit');
      assert.match(String(line.requestId), /^[0-9a-f-]{36}$/);
    }
    const raw = readFileSync(join(server.dataDir, 'audit.log'), 'utf8');
    assert.ok(!raw.includes('Wrong-Passw0rd-42') && !raw.includes(DEMO_PASSWORD), 'no password');
    assert.ok(!raw.includes('SAMLResponse') && !raw.includes(/name="SAMLResponse" value="([^"]{40})/.exec(issued.text)![1]!), 'no token');
  } finally {
    await server.stop();
  }
});

test('a stopping server writes out the audit lines still in its buffer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-audit-'));
  const file = join(dir, 'audit.log');
  const server = await startTestServer({ server: { baseUrl: 'http://127.0.0.1' }, audit: { file } });
  try {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: 'Wrong-Passw0rd-42' }).expect(401);
  } finally {
    await server.stop();
  }
  // Read at once after stop(): no waiting, the buffer was flushed on the way down.
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  rmSync(dir, { recursive: true, force: true });
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0]!) as Record<string, unknown>).type, 'signin.failed');
});
