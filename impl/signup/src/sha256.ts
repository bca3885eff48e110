// SHA-256 (FIPS 180-4), synchronous, for the solver's millions of short messages that share
// one prefix (the challenge's salt). Each crypto.subtle.digest call returns a promise, which
// costs far more than the hash: about 120,000 hashes a second in a worker. Here the salt's
// whole 64-byte blocks are hashed once, and each number costs the compression of the last
// block or two. A contract test holds it to Node.js's SHA-256 over generated inputs.

// Int32Array, not Uint32Array: a word above 2^31 read from the latter is a boxed double in V8,
// which makes every round several times slower. The bits are the same.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const W = new Int32Array(64);

/** One 64-byte block, `words[offset..offset+16)`, into `h`. */
function compress(h: Int32Array, words: Int32Array, offset: number): void {
  for (let t = 0; t < 16; t++) W[t] = words[offset + t];
  for (let t = 16; t < 64; t++) {
    const x = W[t - 15];
    const y = W[t - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
  }
  let a = h[0];
  let b = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  let f = h[5];
  let g = h[6];
  let k = h[7];
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

/** SHA-256 of `prefix` followed by any suffix, the prefix's whole blocks hashed once. */
export class PrefixedSha256 {
  readonly #state = Int32Array.from(INITIAL);
  readonly #tail: Uint8Array;
  readonly #hashed: number;
  readonly #words = new Int32Array(32);
  readonly #digest = new Int32Array(8);

  constructor(prefix: Uint8Array) {
    this.#hashed = prefix.length - (prefix.length % 64);
    const words = new Int32Array(16);
    for (let offset = 0; offset < this.#hashed; offset += 64) {
      words.fill(0);
      for (let i = 0; i < 64; i++) words[i >>> 2] |= prefix[offset + i] << (24 - 8 * (i & 3));
      compress(this.#state, words, 0);
    }
    this.#tail = prefix.slice(this.#hashed);
  }

  /** The digest as eight words (big-endian, as the hex digest reads; signed, so compare them
   * with words made by `| 0`). Valid until the next call. */
  digest(suffix: Uint8Array): Int32Array {
    const tail = this.#tail;
    const rest = tail.length + suffix.length;
    let words = this.#words;
    const blocks = ((rest + 8) >>> 6) + 1;
    if (blocks * 16 > words.length) words = new Int32Array(blocks * 16);
    words.fill(0, 0, blocks * 16);
    for (let i = 0; i < tail.length; i++) words[i >>> 2] |= tail[i] << (24 - 8 * (i & 3));
    for (let j = 0; j < suffix.length; j++) {
      const i = tail.length + j;
      words[i >>> 2] |= suffix[j] << (24 - 8 * (i & 3));
    }
    words[rest >>> 2] |= 0x80 << (24 - 8 * (rest & 3));
    const length = this.#hashed + rest;
    words[blocks * 16 - 2] = Math.floor(length / 0x20000000); // the bit length's high word
    words[blocks * 16 - 1] = length << 3;
    const h = this.#digest;
    h.set(this.#state);
    for (let block = 0; block < blocks; block++) compress(h, words, block * 16);
    return h;
  }
}
