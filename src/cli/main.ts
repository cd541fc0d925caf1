#!/usr/bin/env node
/**
 * `openfed`: administration commands: hashing a password for the demo directory, and the Microsoft 365
 * federation settings and check (`openfed m365 settings|verify`), and extranet-lockout state
 * (`openfed lockout show|reset`), a user's second factor (`openfed mfa status|reset`), setting up and checking an installation (`openfed init|doctor`), the relying
 * parties (`openfed rp list|add|remove|refresh`) and ending a user's SSO sessions (`openfed sessions revoke`).
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { hashPassword } from '../directory/demo.js';
import { initCommand, sessionsCommand } from './admin.js';
import { doctorCommand } from './doctor.js';
import { rpCommand } from './rp.js';
import { keysCommand } from './keys.js';
import { lockoutCommand } from './lockout.js';
import { m365Command } from './m365.js';
import { mfaCommand } from './mfa.js';

/** Reads one line without echoing it: a password must not end up on screen or in scrollback. */
async function readSecretLine(prompt: string): Promise<string> {
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: Boolean(process.stdin.isTTY) });
  if (process.stdin.isTTY) process.stderr.write(prompt);
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new Error('no password given on standard input')));
    });
  } finally {
    rl.close();
    if (process.stdin.isTTY) process.stderr.write('\n');
  }
}

const program = new Command('openfed').description('OpenFed federation server administration').showHelpAfterError();

program
  .command('hash-password')
  .description('read a password from standard input and print its scrypt hash for the demo users file')
  .option('--json', 'print {"passwordHash": "..."}')
  .action(async (options: { json?: boolean }) => {
    const password = await readSecretLine('Password: ');
    if (password === '') throw new Error('an empty password cannot be used');
    const hash = await hashPassword(password);
    process.stdout.write(options.json ? `${JSON.stringify({ passwordHash: hash })}\n` : `${hash}\n`);
  });

program.addCommand(m365Command());
program.addCommand(lockoutCommand());
program.addCommand(mfaCommand());
program.addCommand(initCommand());
program.addCommand(doctorCommand());
program.addCommand(rpCommand());
program.addCommand(sessionsCommand());
program.addCommand(keysCommand());

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`openfed: ${(err as Error).message}\n`);
  process.exit(1);
});
