/**
 * ActiveDirectory when DCs misbehave, and its TLS and connection discipline, against the Samba DC of
 * test/setup/samba-ad.sh plus local fakes: a closed port, a "blackhole" that accepts TCP and never
 * answers, and a proxy that can be cut mid-session.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ActiveDirectory } from '../../src/directory/active-directory.js';
import type { AuthResult } from '../../src/directory/types.js';
import { ServiceUnavailableError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { ldapConfig, loadAdFacts, openLdapConnections } from '../helpers/ad.js';
import { tcpProxy } from '../helpers/tcp-proxy.js';

const ad = loadAdFacts();
const alice = ad.users.NORMAL;
const CLOSED_PORT_URL = 'ldap://127.0.0.1:1';

/** Accepts connections and never says a word: the worst kind of dead DC. */
async function blackhole(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}


async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

function assertSignedIn(result: AuthResult): void {
  assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  assert.equal(result.principal.sAMAccountName, alice.sam);
}

function assertUnavailable(result: AuthResult): void {
  assert.deepEqual([result.ok, !result.ok && result.reason], [false, 'directory_unavailable'], JSON.stringify(result));
}

describe('DC failover', () => {
  let hole: Awaited<ReturnType<typeof blackhole>>;
  before(async () => {
    hole = await blackhole();
  });
  after(() => hole.close());

  test('a refused first DC is skipped', async () => {
    const dir = new ActiveDirectory(ldapConfig(ad, { urls: [CLOSED_PORT_URL, ad.ldapUrl] }), silentLogger);
    try {
      assertSignedIn(await dir.authenticate(alice.sam, alice.password));
      assert.equal((await dir.health()).ok, true);
    } finally {
      await dir.close();
    }
  });

  // Each case: a first DC that accepts TCP and then stays silent. Without explicit timeouts ldapts
  // would wait forever; with them the sign-in moves on to the real DC.
  const silentCases = [
    { label: 'plain LDAP: the bind times out (timeoutMs)', url: () => `ldap://127.0.0.1:${hole.port}`, real: () => ad.ldapUrl, startTls: false },
    { label: 'LDAPS: the TLS handshake times out (connectTimeoutMs)', url: () => `ldaps://127.0.0.1:${hole.port}`, real: () => ad.ldapsUrl, startTls: false },
    { label: 'StartTLS: the extended operation times out', url: () => `ldap://127.0.0.1:${hole.port}`, real: () => ad.ldapUrl, startTls: true },
  ];
  for (const c of silentCases) {
    test(`a silent first DC is skipped, ${c.label}`, async () => {
      const dir = new ActiveDirectory(
        ldapConfig(ad, { urls: [c.url(), c.real()], startTls: c.startTls, connectTimeoutMs: 600, timeoutMs: 600 }),
        silentLogger,
      );
      try {
        // The service connection fails over once, the user bind (own connection) once more.
        const { value, ms } = await timed(() => dir.authenticate(alice.sam, alice.password));
        assertSignedIn(value);
        assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
      } finally {
        await dir.close();
      }
    });
  }

  test('when every DC fails: directory_unavailable, a throwing findPrincipal, an unhealthy health()', async () => {
    const dir = new ActiveDirectory(
      ldapConfig(ad, { urls: [CLOSED_PORT_URL, `ldap://127.0.0.1:${hole.port}`], connectTimeoutMs: 500, timeoutMs: 500 }),
      silentLogger,
    );
    try {
      const { value, ms } = await timed(() => dir.authenticate(alice.sam, alice.password));
      assertUnavailable(value);
      assert.ok(ms < 4000, `gave up after ${Math.round(ms)} ms`);
      await assert.rejects(dir.findPrincipal(alice.sam), (err) => err instanceof ServiceUnavailableError && err.messageId === 'directory_unavailable');
      const health = await dir.health();
      assert.equal(health.ok, false);
      assert.match(health.detail, /127\.0\.0\.1:1/);
    } finally {
      await dir.close();
    }
  });

  test('a DC lost mid-session: the service connection is re-established on the next DC', async () => {
    const proxy = await tcpProxy({ host: '127.0.0.1', port: 389 });
    const dir = new ActiveDirectory(ldapConfig(ad, { urls: [`ldap://127.0.0.1:${proxy.port}`, ad.ldapUrl] }), silentLogger);
    try {
      assertSignedIn(await dir.authenticate(alice.sam, alice.password));
      assert.match((await dir.health()).detail, new RegExp(`:${proxy.port}`), 'first sign-in used the first DC');
      await proxy.cut();
      assertSignedIn(await dir.authenticate(alice.sam, alice.password));
      assert.match((await dir.health()).detail, /127\.0\.0\.1:389/);
    } finally {
      await dir.close();
    }
  });

  test('a wrong service password is directory_unavailable, not a user error', async () => {
    const dir = new ActiveDirectory(ldapConfig(ad, { bindPassword: 'not-the-service-password' }), silentLogger);
    try {
      assertUnavailable(await dir.authenticate(alice.sam, alice.password));
    } finally {
      await dir.close();
    }
  });
});

describe('TLS', () => {
  const cases = [
    { label: 'LDAPS verified with the CA file', config: () => ({ urls: [ad.ldapsUrl] }) },
    { label: 'StartTLS verified with the CA file', config: () => ({ urls: [ad.ldapUrl], startTls: true }) },
  ];
  for (const c of cases) {
    test(c.label, async () => {
      const dir = new ActiveDirectory(ldapConfig(ad, c.config()), silentLogger);
      try {
        assertSignedIn(await dir.authenticate(alice.sam, alice.password));
        assert.equal((await dir.health()).ok, true);
      } finally {
        await dir.close();
      }
    });
  }

  const untrusted = [
    { label: 'LDAPS, certificate from another CA', config: () => ({ urls: [ad.ldapsUrl], caFile: ad.otherCaFile }) },
    { label: 'StartTLS, certificate from another CA', config: () => ({ urls: [ad.ldapUrl], startTls: true, caFile: ad.otherCaFile }) },
    { label: 'LDAPS, system trust store (does not know the test CA)', config: () => ({ urls: [ad.ldapsUrl], caFile: undefined }) },
  ];
  for (const c of untrusted) {
    test(`fails closed: ${c.label}`, async () => {
      const dir = new ActiveDirectory(ldapConfig(ad, c.config()), silentLogger);
      try {
        const result = await dir.authenticate(alice.sam, alice.password);
        assertUnavailable(result);
        assert.match(!result.ok ? (result.detail ?? '') : '', /certificate|self.signed|issuer/i);
        assert.equal((await dir.health()).ok, false);
      } finally {
        await dir.close();
      }
    });
  }
});

describe('connections at the DC', () => {
  test('500 sign-ins keep at most maxConcurrentBinds + 1 connections open, and close() closes them all', async () => {
    const maxConcurrentBinds = 4;
    const dir = new ActiveDirectory(ldapConfig(ad), silentLogger, { maxConcurrentBinds });
    const baseline = await openLdapConnections();
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await openLdapConnections()) - baseline);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      const names = [alice.sam, `${alice.sam}@${ad.dnsDomain}`, `${ad.netbiosDomain}\\${alice.sam}`];
      let next = 0;
      let failures = 0;
      // 25 callers at once, far more than the bind slots, as a burst of browsers would be.
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          while (next < 500) {
            const i = next++;
            const result = await dir.authenticate(names[i % names.length]!, alice.password);
            if (!result.ok) failures++;
          }
        }),
      );
      sampling = false;
      await sampler;
      assert.equal(failures, 0);
      assert.ok(peak <= maxConcurrentBinds + 1, `peak of ${peak} connections`);
      assert.ok(peak >= 2, `sampling saw the bind connections (peak ${peak})`);
      // The service connection and the pooled user-bind connections stay open for the next sign-ins.
      const open = (await openLdapConnections()) - baseline;
      assert.ok(open >= 2 && open <= maxConcurrentBinds + 1, `${open} connections left open`);
    } finally {
      sampling = false;
      await dir.close();
    }
    assert.equal((await openLdapConnections()) - baseline, 0, 'close() closes the service and the pooled connections');
  });
});
