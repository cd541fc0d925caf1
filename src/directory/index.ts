/**
 * Chooses the directory from configuration: Active Directory when directory.ldap is set, else the
 * demo file. Everything outside src/directory/ sees only the Directory interface.
 */
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ActiveDirectory, type ActiveDirectoryOptions } from './active-directory.js';
import { DemoDirectory } from './demo.js';
import type { Directory } from './types.js';

export async function createDirectory(config: Config, logger: Logger, observe: Pick<ActiveDirectoryOptions, 'onBind' | 'outageReportMs'> = {}): Promise<Directory> {
  const ldap = config.directory.ldap;
  if (ldap) return new ActiveDirectory(ldap, logger, { maxConcurrentBinds: ldap.maxConcurrentBinds, ...observe });
  const usersFile = config.directory.demo.usersFile ?? join(config.dataDir, 'demo-users.yaml');
  return DemoDirectory.open(usersFile, logger);
}

export type { ActiveDirectoryOptions, BindOutcome } from './active-directory.js';
export { ActiveDirectory } from './active-directory.js';
export type * from './types.js';
