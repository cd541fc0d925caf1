/**
 * Writes the configuration reference into README.md between the config-reference markers, from the
 * schema's own descriptions and defaults (`npm run docs:config`). test/config/docs.test.ts fails when
 * README.md is out of date, so the reference cannot drift from the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
}

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.every((a) => a.properties) ? 'one of the forms below' : s.anyOf.map(typeOf).join(' or ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'value'}[]`;
  if (s.type === 'integer') return 'integer';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'value');
}

function rows(s: JsonSchema, prefix: string, out: string[]): void {
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const required = s.required?.includes(key) && child.default === undefined;
    const isSection = child.type === 'object' && child.properties;
    const def = child.default === undefined || isSection ? (required ? 'required' : '—') : `\`${JSON.stringify(child.default)}\``;
    out.push(`| \`${path}\` | ${isSection ? 'section' : typeOf(child)} | ${def} | ${(child.description ?? '').replaceAll('|', '\\|')} |`);
    if (isSection) rows(child, path, out);
    if (child.type === 'array' && child.items?.properties) rows(child.items, `${path}[]`, out);
    for (const [i, alt] of (child.anyOf ?? []).entries()) {
      if (alt.properties) rows(alt, `${path} (form ${i + 1})`, out);
    }
  }
}

export function configReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = ['| key | type | default | what it is |', '|---|---|---|---|'];
  rows(schema, '', out);
  return `${START}\n${out.join('\n')}\n${END}`;
}

export function updateReadme(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < 0) throw new Error('README.md lacks the config-reference markers');
  return readme.slice(0, start) + configReference() + readme.slice(end + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../README.md', import.meta.url));
  writeFileSync(path, updateReadme(readFileSync(path, 'utf8')));
  console.log('README.md configuration reference updated');
}
