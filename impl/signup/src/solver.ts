// ALTCHA v1's proof of work: find `number` in 0..maxnumber such that
// hash(salt + number) is `challenge`. Runs in a worker (solver-worker.ts), or on the page when
// the page forbids workers; either way in batches, so progress can be shown and the page stays
// responsive.

import { PrefixedSha256 } from "./sha256";

export interface Puzzle {
  algorithm: string;
  challenge: string;
  salt: string;
  maxnumber: number;
}

const BATCH = 5000;

function bytesOfHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function same(digest: ArrayBuffer, wanted: Uint8Array): boolean {
  const bytes = new Uint8Array(digest);
  if (bytes.length !== wanted.length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== wanted[i]) return false;
  return true;
}

/** A new task, after those waiting. Resolved digests are microtasks: a page solving on its own
 * thread must give the browser task boundaries to paint progress and answer the visitor. A
 * message, unlike setTimeout, is not held back to 4 ms when it recurs. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** The number, or null when none in range solves it. `progress` gets the share tried, 0..1;
 * `onPage` when solving on the page's own thread rather than in a worker. */
export async function solve(
  puzzle: Puzzle,
  progress: (share: number) => void,
  onPage = false,
): Promise<number | null> {
  if (puzzle.algorithm.toUpperCase() !== "SHA-256") return solveSubtle(puzzle, progress, onPage);
  const hash = new PrefixedSha256(new TextEncoder().encode(puzzle.salt));
  const wanted = new Int32Array(8);
  for (let i = 0; i < 8; i++) wanted[i] = parseInt(puzzle.challenge.slice(8 * i, 8 * i + 8), 16) | 0;
  const digits = new Uint8Array(16);
  for (let start = 0; start <= puzzle.maxnumber; start += BATCH) {
    const end = Math.min(start + BATCH - 1, puzzle.maxnumber);
    for (let n = start; n <= end; n++) {
      const text = String(n);
      for (let i = 0; i < text.length; i++) digits[i] = text.charCodeAt(i);
      const digest = hash.digest(digits.subarray(0, text.length));
      if (digest[0] === wanted[0] && digest.every((word, i) => word === wanted[i])) return n;
    }
    progress((end + 1) / (puzzle.maxnumber + 1));
    if (onPage) await nextTask();
  }
  return null;
}

/** The same with the browser's digest, for the algorithms ALTCHA allows besides SHA-256. */
export async function solveSubtle(
  puzzle: Puzzle,
  progress: (share: number) => void,
  onPage: boolean,
): Promise<number | null> {
  const encoder = new TextEncoder();
  const wanted = bytesOfHex(puzzle.challenge.toLowerCase());
  for (let start = 0; start <= puzzle.maxnumber; start += BATCH) {
    const end = Math.min(start + BATCH - 1, puzzle.maxnumber);
    const digests: Promise<ArrayBuffer>[] = [];
    for (let n = start; n <= end; n++) {
      digests.push(crypto.subtle.digest(puzzle.algorithm, encoder.encode(puzzle.salt + n)));
    }
    const found = (await Promise.all(digests)).findIndex((digest) => same(digest, wanted));
    if (found >= 0) return start + found;
    progress((end + 1) / (puzzle.maxnumber + 1));
    if (onPage) await nextTask();
  }
  return null;
}
