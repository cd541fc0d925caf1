/**
 * OPENFED_DATA_DIR wins over the file's dataDir; when the two differ that must be visible (a warning at
 * start, a line in `openfed doctor`), since keys and secrets would otherwise appear somewhere unexpected.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { dataDirOverrideWarning, describeDataDir, loadConfigWithOrigins } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-data-dir-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(content: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, content);
  return file;
}

describe('where dataDir comes from', () => {
  const withDataDir = configFile('dataDir: /srv/openfed\n');
  const withoutDataDir = configFile('server: { port: 8081 }\n');

  const cases: Array<{
    name: string;
    env: Record<string, string>;
    dataDir: string;
    source: 'OPENFED_DATA_DIR' | 'file' | 'default';
    warns: boolean;
  }> = [
    { name: 'nothing set: the default', env: {}, dataDir: './data', source: 'default', warns: false },
    { name: 'the file alone', env: { OPENFED_CONFIG: withDataDir }, dataDir: '/srv/openfed', source: 'file', warns: false },
    { name: 'the environment alone', env: { OPENFED_DATA_DIR: '/var/lib/openfed' }, dataDir: '/var/lib/openfed', source: 'OPENFED_DATA_DIR', warns: false },
    {
      name: 'the environment, with a file without dataDir',
      env: { OPENFED_CONFIG: withoutDataDir, OPENFED_DATA_DIR: '/var/lib/openfed' },
      dataDir: '/var/lib/openfed',
      source: 'OPENFED_DATA_DIR',
      warns: false,
    },
    {
      name: 'both, different: the environment wins, with a warning',
      env: { OPENFED_CONFIG: withDataDir, OPENFED_DATA_DIR: '/var/lib/openfed' },
      dataDir: '/var/lib/openfed',
      source: 'OPENFED_DATA_DIR',
      warns: true,
    },
    {
      name: 'both, the same directory spelled differently: no warning',
      env: { OPENFED_CONFIG: configFile(`dataDir: ${resolve('data')}/\n`), OPENFED_DATA_DIR: './data' },
      dataDir: './data',
      source: 'OPENFED_DATA_DIR',
      warns: false,
    },
    { name: 'an empty OPENFED_DATA_DIR is unset', env: { OPENFED_CONFIG: withDataDir, OPENFED_DATA_DIR: '' }, dataDir: '/srv/openfed', source: 'file', warns: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { config, dataDir } = loadConfigWithOrigins(c.env);
      assert.equal(config.dataDir, c.dataDir);
      assert.equal(dataDir.source, c.source);
      assert.equal(dataDirOverrideWarning(config.dataDir, dataDir) !== undefined, c.warns);
    });
  }

  test('the warning and the doctor line name both values and the file', () => {
    const { config, dataDir } = loadConfigWithOrigins({ OPENFED_CONFIG: withDataDir, OPENFED_DATA_DIR: '/var/lib/openfed' });
    assert.equal(
      dataDirOverrideWarning(config.dataDir, dataDir),
      `OPENFED_DATA_DIR (/var/lib/openfed) overrides dataDir /srv/openfed in ${withDataDir}: generated keys and secrets, the demo users file and the audit log are in the former; unset one of the two`,
    );
    assert.equal(describeDataDir(config.dataDir, dataDir), `/var/lib/openfed, from OPENFED_DATA_DIR, which overrides dataDir /srv/openfed in ${withDataDir}`);
  });

  test('the doctor line without an override says where the value came from', () => {
    const fromFile = loadConfigWithOrigins({ OPENFED_CONFIG: withDataDir });
    assert.equal(describeDataDir(fromFile.config.dataDir, fromFile.dataDir), `/srv/openfed, from dataDir in ${withDataDir}`);
    const byDefault = loadConfigWithOrigins({});
    assert.equal(describeDataDir(byDefault.config.dataDir, byDefault.dataDir), './data, the default (neither dataDir nor OPENFED_DATA_DIR is set)');
  });
});
