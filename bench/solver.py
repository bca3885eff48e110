"""The sign-up component's challenge solver in Chromium: how many numbers a second it tries,
against the browser's own digest in the same run (the baseline it replaced).

Both solvers get the same ALTCHA v1 puzzle, one with no solution in 0..maxnumber, so each tries
every number; each runs in a dedicated worker, as on the page, ``--rounds`` times. Needs
Debian's Chromium (/usr/bin/chromium), impl/signup's tools (``npm ci`` there) and a Python
with Playwright and applytry, such as the contract tests' environment:

    .tox/contract/bin/python bench/solver.py [--numbers 400000] [--rounds 3]

Only the local files are loaded; nothing is contacted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from applytry.testing import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
SIGNUP = ROOT / "impl" / "signup"
# A salt as the service makes it: random part, then expires, phone digest and maxnumber.
SALT = "3f9a1c7e5b2d4a60?expires=1796470000&phone=9f2a8c1d3e4b5a6f&maxnumber=12000000"
NO_SOLUTION = "0" * 64

RUN = """
async ({source, solver, puzzle}) => {
  const code = source + `;onmessage = async (event) => {
    const started = performance.now();
    const number = await Solver[event.data.solver](event.data.puzzle, () => {});
    postMessage({number, ms: performance.now() - started});
  }`;
  const worker = new Worker(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
  const done = await new Promise((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.postMessage({solver, puzzle});
  });
  worker.terminate();
  return done;
}
"""


def bundle() -> str:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "solver.js"
        subprocess.run(
            [
                str(SIGNUP / "node_modules" / ".bin" / "esbuild"),
                str(SIGNUP / "src" / "solver.ts"),
                "--bundle",
                "--minify",
                "--format=iife",
                "--global-name=Solver",
                f"--outfile={out}",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return out.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    source = bundle()
    puzzle = {
        "algorithm": "SHA-256",
        "challenge": NO_SOLUTION,
        "salt": SALT,
        "maxnumber": options.numbers - 1,
    }
    rates: dict[str, list[float]] = {"solveSubtle": [], "solve": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        # A secure context (crypto.subtle), with nothing behind it.
        page.route("http://127.0.0.1/", lambda route: route.fulfill(body="<p>bench</p>"))
        page.goto("http://127.0.0.1/")
        for _ in range(options.rounds):
            for solver, found in rates.items():
                done = page.evaluate(RUN, {"source": source, "solver": solver, "puzzle": puzzle})
                assert done["number"] is None, done
                found.append(options.numbers / done["ms"] * 1000)
        browser.close()
    baseline = statistics.median(rates["solveSubtle"])
    ours = statistics.median(rates["solve"])
    print(f"numbers tried a second, median of {options.rounds} rounds of {options.numbers:,}:")
    print("| solver | numbers/s | ratio |")
    print("|---|---|---|")
    print(f"| crypto.subtle.digest, a promise a number (baseline) | {baseline:,.0f} | 1.00 |")
    print(f"| PrefixedSha256 (sha256.ts) | {ours:,.0f} | {ours / baseline:.2f} |")
    for maxnumber in (20_000, 1_000_000, 12_000_000):
        print(
            f"maxnumber {maxnumber:>10,}: on average {maxnumber / 2 / ours:6.2f} s "
            f"(baseline {maxnumber / 2 / baseline:6.2f} s), at most {maxnumber / ours:6.2f} s"
        )


if __name__ == "__main__":
    main()
