/**
 * `--cpu-prof`: where OpenFed's CPU went during the bench. Node writes one .cpuprofile per process
 * (cluster workers inherit the flag) when it exits; this folds them into the functions with the most
 * self time, the first thing to look at before cutting (issue #7: measure first, then cut).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
}

export interface HotFunction {
  name: string;
  /** file:line, shortened to the part after node_modules/ or the repository */
  location: string;
  /** share of all non-idle samples */
  share: number;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

/** Functions by self time over one or more profiles, busiest first. */
export function hotFunctions(profiles: readonly CpuProfile[], top: number): HotFunction[] {
  const hits = new Map<string, { name: string; location: string; hits: number }>();
  let total = 0;
  for (const profile of profiles) {
    for (const node of profile.nodes) {
      const n = node.hitCount ?? 0;
      const { functionName, url, lineNumber } = node.callFrame;
      if (n === 0 || functionName === '(idle)') continue;
      total += n;
      const location = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
      const key = `${functionName}@${location}`;
      const entry = hits.get(key) ?? { name: functionName || '(anonymous)', location, hits: 0 };
      entry.hits += n;
      hits.set(key, entry);
    }
  }
  return [...hits.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, top)
    .map((e) => ({ name: e.name, location: e.location, share: total > 0 ? e.hits / total : 0 }));
}

export function readProfiles(dir: string): CpuProfile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
}
