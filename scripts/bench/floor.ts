/**
 * The floor phase: floor-server.ts under the same load as the token phases, raw signing rate measured
 * before and after, so the efficiency OpenFed reaches can be read against what a bare Node HTTP server
 * that signs once per response reaches on this machine, in the same run.
 */
import { availableParallelism } from 'node:os';
import { runLoad, type Step } from './load.js';
import { lineOf, problemsOf, type PhaseResult } from './phases.js';
import { freePort, startFloorServer, type FloorServer } from './processes.js';
import { rawSignRateAround } from './raw-sign.js';
import { floorScenario, fmt2, fmtInt, fmtMs } from './report.js';
import { log } from './setup.js';

/** Long enough for the handler to be compiled, short enough not to matter: the page is all there is to warm. */
const WARM_UP_SECONDS = 1;

/**
 * The floor server's worker count for OpenFed's server.workers: the same processes serving
 * (src/cluster/startup.ts: 'auto' is one per core with Redis sessions, which the bench always has;
 * a build without cluster mode, undefined here, is one process).
 */
export function floorWorkerCount(setting: number | 'auto' | undefined, cores: number = availableParallelism()): number {
  if (setting === undefined) return 1;
  return setting === 'auto' ? Math.max(1, cores) : setting;
}

function floorSteps(bodyBytes: number): Step[] {
  return [
    {
      method: 'GET',
      path: '/adfs/ls/',
      counts: true,
      check: (status, body) => {
        if (status !== 200) return 'not 200';
        // ASCII only, so string length is the byte count.
        return body.length === bodyBytes ? true : `a ${body.length}-byte page, not ${bodyBytes}`;
      },
    },
  ];
}

async function loadFloor(server: FloorServer, name: string, connections: number, seconds: number, rawSeconds: number, bodyBytes: number): Promise<PhaseResult> {
  await runLoad({ target: server, connections, seconds: WARM_UP_SECONDS, steps: floorSteps(bodyBytes) });
  const { rate, readings, result: load } = await rawSignRateAround(rawSeconds, () => runLoad({ target: server, connections, seconds, steps: floorSteps(bodyBytes) }));
  log(`${name}: raw RSA-2048 ${readings.map(fmtInt).join(' / ')} signatures/core-s before / after`);
  const line = lineOf(name, load, rate);
  log(`${name}: ${fmtInt(line.perSecond)} pages/s, p50 ${fmtMs(load.p50)}, p99 ${fmtMs(load.p99)}, efficiency ${fmt2(line.efficiency ?? 0)}`);
  return { line, load, failures: problemsOf(name, load) };
}

/** Starts the floor server with `workers` workers and a `bodyBytes` page, loads it, stops it. */
export async function floorPhase(connections: number, seconds: number, rawSeconds: number, workers: number, bodyBytes: number): Promise<PhaseResult> {
  const name = floorScenario(connections);
  log(`${name}: starting the floor server (${workers === 1 ? 'one process' : `${workers} workers`}, ${fmtInt(bodyBytes)}-byte page)`);
  const server = await startFloorServer({ port: await freePort(), workers, bodyBytes });
  try {
    return await loadFloor(server, name, connections, seconds, rawSeconds, bodyBytes);
  } finally {
    await server.stop();
  }
}
