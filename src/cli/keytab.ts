/**
 * Reads an MIT keytab file (the format ktpass.exe, samba-tool domain exportkeytab and ktutil write)
 * far enough for `openfed doctor`: which principals it holds, with which key version numbers and
 * encryption types. Key bytes are skipped, never kept.
 *
 * Parsed here rather than by running `klist -k`: the runtime image and many servers have the GSSAPI
 * library but not the krb5 user tools, klist's output is meant for people and varies by version, and
 * no maintained npm package reads keytabs. The format is small and stable: after the version 0x0502,
 * records of a signed 32-bit length (negative: a hole left by a deleted entry), then
 * num_components (16 bits), realm and components (each a 16-bit length and bytes), name_type (32),
 * timestamp (32), kvno (8), enctype (16), key (16-bit length and bytes), and, when at least 4 bytes
 * of the record are left, a 32-bit kvno that replaces the 8-bit one unless it is 0. Big-endian.
 * (0x0501, native byte order and no name_type, has not been written since Kerberos 5 1.0.)
 */

export interface KeytabEntry {
  /** e.g. HTTP/sts.contoso.com@CONTOSO.COM */
  principal: string;
  /** The principal without the realm, e.g. HTTP/sts.contoso.com. */
  name: string;
  realm: string;
  kvno: number;
  enctype: number;
  /** Seconds since 1970 when the entry was written; 0 from ktpass. */
  timestamp: number;
}

export class KeytabFormatError extends Error {
  override readonly name = 'KeytabFormatError';
}

const ENCTYPES: Record<number, string> = {
  1: 'des-cbc-crc',
  3: 'des-cbc-md5',
  16: 'des3-cbc-sha1',
  17: 'aes128-cts-hmac-sha1-96',
  18: 'aes256-cts-hmac-sha1-96',
  19: 'aes128-cts-hmac-sha256-128',
  20: 'aes256-cts-hmac-sha384-192',
  23: 'arcfour-hmac',
  24: 'arcfour-hmac-exp',
};

/** The MIT name of an encryption type (klist -e spells them so), or its number. */
export function enctypeName(enctype: number): string {
  return ENCTYPES[enctype] ?? `enctype ${enctype}`;
}

/** AES keys: what AD issues service tickets with once the account allows them (msDS-SupportedEncryptionTypes). */
export function isAesEnctype(enctype: number): boolean {
  return enctype >= 17 && enctype <= 20;
}

export function parseKeytab(data: Buffer): KeytabEntry[] {
  if (data.length < 2 || data[0] !== 0x05) throw new KeytabFormatError('not a keytab file (it does not start with 0x05)');
  if (data[1] !== 0x02) throw new KeytabFormatError(`keytab format version 0x05${data[1]!.toString(16).padStart(2, '0')} is not supported (only 0x0502)`);
  const entries: KeytabEntry[] = [];
  let offset = 2;
  // Trailing zero bytes (a record length of 0) are how MIT marks the end of a keytab it preallocated.
  while (offset + 4 <= data.length) {
    const size = data.readInt32BE(offset);
    offset += 4;
    if (size === 0) break;
    const end = offset + Math.abs(size);
    if (end > data.length) throw new KeytabFormatError(`record at byte ${offset - 4} runs past the end of the file`);
    if (size > 0) entries.push(readEntry(data.subarray(offset, end), offset));
    offset = end;
  }
  return entries;
}

function readEntry(record: Buffer, at: number): KeytabEntry {
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > record.length) throw new KeytabFormatError(`record at byte ${at - 4} is truncated`);
  };
  const u8 = () => (need(1), record.readUInt8(pos++));
  const u16 = () => {
    need(2);
    const v = record.readUInt16BE(pos);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = record.readUInt32BE(pos);
    pos += 4;
    return v;
  };
  const bytes = () => {
    const length = u16();
    need(length);
    const v = record.subarray(pos, pos + length);
    pos += length;
    return v;
  };

  const count = u16();
  const realm = bytes().toString('utf8');
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(bytes().toString('utf8'));
  u32(); // name_type: KRB5_NT_PRINCIPAL or KRB5_NT_SRV_HST, either matches the same name
  const timestamp = u32();
  let kvno = u8();
  const enctype = u16();
  bytes(); // the key itself
  if (pos + 4 <= record.length) {
    const kvno32 = u32();
    if (kvno32 !== 0) kvno = kvno32;
  }
  const name = components.join('/');
  return { principal: `${name}@${realm}`, name, realm, kvno, enctype, timestamp };
}
