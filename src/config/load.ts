/**
 * File + environment → one validated Config. Every failure becomes a ConfigError whose message is a
 * single line naming the key and what was expected, so start-up can print it without a stack trace.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { InternalError } from '../errors.js';

export class ConfigError extends InternalError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Secrets may come from the environment so they stay out of files under version control.
 * `creates`: the variable alone switches the section on (a Redis URL means "use Redis"); the others
 * only fill a section the file already has, since a bind password without an ldap section is noise.
 */
export const SECRET_ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly string[]; creates: boolean }> = [
  { env: 'OPENFED_LDAP_BIND_PASSWORD', path: ['directory', 'ldap', 'bindPassword'], creates: false },
  { env: 'OPENFED_REDIS_URL', path: ['sessions', 'redis', 'url'], creates: true },
  { env: 'OPENFED_REDIS_PASSWORD', path: ['sessions', 'redis', 'password'], creates: false },
  { env: 'OPENFED_REDIS_SENTINEL_PASSWORD', path: ['sessions', 'redis', 'sentinelPassword'], creates: false },
  { env: 'OPENFED_SIGNING_PKCS12_PASSWORD', path: ['keys', 'signing', 'pkcs12Password'], creates: false },
  { env: 'OPENFED_CSRF_SECRET', path: ['web', 'csrfSecret'], creates: true },
  { env: 'OPENFED_KEY_ENCRYPTION_SECRET', path: ['keys', 'encryptionSecret'], creates: true },
  // Not a secret, but containers mount the data volume at a path the image decides.
  { env: 'OPENFED_DATA_DIR', path: ['dataDir'], creates: true },
];

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

export function loadConfig(env: Env = process.env): Config {
  return loadConfigWithOrigins(env).config;
}

/**
 * Where config.dataDir came from. OPENFED_DATA_DIR wins over the file's dataDir (the container image
 * sets it), which an operator who wrote dataDir in the file would not otherwise notice: their keys and
 * secrets would be generated somewhere else.
 */
export interface DataDirOrigin {
  source: 'OPENFED_DATA_DIR' | 'file' | 'default';
  /** The file's dataDir, when OPENFED_DATA_DIR replaced a different one. */
  overriddenFileValue?: string;
  /** The configuration file, when one was read. */
  file?: string;
}

export function loadConfigWithOrigins(env: Env = process.env): { config: Config; dataDir: DataDirOrigin } {
  const file = env.OPENFED_CONFIG;
  const raw = file ? readConfigFile(file) : {};
  const config = parseConfig(applyEnvOverrides(raw, env), file);
  const fileValue = isTree(raw) && typeof raw.dataDir === 'string' ? raw.dataDir : undefined;
  const envValue = env.OPENFED_DATA_DIR || undefined;
  const dataDir: DataDirOrigin = {
    source: envValue !== undefined ? 'OPENFED_DATA_DIR' : fileValue !== undefined ? 'file' : 'default',
    ...(envValue !== undefined && fileValue !== undefined && resolve(envValue) !== resolve(fileValue) ? { overriddenFileValue: fileValue } : {}),
    ...(file ? { file } : {}),
  };
  return { config, dataDir };
}

/** One line for `openfed doctor`: the effective data directory and why it is that one. */
export function describeDataDir(dataDir: string, origin: DataDirOrigin): string {
  const where = origin.file ? ` in ${origin.file}` : '';
  switch (origin.source) {
    case 'OPENFED_DATA_DIR':
      return origin.overriddenFileValue !== undefined
        ? `${dataDir}, from OPENFED_DATA_DIR, which overrides dataDir ${origin.overriddenFileValue}${where}`
        : `${dataDir}, from OPENFED_DATA_DIR`;
    case 'file':
      return `${dataDir}, from dataDir${where}`;
    case 'default':
      return `${dataDir}, the default (neither dataDir nor OPENFED_DATA_DIR is set)`;
  }
}

/** The start-up warning when OPENFED_DATA_DIR replaced a different dataDir from the file; undefined when it did not. */
export function dataDirOverrideWarning(dataDir: string, origin: DataDirOrigin): string | undefined {
  if (origin.overriddenFileValue === undefined) return undefined;
  return (
    `OPENFED_DATA_DIR (${dataDir}) overrides dataDir ${origin.overriddenFileValue}${origin.file ? ` in ${origin.file}` : ''}: ` +
    'generated keys and secrets, the demo users file and the audit log are in the former; unset one of the two'
  );
}

/** Validates an in-memory object (tests and embedding use this directly). */
export function parseConfig(raw: unknown, source?: string): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(describeIssue(result.error.issues[0], source));
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`configuration file ${file}: cannot be read (${code})`);
  }
  const isJson = extname(file).toLowerCase() === '.json';
  try {
    // JSON is valid YAML, but JSON.parse reports JSON mistakes more plainly.
    const value: unknown = isJson ? JSON.parse(text) : parseYaml(text);
    return value ?? {};
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new ConfigError(`configuration file ${file}: not valid ${isJson ? 'JSON' : 'YAML'}: ${first}`);
  }
}

function isTree(v: unknown): v is Tree {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function applyEnvOverrides(raw: unknown, env: Env): unknown {
  if (!isTree(raw)) return raw; // the schema reports the wrong shape
  const root = structuredClone(raw);
  for (const { env: name, path, creates } of SECRET_ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let node: Tree | undefined = root;
    for (const key of path.slice(0, -1)) {
      if (node[key] === undefined && creates) node[key] = {};
      const next: unknown = node[key];
      if (!isTree(next)) {
        node = undefined;
        break;
      }
      node = next;
    }
    if (node) node[path[path.length - 1]!] = value;
  }
  return root;
}

function describeIssue(issue: z.core.$ZodIssue | undefined, source?: string): string {
  const where = source ? ` (in ${source})` : '';
  if (!issue) return `configuration is invalid${where}`;
  const key = issue.path.length ? formatPath(issue.path) : '(top level)';
  let expected = issue.message.replace(/^Invalid (input|option): /, '');
  if (issue.code === 'unrecognized_keys') {
    return `configuration key ${issue.keys.map((k) => (issue.path.length ? `${key}.${k}` : k)).join(', ')}: unknown key${where}`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
    expected = `required, expected ${issue.expected}`;
  }
  return `configuration key ${key}: ${expected}${where}`;
}

/** A key's path as the configuration's messages spell it: directory.ldap.urls[0]. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : (i ? '.' : '') + String(p))).join('');
}
