/**
 * The soak: the drill's steady load for a long time at a share of the measured capacity, with
 * sessions and replay-cache entries expiring as fast as the configuration allows, while the memory
 * of every OpenFed process and of Redis is sampled. What stays in memory after everything that can
 * expire has expired at least once is what a leak would be made of.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dataMemory } from '../bench/redis-memory.js';
import { parseVmRssBytes, processTree } from '../bench/cpu.js';
import type { RedisServer } from '../../test/helpers/redis.js';
import type { RedisTopology } from './faults.js';

export interface MemorySample {
  /** ms since the soak started */
  at: number;
  /** VmRSS per OpenFed process (primary and workers) */
  rss: Map<number, number>;
  /** Redis used_memory less replication and client buffers, over the data-holding nodes */
  redisBytes: number;
  redisKeys: number;
}

function rssOfTree(root: number): Map<number, number> {
  const rss = new Map<number, number>();
  for (const p of processTree(root)) {
    try {
      const bytes = parseVmRssBytes(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (bytes !== undefined) rss.set(p.pid, bytes);
    } catch {
      // gone between the listing and the read
    }
  }
  return rss;
}

/** The nodes whose memory holds OpenFed's data: the master, or every cluster master. */
function dataNodes(redis: RedisTopology): RedisServer[] {
  switch (redis.kind) {
    case 'single':
      return [redis.server];
    case 'sentinel':
      return [redis.setup.master];
    case 'cluster':
      return redis.setup.masters;
  }
}

export async function sampleMemory(startedAt: number, primaryPid: number, redis: RedisTopology): Promise<MemorySample> {
  let redisBytes = 0;
  let redisKeys = 0;
  for (const node of dataNodes(redis)) {
    const info = await node.command('INFO', 'memory');
    if (typeof info !== 'string') throw new Error(`INFO memory answered ${String(info)}`);
    redisBytes += dataMemory(info);
    redisKeys += Number(await node.command('DBSIZE'));
  }
  return { at: Date.now() - startedAt, rss: rssOfTree(primaryPid), redisBytes, redisKeys };
}

export interface SoakVerdict {
  start: MemorySample;
  end: MemorySample;
  /** What grew beyond noise, in words; empty when nothing did. */
  growth: string[];
}

/**
 * Growth beyond noise between two samples taken after everything expirable had expired once: a
 * process whose RSS rose by more than 20 % and 20 MB, Redis memory or key count by more than 20 %
 * (and 2 MB for memory). GC and allocator slack move RSS by a few MB from one sample to the next.
 */
export function judgeGrowth(start: MemorySample, end: MemorySample): string[] {
  const growth: string[] = [];
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  for (const [pid, before] of start.rss) {
    const after = end.rss.get(pid);
    if (after === undefined) continue;
    if (after > before * 1.2 && after - before > 20 * 2 ** 20) growth.push(`RSS of ${pid}: ${mb(before)} → ${mb(after)}`);
  }
  if (end.redisBytes > start.redisBytes * 1.2 && end.redisBytes - start.redisBytes > 2 * 2 ** 20) {
    growth.push(`Redis memory: ${mb(start.redisBytes)} → ${mb(end.redisBytes)}`);
  }
  if (end.redisKeys > start.redisKeys * 1.2) growth.push(`Redis keys: ${start.redisKeys} → ${end.redisKeys}`);
  return growth;
}

/** Samples every `everyMs` until `durationMs` has passed; returns every sample. */
export async function sampleFor(o: { durationMs: number; everyMs: number; primaryPid: () => number; redis: RedisTopology; log: (line: string) => void }): Promise<MemorySample[]> {
  const startedAt = Date.now();
  const samples: MemorySample[] = [];
  for (;;) {
    const sample = await sampleMemory(startedAt, o.primaryPid(), o.redis);
    samples.push(sample);
    const rss = [...sample.rss.values()].map((b) => `${Math.round(b / 2 ** 20)}`).join('/');
    o.log(`soak ${Math.round(sample.at / 1000)} s: RSS ${rss} MB, Redis ${(sample.redisBytes / 2 ** 20).toFixed(1)} MB in ${sample.redisKeys} keys`);
    const left = o.durationMs - (Date.now() - startedAt);
    if (left <= 0) return samples;
    await sleep(Math.min(o.everyMs, left));
  }
}
