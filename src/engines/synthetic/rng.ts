import { createHash } from 'node:crypto';

export type HashPart = string | number | boolean | Uint8Array | undefined | null;

/**
 * A deterministic PRNG seeded from the SHA-256 of its inputs, so the same task always yields the
 * same output and a different prompt a different one. Each part is length-prefixed so `("ab","c")`
 * and `("a","bc")` seed differently.
 */
export class HashRng {
  readonly digest: Buffer;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...parts: HashPart[]) {
    const hash = createHash('sha256');
    for (const part of parts) {
      const bytes =
        part instanceof Uint8Array
          ? part
          : Buffer.from(part === undefined ? '\u0000undefined' : String(part));
      hash.update(`${bytes.length}:`).update(bytes);
    }
    this.digest = hash.digest();
    this.a = this.digest.readUInt32LE(0);
    this.b = this.digest.readUInt32LE(4);
    this.c = this.digest.readUInt32LE(8);
    this.d = this.digest.readUInt32LE(12);
  }

  /** The first `n` hex digits of the seed hash (for ids). */
  hex(n: number): string {
    return this.digest.toString('hex').slice(0, n);
  }

  /** A float in [0, 1) — sfc32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A float in [min, max). */
  range(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}
