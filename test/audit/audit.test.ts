/**
 * The audit trail: one JSON line per security event with its AD FS event id, in its own file, and
 * never a password or token.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { craftAuthnRequest, redirectQuery } from '../helpers/saml.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';

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

    const lines = readFileSync(join(server.dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
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
