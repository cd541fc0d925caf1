/**
 * CPU time and memory of a process tree, read from /proc: what OpenFed itself spent, whatever the
 * load generator or the other tenants of the machine were doing meanwhile.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** user + system time, in clock ticks */
  ticks: number;
}

/**
 * One /proc/<pid>/stat line. The command name (field 2) is in parentheses and may itself contain
 * spaces and parentheses, so the fields are counted from the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, open).trim());
  // After ')': state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10) cminflt(11)
  // majflt(12) cmajflt(13) utime(14) stime(15)
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (![pid, ppid, utime, stime].every(Number.isFinite)) throw new Error(`unreadable /proc stat line: ${text.slice(0, 80)}`);
  return { pid, ppid, ticks: utime + stime };
}

/** VmRSS of a /proc/<pid>/status text, in bytes; undefined for a kernel thread or a zombie. */
export function parseVmRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

let clockTicks: number | undefined;
/** USER_HZ: the unit of utime/stime (100 on every Linux seen so far, but asked, not assumed). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    clockTicks = Number(out) > 0 ? Number(out) : 100;
  }
  return clockTicks;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone between listing and reading
  }
}

/** A root pid and all its descendants (the cluster primary and its workers), root first. */
export function processTree(root: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.push(stat);
  }
  return treeOf(root, all);
}

/** The processes of `all` that descend from `root` (root included, first). */
export function treeOf(root: number, all: readonly ProcStat[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  let rootStat: ProcStat | undefined;
  for (const s of all) {
    if (s.pid === root) rootStat = s;
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  if (!rootStat) return [];
  const out: ProcStat[] = [rootStat];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!.pid) ?? []));
  return out;
}

export interface CpuSnapshot {
  /** ticks per pid */
  ticks: Map<number, number>;
}

export function cpuSnapshot(root: number): CpuSnapshot {
  return { ticks: new Map(processTree(root).map((s) => [s.pid, s.ticks])) };
}

/**
 * CPU-seconds the tree used between two snapshots. A process that appeared meanwhile counts from
 * zero; one that vanished is reported, since a worker that died mid-run means the run is broken.
 */
export function cpuSecondsBetween(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond: number): { seconds: number; vanished: number[] } {
  let ticks = 0;
  for (const [pid, t] of after.ticks) ticks += t - (before.ticks.get(pid) ?? 0);
  const vanished = [...before.ticks.keys()].filter((pid) => !after.ticks.has(pid));
  return { seconds: ticks / ticksPerSecond, vanished };
}

/**
 * Samples VmRSS of every process of a tree until stopped; keeps the maximum per pid. The tree is read
 * once: walking all of /proc takes milliseconds, and this runs on the load generator's event loop,
 * where every stall adds to the latency it measures. (A worker that dies meanwhile is caught by the
 * CPU accounting, whose snapshots then miss it.)
 */
export class RssSampler {
  private readonly max = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly pids: number[];

  constructor(root: number, intervalMs = 200) {
    this.pids = processTree(root).map((p) => p.pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    for (const pid of this.pids) {
      let rss: number | undefined;
      try {
        rss = parseVmRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        continue;
      }
      if (rss !== undefined && rss > (this.max.get(pid) ?? 0)) this.max.set(pid, rss);
    }
  }

  /** Stops sampling; the highest RSS seen per pid. */
  stop(): Map<number, number> {
    clearInterval(this.timer);
    this.sample();
    return new Map(this.max);
  }
}

// ------------------------------------------------------------------------------------ CPU affinity

/** A CPU list as Linux writes it ("0-2,4"), as CPU numbers. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: ${list}`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The CPUs this process may run on (its affinity, which a container's cpuset narrows), or undefined without taskset. */
export function ownCpus(): number[] | undefined {
  try {
    const out = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return parseCpuList(out.slice(out.lastIndexOf(':') + 1));
  } catch {
    return undefined;
  }
}

/**
 * Restricts every thread of the processes `pids` to `cpus`; their children inherit it. A process that
 * has exited meanwhile is skipped.
 */
export function setAffinity(pids: readonly number[], cpus: readonly number[]): void {
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-a', '-c', '-p', cpus.join(','), String(pid)], { stdio: 'ignore' });
    } catch (err) {
      if (existsSync(`/proc/${pid}`)) throw new Error(`taskset could not set the CPUs of process ${pid}: ${(err as Error).message}`);
    }
  }
}
