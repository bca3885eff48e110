// The solver's worker: one puzzle in, progress messages, then the number (or null) out.
import { type Puzzle, solve } from "./solver";

interface WorkerScope {
  onmessage: ((event: MessageEvent<Puzzle>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;
scope.onmessage = async (event) => {
  let last = 0;
  const number = await solve(event.data, (share) => {
    const now = Date.now();
    if (now - last > 100) {
      last = now;
      scope.postMessage({ share });
    }
  });
  scope.postMessage({ number });
};
