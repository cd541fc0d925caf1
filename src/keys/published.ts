/**
 * The token-signing certificates relying parties see now (primary, and next during a rollover), read
 * the way a node would read them but without ever creating a key: admin commands that print or check
 * certificates must not make one by accident (another dataDir, another user) and register it.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { openKeySetStore } from './key-manager.js';
import { parseKeySet } from './key-set.js';
import { LEGACY_CERT } from './store.js';
import { loadSigningKey } from './signing-key.js';

export interface PublishedKey {
  role: 'primary' | 'next';
  thumbprint: string;
  certificate: X509Certificate;
  /** DER, base64: as in metadata and Entra ID's signingCertificate. */
  certificateBase64: string;
  notAfter: Date;
}

/** Primary first; empty when no key exists yet (the server makes one on first start). */
export async function readPublishedKeys(config: Config): Promise<PublishedKey[]> {
  const host = new URL(config.server.baseUrl).hostname;
  if (config.keys.signing) {
    const keys = [published('primary', (await loadSigningKey(config.keys.signing, config.dataDir, host, silentLogger)).certificate)];
    if (config.keys.next) {
      keys.push(published('next', (await loadSigningKey(config.keys.next, config.dataDir, host, silentLogger, 'keys.next')).certificate));
    }
    return keys;
  }
  const store = openKeySetStore(config, silentLogger);
  try {
    const stored = await store.read();
    if (stored) {
      return parseKeySet(stored.json)
        .keys.flatMap((k) => (k.role === 'previous' ? [] : [published(k.role, new X509Certificate(Buffer.from(k.certificate, 'base64')))]))
        .sort((a, b) => (a.role === b.role ? 0 : a.role === 'primary' ? -1 : 1));
    }
  } finally {
    await store.close();
  }
  // An installation from before the key set: its single generated certificate, until the next start migrates it.
  const legacy = join(config.dataDir, 'keys', LEGACY_CERT);
  return existsSync(legacy) ? [published('primary', new X509Certificate(readFileSync(legacy)))] : [];
}

function published(role: PublishedKey['role'], certificate: X509Certificate): PublishedKey {
  return {
    role,
    certificate,
    thumbprint: certificate.fingerprint.replaceAll(':', '').toUpperCase(),
    certificateBase64: certificate.raw.toString('base64'),
    notAfter: new Date(certificate.validTo),
  };
}
