/**
 * A machine without the optional kerberos addon (no libkrb5-dev at install): with kerberos.enabled,
 * OpenFed still starts, says why Windows Integrated Authentication is off, and every browser gets the
 * forms page — no challenge, no Kerberos endpoints.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startTestServer } from '../helpers/server.js';

test('kerberos.enabled without the addon: started, reported, the form for everyone', async () => {
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
  const reason = 'the optional kerberos addon is not installed (install libkrb5-dev, g++ and make, then run npm ci again)';
  const server = await startTestServer(
    {
      server: { baseUrl: 'http://127.0.0.1' },
      kerberos: { enabled: true, servicePrincipal: 'HTTP/sts.contoso.test', keytab: '/nonexistent.keytab', realm: 'CONTOSO.TEST', intranetNetworks: ['127.0.0.0/8'], userAgents: ['curl/'] },
    },
    { logger, loadKerberosAddon: async () => ({ ok: false, reason }) },
  );
  try {
    assert.equal(server.deps.windows, undefined);
    const said = lines.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string }).find((l) => l.reason === reason);
    assert.ok(said, 'the reason is logged at start');
    assert.equal(said.level, 50, 'as an error: the configuration asked for something that is off');
    const page = await fetch(`${server.url}/signin`, { headers: { 'User-Agent': 'curl/8' } });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('www-authenticate'), null);
    const transport = await fetch(`${server.url}/adfs/services/trust/13/windowstransport`, { method: 'POST' });
    assert.equal(transport.status, 404, 'no windowstransport door without Kerberos');
  } finally {
    await server.stop();
  }
});
