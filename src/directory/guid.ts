/**
 * AD stores objectGUID as 16 raw bytes whose first three fields are little-endian (Microsoft's GUID
 * layout), while the string form is written big-endian. ImmutableID is base64 of the raw bytes, so
 * getting this order right is what makes Entra ID match the synced user.
 */
const GUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

export function guidToBytes(guid: string): Buffer {
  const m = GUID_RE.exec(guid);
  if (!m) throw new TypeError('expected a GUID like 71c80224-5371-4d8e-a9aa-9cb365699f12');
  const hex = (s: string) => Buffer.from(s, 'hex');
  return Buffer.concat([
    hex(m[1]!).reverse(),
    hex(m[2]!).reverse(),
    hex(m[3]!).reverse(),
    hex(m[4]!),
    hex(m[5]!),
  ]);
}

export function bytesToGuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new TypeError('a GUID has 16 bytes');
  const h = (start: number, end: number, reverse: boolean) => {
    const part = Buffer.from(bytes.subarray(start, end));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return [h(0, 4, true), h(4, 6, true), h(6, 8, true), h(8, 10, false), h(10, 16, false)].join('-');
}
