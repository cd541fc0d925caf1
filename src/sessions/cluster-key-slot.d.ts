/** cluster-key-slot (the CRC16 slot function ioredis itself uses) ships no types. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key, honouring {hash tags}. */
  export default function generate(key: string | Buffer): number;
  /** The common slot of all keys, or -1 when they differ. */
  export function generateMulti(keys: (string | Buffer)[]): number;
}
