"""Mutation testing of the domain and storage modules: ``tox -e mutation``.

mutmut mutates a copy of the package and runs, for each mutant, the tests that call the
function it changed. The repository keeps the package in ``impl/`` and ``db/`` while the tests
import ``applytry``, so each run happens in a staged tree (``.mutation/<database>/``) laid out
as installed: ``applytry/`` with ``applytry/db/`` inside, and ``tests/`` beside it.

Two runs: every module on SQLite, and the storage modules again on PostgreSQL, whose code
paths (reconnection, its error classes) SQLite never takes. A mutant counts as killed when
either run kills it.

Tests that start ``applytry serve`` or the command line as processes are left out: those
processes import the installed package, not the mutant, so they could not kill one.

Survivors that cannot change behaviour are listed, each with its reason, in
``tests/mutation/equivalent.txt``; everything else that survives is a missing test. The report
goes to ``reports/mutation/``: ``score.txt`` and ``survivors.txt`` (the diff of each).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGES = ROOT / ".mutation"
REPORTS = ROOT / "reports" / "mutation"
EQUIVALENT = Path(__file__).with_name("equivalent.txt")

# A test failed, or the mutant made the tests run past their time (an endless loop).
KILLED = {"killed", "timeout"}
UNTESTED = "not checked"  # a mutant this run was not asked to test
NO_TESTS = "no tests"  # no test of this run calls the function

# The modules whose every decision a user would notice: issuing and checking codes, the
# limits and pumping defences, tenants, jobs, retention, the breaker, and storage.
DOMAIN = [
    "applytry/verification.py",
    "applytry/checking.py",
    "applytry/limits.py",
    "applytry/pumping.py",
    "applytry/rules.py",
    "applytry/clients.py",
    "applytry/digests.py",
    "applytry/tenants.py",
    "applytry/jobs.py",
    "applytry/retention.py",
    "applytry/sms/breaker.py",
    "applytry/receipts.py",
    "applytry/keys.py",
    "applytry/thresholds.py",
    "applytry/emails.py",
    "applytry/phones.py",
]
STORAGE = ["applytry/db/*"]
RUNS = {"sqlite": DOMAIN + STORAGE, "postgresql": STORAGE}

# What tests read from the checkout besides the package and themselves.
BESIDE = ["openapi.yaml", "README.md", "docs", "bench", "tox.ini", "contract-tests"]


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def stage(stages: Path, database: str, tests: list[str]) -> Path:
    """The package as installed, the tests beside it, and mutmut's settings; ``tests`` (paths
    under tests/) narrows the tests mutmut may run, all of them by default."""
    where = stages / database
    shutil.rmtree(where, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    shutil.copytree(ROOT / "impl", where / "applytry", ignore=ignore)
    shutil.copytree(ROOT / "db", where / "applytry" / "db", ignore=ignore)
    for part in ["tests", *BESIDE]:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, where / part, ignore=ignore)
        else:
            shutil.copy2(source, where / part)
    (where / "pyproject.toml").write_text(
        f"""[tool.mutmut]
source_paths = ["applytry"]
also_copy = {toml_list(BESIDE)}
only_mutate = {toml_list(RUNS[database])}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not servers"]
pytest_add_cli_args_test_selection = {toml_list(tests or ["tests"])}
timeout_multiplier = 5.0

[tool.pytest.ini_options]
testpaths = ["tests"]
timeout = 120
markers = ["servers: starts real service processes on 127.0.0.1"]
filterwarnings = ["error::pytest.PytestUnraisableExceptionWarning"]
"""
    )
    return where


def mutate(stages: Path, database: str, patterns: list[str], tests: list[str]) -> None:
    where = stage(stages, database, tests)
    env = {**os.environ, "APPLYTRY_TEST_DATABASE": database}
    # Asked for a mutant that does not exist, mutmut makes the mutants and learns which tests
    # call what, then stops: that gives the names, so that the mutants already judged
    # equivalent are not run (a mutant that survives runs every test of its function).
    subprocess.run(["mutmut", "run", "none"], cwd=where, env=env, capture_output=True)
    equivalent = equivalents()
    wanted = [
        name
        for name in verdicts(stages, database)
        if name not in equivalent
        and (not patterns or any(fnmatch.fnmatch(name, pattern) for pattern in patterns))
    ]
    if wanted:
        subprocess.run(["mutmut", "run", *wanted], cwd=where, env=env, check=True)


def verdicts(stages: Path, database: str) -> dict[str, str]:
    """Mutant name -> mutmut's verdict, for every mutant of one run."""
    where = stages / database
    if not (where / "mutants").exists():
        return {}
    out = subprocess.run(
        ["mutmut", "results", "--all", "true"], cwd=where, capture_output=True, text=True
    ).stdout
    found = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def merged(folders: list[Path]) -> dict[str, str]:
    """Every mutant's verdict over all runs: killed if any run killed it, else survived if
    any run tested it; a run with no test for it (PostgreSQL's, for SQLite's own code) or one
    not asked to test it does not decide."""
    verdict: dict[str, str] = {}
    for stages in folders:
        for database in RUNS:
            for name, said in verdicts(stages, database).items():
                if name not in verdict or _weight(said) > _weight(verdict[name]):
                    verdict[name] = said
    return verdict


def _weight(said: str) -> int:
    if said in KILLED:
        return 3
    return {UNTESTED: 1, NO_TESTS: 0}.get(said, 2)


def equivalents() -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour."""
    listed = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            listed[name] = reason.strip()
    return listed


def diff(folders: list[Path], name: str) -> str:
    """The mutant's diff, from the first run staged that made it."""
    for where in (stages / database for stages in folders for database in RUNS):
        if (where / "mutants").exists():
            return subprocess.run(
                ["mutmut", "show", name], cwd=where, capture_output=True, text=True
            ).stdout
    return ""


def report(folders: list[Path], seconds: float | None) -> float:
    """Writes the score over the mutants that were tested and are not equivalent, and the
    survivors with their diffs; a mutant no run was asked to test is counted apart."""
    verdict = merged(folders)
    equivalent = equivalents()
    counted = [name for name in verdict if name not in equivalent and verdict[name] != UNTESTED]
    untested = [name for name in verdict if name not in equivalent and verdict[name] == UNTESTED]
    survivors = sorted(name for name in counted if verdict[name] not in KILLED)
    score = 1 - len(survivors) / len(counted) if counted else 1.0
    by_verdict: dict[str, int] = {}
    for name, said in verdict.items():
        said = "equivalent" if name in equivalent else said
        by_verdict[said] = by_verdict.get(said, 0) + 1
    summary = [
        f"mutants: {len(verdict)}",
        f"equivalent (tests/mutation/equivalent.txt): {len(equivalent)}",
        f"killed: {len(counted) - len(survivors)} of {len(counted)} tested = {score:.1%}",
        f"not tested by these runs: {len(untested)}",
        "verdicts: " + ", ".join(f"{said} {n}" for said, n in sorted(by_verdict.items())),
    ]
    if seconds is not None:
        summary.append(f"duration: {seconds / 60:.0f} min")
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "score.txt").write_text("\n".join(summary) + "\n")
    with open(REPORTS / "survivors.txt", "w") as listing:
        for name in survivors:
            listing.write(f"## {name}: {verdict[name]}\n{diff(folders, name)}\n")
    print("\n".join(summary))
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.90, help="the score to hold")
    parser.add_argument("--report-only", action="store_true", help="report the last runs")
    parser.add_argument("--database", choices=list(RUNS), help="only this run")
    parser.add_argument(
        "--stages", type=Path, default=STAGES, help="where to stage, for runs side by side"
    )
    parser.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        help="report with the verdicts of runs staged there too (runs of other modules)",
    )
    parser.add_argument(
        "--tests",
        action="append",
        default=[],
        help="only these test files (a mutant they miss counts as a survivor): for modules "
        "that every test calls, whose mutants would otherwise each run the whole suite",
    )
    parser.add_argument("mutants", nargs="*", help="only these mutants (mutmut's names, globs)")
    args = parser.parse_args()
    stages = args.stages.resolve()
    started = time.monotonic()
    if not args.report_only:
        for database in [args.database] if args.database else RUNS:
            mutate(stages, database, args.mutants, args.tests)
    folders = [stages, *(folder.resolve() for folder in args.also)]
    score = report(folders, None if args.report_only else time.monotonic() - started)
    return 0 if score >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
