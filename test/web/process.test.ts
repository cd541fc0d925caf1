/**
 * The real process (src/main.ts): graceful shutdown on SIGTERM, and what reaches its logs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_USER } from '../../src/directory/demo.js';
import { csrfFrom } from '../helpers/server.js';

interface Process {
  child: ChildProcessWithoutNullStreams;
  url: string;
  output: () => string;
}

async function startProcess(serverSettings = ''): Promise<Process> {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-process-'));
  const config = join(dir, 'openfed.yaml');
  writeFileSync(config, `dataDir: ${dir}\nserver:\n  host: 127.0.0.1\n  port: 0\n  shutdownGraceMs: 5000\n${serverSettings}log:\n  level: debug\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, OPENFED_CONFIG: config } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/"msg":"OpenFed listening"/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /"url":"(http:\/\/[^"]+)"/.exec(out)![1]!;
  return { child, url, output: () => out };
}

describe('the OpenFed process', () => {
  test('SIGTERM: stops accepting, finishes the request in flight, then exits 0', async () => {
    const proc = await startProcess();
    const { port } = new URL(proc.url);
    // A request whose body is still on its way when the signal arrives.
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    const body = 'username=x&password=y';
    socket.write(`POST /signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.slice(0, 5));
    await new Promise((r) => setTimeout(r, 200));

    proc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // No new connections once shutting down.
    await assert.rejects(request(proc.url).get('/healthz').timeout(2000));

    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString()));
    // The rest of the body, and a second request pipelined behind it on the same kept-alive connection.
    socket.write(`${body.slice(5)}GET /signin HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await once(socket, 'close');
    assert.match(response, /^HTTP\/1\.1 403 /, 'the request in flight got its answer (403: it carried no CSRF token)');
    // A request read while draining is answered, and told that the connection ends with it: a
    // kept-alive client (a load balancer's pool) takes its next request elsewhere instead of
    // sending it on a connection about to be closed.
    const second = response.slice(response.indexOf('HTTP/1.1', 1));
    assert.match(second, /^HTTP\/1\.1 200 /, 'the pipelined request was answered');
    assert.match(second, /\r\nconnection: close\r\n/i);

    const [code] = (await once(proc.child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.match(proc.output(), /"msg":"stopped"/);
  });

  test('SIGTERM: a kept-alive connection idle at the signal still gets its next request answered (the last call)', async () => {
    const proc = await startProcess();
    const { port } = new URL(proc.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    while (!response.includes('\r\n\r\nOK')) await new Promise((r) => setTimeout(r, 10));
    assert.match(response, /\r\nconnection: keep-alive\r\n/i, 'kept alive before the signal');

    // Idle at the signal, as between two requests of a busy load balancer's connection.
    const closed = once(socket, 'close');
    socket.on('error', () => undefined); // a reset is what the assertions below must catch
    proc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    response = '';
    socket.write('GET /signin HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await closed;
    assert.match(response, /^HTTP\/1\.1 200 /, 'answered, not reset');
    assert.match(response, /\r\nconnection: close\r\n/i, 'and told to go elsewhere next time');
    const [code] = (await once(proc.child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });

  test('SIGTERM with server.shutdownDelayMs: the probes answer 503 at once, new connections are served until the delay ends, then refused', async () => {
    const proc = await startProcess('  shutdownDelayMs: 1500\n');
    await request(proc.url).get('/adfs/probe').expect(200, 'OK');
    const signalAt = Date.now();
    proc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // What a load balancer probes: out of the pool.
    await request(proc.url).get('/adfs/probe').expect(503, 'shutting down');
    await request(proc.url).get('/healthz').expect(503);
    const ready = await request(proc.url).get('/readyz').expect(503);
    assert.equal(ready.body.shuttingDown, true);
    // What a user sent before the balancer noticed: still served, on a new connection.
    const page = await request(proc.url).get('/signin').expect(200);
    assert.match(String(page.headers.connection), /close/i, 'and told not to come back on this connection');
    assert.ok(Date.now() - signalAt < 1500, 'all of this within the delay');

    const [code] = (await once(proc.child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.ok(Date.now() - signalAt >= 1500, 'the listener closed only after the delay');
    assert.match(proc.output(), /"msg":"shutting down: probes answer 503; serving on until the load balancer has noticed"/);
  });

  test('logs never carry passwords, cookies or CSRF tokens', async () => {
    const proc = await startProcess();
    try {
      const password = 'Very-Secret-Passw0rd-7d1e';
      const agent = request.agent(proc.url);
      const form = await agent.get('/signin').expect(200);
      const token = csrfFrom(form.text);
      await agent.post('/signin').type('form').send({ _csrf: token, username: DEMO_USER, password }).expect(401);
      await agent.post('/signin').type('form').send({ _csrf: 'forged', username: DEMO_USER, password }).expect(403);
      await new Promise((r) => setTimeout(r, 200));
      const logs = proc.output();
      assert.match(logs, /"event":"signin.failed"/, 'the failure itself is logged');
      assert.match(logs, /"reason":"invalid_credentials"/);
      assert.ok(!logs.includes(password), 'no password in the logs');
      assert.ok(!logs.includes(token), 'no CSRF token in the logs');
      assert.doesNotMatch(logs, /openfed_csrf=/);
    } finally {
      proc.child.kill('SIGTERM');
      await once(proc.child, 'exit');
    }
  });
});
