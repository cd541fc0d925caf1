/**
 * Security identifiers: AD stores objectSid and tokenGroups as binary; claims carry the string form
 * S-1-5-21-... ([MS-DTYP] 2.4.2).
 *
 * Binary layout: revision (1 byte), sub-authority count n (1 byte), identifier authority (6 bytes,
 * big-endian), then n sub-authorities (4 bytes each, little-endian).
 */

/** The string form of a binary SID; throws on bytes that are not a SID (a programming error). */
export function sidToString(sid: Uint8Array): string {
  const buf = Buffer.from(sid.buffer, sid.byteOffset, sid.byteLength);
  if (buf.length < 8) throw new RangeError(`SID too short: ${buf.length} bytes`);
  const revision = buf.readUInt8(0);
  const count = buf.readUInt8(1);
  if (buf.length !== 8 + 4 * count) {
    throw new RangeError(`SID length ${buf.length} does not match ${count} sub-authorities`);
  }
  const authority = buf.readUIntBE(2, 6);
  const parts = [`S-${revision}-${authority}`];
  for (let i = 0; i < count; i++) parts.push(String(buf.readUInt32LE(8 + 4 * i)));
  return parts.join('-');
}

/** The binary form of S-1-5-...; throws on a malformed string. */
export function sidFromString(sid: string): Buffer {
  const match = /^S-(\d{1,3})-(\d{1,15})((?:-\d{1,10}){0,15})$/i.exec(sid);
  if (!match) throw new RangeError(`not a SID: ${sid}`);
  const subs = match[3] ? match[3].slice(1).split('-').map(Number) : [];
  const revision = Number(match[1]);
  const authority = Number(match[2]);
  if (revision > 0xff || authority > 0xffff_ffff_ffff || subs.some((s) => s > 0xffff_ffff)) {
    throw new RangeError(`SID component out of range: ${sid}`);
  }
  const buf = Buffer.alloc(8 + 4 * subs.length);
  buf.writeUInt8(revision, 0);
  buf.writeUInt8(subs.length, 1);
  buf.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => buf.writeUInt32LE(s, 8 + 4 * i));
  return buf;
}

/**
 * The SID of a user's primary group: the user's domain SID with the primaryGroupID as last
 * sub-authority. AD never lists the primary group in `member`, so in-chain searches must ask for it
 * by SID.
 */
export function primaryGroupSid(userSid: Uint8Array, primaryGroupId: number): Buffer {
  const sid = Buffer.from(userSid);
  sid.writeUInt32LE(primaryGroupId, sid.length - 4);
  return sid;
}
