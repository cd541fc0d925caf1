/**
 * A live OpenFed for a test file: real HTTP on a free loopback port, a fresh data directory, and
 * whichever directory and session store the test asks for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditLog } from '../../src/audit/audit.js';
import type { Clock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import type { Directory } from '../../src/directory/types.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/server.js';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { readPostForm } from './saml.js';

/** keys.encryptionSecret of every test server unless the test gives its own. */
export const TEST_KEY_ENCRYPTION_SECRET = 'test-only key encryption secret, 32+ characters';

export interface TestServer extends RunningServer {
  config: Config;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestServer(
  input: ConfigInput = {},
  options: { clock?: Clock; directory?: Directory; logger?: Logger; audit?: AuditLog; loadKerberosAddon?: StartOptions['loadKerberosAddon'] } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'openfed-test-'));
  const config = parseConfig({
    dataDir,
    ...input,
    server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 1000, ...input.server },
    // With sessions.redis the managed token-signing keys are shared through Redis, encrypted with this.
    keys: { encryptionSecret: TEST_KEY_ENCRYPTION_SECRET, ...input.keys },
    log: { level: 'silent', ...input.log },
  });
  const running = await startServer(config, options.logger ?? silentLogger, options);
  return {
    ...running,
    config,
    dataDir,
    async stop() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The CSRF token of the first form on a page. */
/** /readyz's status once it answers 200, or the last one after `timeoutMs` (a dependency coming back). */
export async function readyWithin(url: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await request(url).get('/readyz')).status;
    if (status === 200 || Date.now() >= deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('page has no CSRF token');
  return m[1]!;
}

/**
 * A protocol request (a path under /adfs/ls/) from a browser with no session, through the sign-in
 * form as the demo user, to the auto-POST form OpenFed answers with at the end.
 */
export async function signOnThroughForm(url: string, path: string): Promise<{ action: string; fields: Record<string, string> }> {
  const agent = request.agent(url);
  const first = await agent.get(path);
  assert.equal(first.status, 303, first.text.slice(0, 300));
  const form = await agent.get(first.headers.location!).expect(200);
  const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
  assert.equal(posted.status, 303, posted.text.slice(0, 300));
  return readPostForm((await agent.get(posted.headers.location!).expect(200)).text);
}
