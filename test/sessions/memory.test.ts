import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { createSessionStores, sessionExpiresAt } from '../../src/sessions/index.js';
import { MemoryPendingStore, MemoryReplayCache, MemorySessionStore } from '../../src/sessions/memory.js';
import { sampleRecord, sessionStoreContract } from './contract.js';

sessionStoreContract('memory', async () => {
  const clock = new ManualClock();
  const sessions = new MemorySessionStore({ clock });
  return {
    sessions,
    pending: new MemoryPendingStore({ clock }),
    replay: new MemoryReplayCache({ clock }),
    clock,
    elapse: async (ms) => clock.advance(ms),
    close: () => sessions.close(),
  };
});

describe('memory stores: bounds', () => {
  it('sweeps expired entries on later writes, so memory does not grow with dead sessions', async () => {
    const clock = new ManualClock();
    const store = new MemorySessionStore({ clock });
    for (let i = 0; i < 100; i++) await store.create(sampleRecord(clock, { expiresAt: clock.now() + 1000 }));
    assert.match((await store.health()).detail, /100 sessions/);
    clock.advance(61_000);
    await store.create(sampleRecord(clock));
    assert.match((await store.health()).detail, /\b1 sessions/);
  });

  it('evicts the oldest entries beyond maxEntries', async () => {
    const clock = new ManualClock();
    const sessions = new MemorySessionStore({ clock, maxEntries: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await sessions.create(sampleRecord(clock)));
    const alive = await Promise.all(ids.map(async (id) => (await sessions.get(id)) !== undefined));
    assert.deepStrictEqual(alive, [false, false, true, true, true]);

    const pending = new MemoryPendingStore({ clock, maxEntries: 2 });
    const first = await pending.put({ path: '/1' }, 60_000);
    await pending.put({ path: '/2' }, 60_000);
    const third = await pending.put({ path: '/3' }, 60_000);
    assert.equal(await pending.take(first), undefined);
    assert.deepStrictEqual(await pending.take(third), { path: '/3' });
  });
});

describe('createSessionStores', () => {
  it('uses memory without a Redis connection, and warns that sessions are per node', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const stores = createSessionStores(undefined, logger, new ManualClock());
    assert.equal(stores.sessions.kind, 'memory');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0] ?? '{}') as { level: number; msg: string };
    assert.equal(entry.level, 40);
    assert.match(entry.msg, /not shared between nodes.*lost on restart/);
    await stores.close();
    await stores.close();
  });

  it('sessionExpiresAt adds the configured lifetime', () => {
    const config = configSchema.parse({ sessions: { lifetimeMinutes: 90 } });
    assert.equal(sessionExpiresAt(config.sessions, 1_000), 1_000 + 90 * 60_000);
    assert.equal(sessionExpiresAt(configSchema.parse({}).sessions, 0), 8 * 3_600_000);
  });
});
