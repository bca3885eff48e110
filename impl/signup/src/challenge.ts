// The answer to "challengeRequired": the phone's challenge from createChallenge, solved off the
// page's thread, as the payload generateverifycode takes in `challenge`.
import type { Schemas } from "../client";
import { type Puzzle, solve } from "./solver";

/** The worker's source, put in by build.mjs. */
declare const __SOLVER_SOURCE__: string;

function inWorker(puzzle: Puzzle, progress: (share: number) => void): Promise<number | null> {
  const url = URL.createObjectURL(new Blob([__SOLVER_SOURCE__], { type: "text/javascript" }));
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(url);
    } catch (error) {
      URL.revokeObjectURL(url);
      reject(error); // a page whose policy forbids blob workers
      return;
    }
    const finish = () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    };
    worker.onmessage = (event: MessageEvent<{ share?: number; number?: number | null }>) => {
      if (event.data.share !== undefined) {
        progress(event.data.share);
      } else {
        finish();
        resolve(event.data.number ?? null);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(new Error(event.message));
    };
    worker.postMessage(puzzle);
  });
}

/** base64(JSON) of an ALTCHA challenge's solution, or null when it has none. */
export async function solveChallenge(
  challenge: Schemas["Challenge"],
  progress: (share: number) => void,
): Promise<string | null> {
  if (!challenge.challenge || !challenge.salt || !challenge.algorithm) return null;
  const puzzle: Puzzle = {
    algorithm: challenge.algorithm,
    challenge: challenge.challenge,
    salt: challenge.salt,
    maxnumber: challenge.maxnumber ?? 1_000_000,
  };
  const started = performance.now();
  let number: number | null;
  try {
    number = await inWorker(puzzle, progress);
  } catch {
    number = await solve(puzzle, progress, true);
  }
  if (number === null) return null;
  const took = Math.round(performance.now() - started);
  const { algorithm, challenge: hash, salt, signature } = challenge;
  return btoa(JSON.stringify({ algorithm, challenge: hash, number, salt, signature, took }));
}
