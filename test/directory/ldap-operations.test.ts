/**
 * What one sign-in costs the domain controller: the LDAP connections and operations ActiveDirectory
 * sends, counted by a TCP proxy in front of the real Samba DC that decodes the client's LDAP
 * messages (plain ldap://, so the bytes are readable). A sign-in that needs more from the DC than
 * it did shows up here, not only as a slower benchmark.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { ActiveDirectory, groupSidsOfToken } from '../../src/directory/active-directory.js';
import { sidFromString } from '../../src/directory/sid.js';
import type { AuthResult, Principal } from '../../src/directory/types.js';
import { silentLogger } from '../../src/log.js';
import { ldapConfig, loadAdFacts, type AdRole } from '../helpers/ad.js';
import { tcpProxy } from '../helpers/tcp-proxy.js';

const ad = loadAdFacts();
const { users } = ad;
const alice = users.NORMAL;

/** An LDAP request as the DC received it. */
interface Op {
  op: 'bind' | 'search' | 'unbind' | 'extended' | 'other';
  /** bind: the DN; search: the base DN ('' for the rootDSE). */
  dn?: string;
  scope?: 'base' | 'one' | 'sub';
}

const OPS: Record<number, Op['op']> = { 0x60: 'bind', 0x63: 'search', 0x42: 'unbind', 0x77: 'extended' };
const SCOPES = ['base', 'one', 'sub'] as const;

/** Tag-length-value at `at`; undefined until the whole element has arrived. */
function tlv(buf: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > buf.length) return undefined;
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (start + n > buf.length) return undefined;
    len = buf.subarray(start, start + n).reduce((acc, b) => acc * 256 + b, 0);
    start += n;
  }
  return start + len <= buf.length ? { tag, start, end: start + len } : undefined;
}

/** Decodes LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] ... }. */
function decode(message: Buffer): Op {
  const id = tlv(message, 0);
  if (!id) return { op: 'other' };
  const opTag = message[id.end]!;
  const op = OPS[opTag] ?? 'other';
  if (op === 'unbind' || op === 'other' || op === 'extended') return { op };
  const body = tlv(message, id.end)!;
  if (op === 'bind') {
    const version = tlv(message, body.start)!;
    const name = tlv(message, version.end)!;
    return { op, dn: message.subarray(name.start, name.end).toString('utf8') };
  }
  const base = tlv(message, body.start)!;
  const scope = tlv(message, base.end)!;
  return { op, dn: message.subarray(base.start, base.end).toString('utf8'), scope: SCOPES[message[scope.start]!] ?? 'base' };
}

/** A proxy to the Samba DC that records every connection and request; `stop()` cuts everything. */
async function countingProxy(port?: number) {
  const ops: Op[] = [];
  let connections = 0;
  const dc = new URL(ad.ldapUrl);
  const proxy = await tcpProxy(
    { host: dc.hostname, port: Number(dc.port || 389) },
    {
      ...(port !== undefined ? { listenPort: port } : {}),
      onConnection: (client) => {
        connections++;
        let pending = Buffer.alloc(0);
        client.on('data', (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk]);
          for (let msg = tlv(pending, 0); msg; msg = tlv(pending, 0)) {
            ops.push(decode(pending.subarray(0, msg.end).subarray(msg.start)));
            pending = pending.subarray(msg.end);
          }
        });
      },
    },
  );
  return {
    url: `ldap://127.0.0.1:${proxy.port}`,
    /** Connections opened and requests sent since the last take(). */
    take(): { connections: number; ops: Op[] } {
      const result = { connections, ops: ops.splice(0) };
      connections = 0;
      return result;
    },
    open: proxy.open,
    stop: proxy.cut,
  };
}

const summary = (ops: Op[]) => ops.map((o) => (o.op === 'search' ? `search ${o.scope} ${o.dn === '' ? 'rootDSE' : o.dn}` : o.op));

function principalOf(result: AuthResult): Principal {
  assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  return result.principal;
}

describe('what one sign-in costs the DC', async () => {
  const proxy = await countingProxy();
  const clock = new ManualClock();
  const dir = new ActiveDirectory(ldapConfig(ad, { urls: [proxy.url] }), silentLogger, { clock, maxConcurrentBinds: 4 });
  after(async () => {
    await dir.close();
    await proxy.stop();
  });

  test('the first sign-in: domain names, the lookup, one bind on a new connection, the token and the group names', async () => {
    principalOf(await dir.authenticate(alice.sam, alice.password));
    const { connections, ops } = proxy.take();
    assert.equal(connections, 2, 'the service connection and one user-bind connection');
    assert.deepEqual(summary(ops), [
      'bind', // service account
      'search base rootDSE', // naming contexts
      'search one CN=Partitions,CN=Configuration,' + ad.baseDn, // NetBIOS name
      `search sub ${ad.baseDn}`, // the user
      'bind', // the user's password
      'search base rootDSE', // the token of that bind
      `search sub ${ad.baseDn}`, // names of its group SIDs
    ]);
    assert.equal(ops[4]?.dn, alice.dn);
  });

  test('every later sign-in: one lookup, one bind on a pooled connection, one rootDSE read; no connection, no group search', async () => {
    for (const name of [alice.sam, `${alice.sam}@${ad.dnsDomain}`, `${ad.netbiosDomain}\\${alice.sam}`]) {
      principalOf(await dir.authenticate(name, alice.password));
      const { connections, ops } = proxy.take();
      assert.equal(connections, 0, name);
      assert.deepEqual(summary(ops), [`search sub ${ad.baseDn}`, 'bind', 'search base rootDSE'], name);
    }
  });

  test('group names are searched again once the name cache has aged', async () => {
    clock.advance(61_000);
    principalOf(await dir.authenticate(alice.sam, alice.password));
    assert.deepEqual(summary(proxy.take().ops), [`search sub ${ad.baseDn}`, 'bind', 'search base rootDSE', `search sub ${ad.baseDn}`]);
  });

  test('a wrong password and an unknown user cost one lookup and one bind, on the pooled connection, which stays usable', async () => {
    const wrong = await dir.authenticate(alice.sam, 'Not-The-Passw0rd!');
    assert.equal(!wrong.ok && wrong.reason, 'invalid_credentials');
    let taken = proxy.take();
    assert.equal(taken.connections, 0);
    assert.deepEqual(summary(taken.ops), [`search sub ${ad.baseDn}`, 'bind']);

    const unknown = await dir.authenticate('openfed-nobody', alice.password);
    assert.equal(!unknown.ok && unknown.reason, 'invalid_credentials');
    taken = proxy.take();
    assert.equal(taken.connections, 0);
    assert.deepEqual(summary(taken.ops), [`search sub ${ad.baseDn}`, 'bind'], 'the decoy bind runs like a real one');
    assert.match(taken.ops[1]?.dn ?? '', /^CN=openfed-no-such-user-/);

    principalOf(await dir.authenticate(alice.sam, alice.password));
    assert.equal(proxy.take().connections, 0);
  });

  test('account states come from binds on a pooled connection that served other users just before', async () => {
    const states: [AdRole, string][] = [
      ['DISABLED', 'account_disabled'],
      ['MUST_CHANGE', 'password_must_change'],
      ['PWD_EXPIRED', 'password_expired'],
      ['ACCOUNT_EXPIRED', 'account_expired'],
    ];
    for (const [role, reason] of states) {
      principalOf(await dir.authenticate(alice.sam, alice.password));
      const result = await dir.authenticate(users[role].sam, users[role].password);
      assert.equal(!result.ok && result.reason, reason, role);
    }
    assert.equal(proxy.take().connections, 0);
  });

  test('the groups from the token of the bind are the groups of the user object tokenGroups', async () => {
    const fresh = new ActiveDirectory(ldapConfig(ad), silentLogger);
    try {
      for (const role of ['NORMAL', 'SECOND_SUFFIX', 'NO_UPN', 'ESCAPING', 'ALT_LOGIN'] as const) {
        const signedIn = principalOf(await fresh.authenticate(users[role].sam, users[role].password));
        const looked = await fresh.findPrincipal(users[role].sam);
        assert.ok(looked, role);
        assert.deepEqual(signedIn.groups, looked.groups, role);
        assert.ok(signedIn.groups.some((g) => g.name === 'Domain Users'), `${role}: primary group kept`);
      }
    } finally {
      await fresh.close();
    }
  });

  test('resolving a typed name to its UPN for the lockout counters is the lookup alone, and the UPN of the principal', async () => {
    // An implicit UPN (sam@dnsDomain of a user whose UPN differs) is looked up as a UPN first.
    for (const [role, name, lookups] of [
      ['NORMAL', `${ad.netbiosDomain}\\${alice.sam}`, 1],
      ['SECOND_SUFFIX', `${users.SECOND_SUFFIX.sam}@${ad.dnsDomain}`, 2],
      ['NO_UPN', users.NO_UPN.sam, 1],
    ] as const) {
      proxy.take();
      const upn = await dir.userPrincipalNameOf(name);
      assert.deepEqual(summary(proxy.take().ops), Array(lookups).fill(`search sub ${ad.baseDn}`), name);
      assert.equal(upn, (await dir.findPrincipal(name))?.userPrincipalName, role);
    }
    assert.equal(await dir.userPrincipalNameOf(`${users.NO_UPN.sam}`), `${users.NO_UPN.sam}@${ad.dnsDomain}`, 'the implicit UPN');
    assert.equal(await dir.userPrincipalNameOf('openfed-nobody'), undefined);
    proxy.take();
  });

  test('a pooled connection the DC dropped: the sign-in opens a new one and succeeds', async () => {
    const { port } = new URL(proxy.url);
    await proxy.stop();
    const again = await countingProxy(Number(port));
    try {
      principalOf(await dir.authenticate(alice.sam, alice.password));
      const { connections, ops } = again.take();
      assert.equal(connections, 2, 'a new service connection and a new user-bind connection');
      assert.deepEqual(summary(ops), ['bind', `search sub ${ad.baseDn}`, 'bind', 'search base rootDSE']);
    } finally {
      await dir.close();
      await again.stop();
    }
  });
});

describe('user-bind connections and DC failover', () => {
  test('a connection whose first bind was a wrong password joins the pool, so wrong passwords cost no handshake each', async () => {
    const proxy = await countingProxy();
    const dir = new ActiveDirectory(ldapConfig(ad, { urls: [proxy.url] }), silentLogger, { maxConcurrentBinds: 1 });
    try {
      const wrong = await dir.authenticate(alice.sam, 'Not-The-Passw0rd!');
      assert.equal(!wrong.ok && wrong.reason, 'invalid_credentials');
      assert.equal(proxy.take().connections, 2, 'the service connection and one user-bind connection');
      for (let i = 0; i < 3; i++) assert.equal((await dir.authenticate('openfed-nobody', 'Not-The-Passw0rd!')).ok, false);
      principalOf(await dir.authenticate(alice.sam, alice.password));
      const { connections, ops } = proxy.take();
      assert.equal(connections, 0);
      assert.equal(ops.filter((o) => o.op === 'unbind').length, 0, 'no connection was closed');
    } finally {
      await dir.close();
      await proxy.stop();
    }
  });

  test('after a failover, sign-ins return to the first DC within a minute of it coming back', async () => {
    // A port nothing listens on yet: the first DC, down.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const firstPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const second = await countingProxy();
    const clock = new ManualClock();
    const dir = new ActiveDirectory(ldapConfig(ad, { urls: [`ldap://127.0.0.1:${firstPort}`, second.url] }), silentLogger, { clock });
    let first: Awaited<ReturnType<typeof countingProxy>> | undefined;
    try {
      principalOf(await dir.authenticate(alice.sam, alice.password));
      assert.equal(second.take().ops.filter((o) => o.op === 'bind' && o.dn === alice.dn).length, 1, 'bound on the second DC');

      first = await countingProxy(firstPort);
      principalOf(await dir.authenticate(alice.sam, alice.password));
      assert.equal(first.take().ops.filter((o) => o.op === 'bind').length, 0, 'the pooled connection to the second DC is still used');

      clock.advance(61_000);
      principalOf(await dir.authenticate(alice.sam, alice.password));
      const userBinds = first.take().ops.filter((o) => o.op === 'bind' && o.dn === alice.dn);
      assert.equal(userBinds.length, 1, 'the user bind went to the first DC again');
    } finally {
      await dir.close();
      await second.stop();
      await first?.stop();
    }
  });
});

test('groupSidsOfToken keeps the groups of the user domain, never the user, well-known, BUILTIN or foreign SIDs', () => {
  const domain = 'S-1-5-21-557111376-253270558-702575750';
  const token = [
    `${domain}-1103`,
    `${domain}-513`,
    `${domain}-1116`,
    'S-1-1-0',
    'S-1-5-11',
    'S-1-5-32-545',
    'S-1-5-21-1-2-3-1116',
    `${domain}-1116-7`,
  ].map(sidFromString);
  assert.deepEqual(
    groupSidsOfToken(token, sidFromString(`${domain}-1103`)).map((s) => s.toString('hex')),
    [`${domain}-513`, `${domain}-1116`].map((s) => sidFromString(s).toString('hex')),
  );
});
