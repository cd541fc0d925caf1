/**
 * Our Lua scripts, for every Redis-backed store. A store declares its scripts at module level with
 * luaScript(); each connection defines all declared scripts on its client when it is created (see
 * defineScripts), and stores run them with runLua().
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** A standalone or Sentinel-managed client (Redis) or a Cluster client: the same commands. */
export type RedisClient = Redis | Cluster;

/** A Lua script of ours and how many of its arguments are keys (a Cluster routes by them). */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly numberOfKeys: number;
}

/** Every script made by luaScript(), defined on each client when it is created (see defineScripts). */
const scripts = new Map<string, LuaScript>();

/**
 * Call at module level only: a client knows the scripts that exist when it is created, so a store's
 * module must be loaded before the connection it uses is opened (static imports see to that).
 */
export function luaScript(numberOfKeys: number, lua: string): LuaScript {
  const script = { name: `openfed_${createHash('sha1').update(lua).digest('hex').slice(0, 16)}`, lua, numberOfKeys };
  scripts.set(script.name, script);
  return script;
}

/**
 * Defines every script on a new client, before its first command. ioredis copies the defined
 * scripts into each auto-pipeline as it makes it, so a script defined later (on first use) is
 * missing from a pipeline already open in that tick, and the call breaks inside ioredis.
 */
export function defineScripts(client: RedisClient): void {
  for (const { name, lua, numberOfKeys } of scripts.values()) client.defineCommand(name, { lua, numberOfKeys });
}

function commandOf(client: RedisClient, script: LuaScript): ((...args: Array<string | number>) => Promise<unknown>) | undefined {
  return (client as unknown as Record<string, ((...args: Array<string | number>) => Promise<unknown>) | undefined>)[script.name];
}

/** Whether the client was created after `script` was declared (see luaScript). */
export function isDefined(client: RedisClient, script: LuaScript): boolean {
  return commandOf(client, script) !== undefined;
}

/**
 * Runs a script through ioredis's defineCommand: EVALSHA, with the body sent only when Redis does
 * not know it yet (first use, after a restart or a failover), instead of the whole text with every
 * call for Redis to hash again.
 */
export function runLua(client: RedisClient, script: LuaScript, ...keysAndArgs: Array<string | number>): Promise<unknown> {
  const command = commandOf(client, script);
  if (!command) throw new Error(`Lua script ${script.name} is not defined on this client: luaScript() must run at module level`);
  return command.apply(client, keysAndArgs);
}
