"""A bounded SMS-pumping attack on a real ``applytry serve`` (127.0.0.1, SMS to the outbox).

The service runs with its defaults behind a proxy it trusts (modelled here: every request
carries the ``X-Forwarded-For`` a real proxy would append, the client's true address last).

- **Warm-up**: ordinary visitors ask for a code and use it (applyTenant), for the service's
  traffic of the preceding hour, so that the ordinary ranges have history when the attack
  comes. What they spent of the fixed allowance windows is then given back (that hour's
  window is over): the attack starts on whole allowances, the defence's worst case.
- **Attack**: a distributed attacker with hundreds of real addresses, forging
  ``X-Forwarded-For`` entries of its own, sends sequential numbers over 80 five-digit ranges
  of virtual operators' prefixes and never uses a code. At the same time ordinary visitors,
  each from their own address, ask for a code for their own number and use it. Half of them
  solve a challenge when asked, as the ALTCHA widget in a browser would; the other half have
  no challenge support and give up. A few visitors have numbers in the attacked prefixes.
- The attacker comes in two kinds: one that gives up when asked for a challenge, and one that
  solves every challenge it is asked for (its solving CPU time is measured, per SMS).
- **No attack**: the visitors alone on a cold start; no challenge should be asked of them.
- **Baseline**: the plain attack without the range caps and the reputation allowances.

    python bench/pumping.py                 # every run, a markdown report with the targets
    python bench/pumping.py --json --small  # the attack and no-attack runs the tests assert

Every loop is bounded in count and in time; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import dataclasses
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import altcha
import httpx

from applytry.config import Settings
from applytry.testing import ServiceProcess

BASE = "/apiaccess/rest/ipccprovision/v1/applyTry"
# Virtual operators' prefixes; the attacker's 80 five-digit ranges are +86170 00 to +86167 15.
ATTACK_PREFIXES = ("170", "171", "162", "165", "167")
ATTACK_RANGES = tuple(f"+86{prefix}{n:02d}" for prefix in ATTACK_PREFIXES for n in range(16))
ORDINARY_RANGES = ("139", "150", "186", "188", "135", "158", "177", "131")
# The service's defaults the report refers to.
MAX_NUMBER = Settings.challenge_max_number
WINDOW_S = Settings.conversion_window_s
# The fixed-window budgets the warm-up spent, given back after it (applytry.pumping.Guard,
# applytry.limits.PREFIX_HOUR): the hour it stands for had a window of its own.
WINDOWED_SCOPES = ("rep-range", "rep-country", "prefix-hour")
VISITOR_PATIENCE_S = 90.0  # a visitor still without a code by then has gone
SMS_WAIT_S = 10.0  # how long a code may take to reach the outbox

TARGETS = {
    "attacker_share": "a non-solving distributed attacker gets at most 2% of its requests as SMS",
    "solver_cpu_at_peak": "a solving attacker pays at least 1 CPU-second per SMS at peak",
    "solving_served": "at least 99% of the visitors who solve challenges are served",
    "plain_served": "at least 95% of the visitors without challenge support are served "
    "(outside the attacked ranges)",
    "no_attack_challenges": "without an attack, no challenge is asked for",
}


@dataclasses.dataclass
class Scenario:
    attack_requests: int = 2400
    attack_seconds: float = 40.0  # the attacker's requests and the visitors spread over it
    attacker_addresses: int = 400
    attacker_concurrency: int = 16
    visitors: int = 120  # during the attack; even ones solve challenges, odd ones cannot
    attacked_range_visitors: int = 2  # of them, with numbers in the attacked prefixes
    warmup_visitors: int = 48
    warmup_concurrency: int = 8
    solver_seconds: float = 240.0  # the solving attacker's bound in time
    solver_peak_sms: int = 24  # ... and it stops once it has this many SMS at peak difficulty
    solver_threads: int = 2
    prefetch: int = 200  # challenges the prefetching attacker fetches before solving any
    seed: int = 20261125

    @classmethod
    def small(cls) -> Scenario:
        return cls(attack_seconds=20.0, visitors=40, warmup_visitors=16)

    def visitor_numbers(self, rng: random.Random) -> list[tuple[str, bool]]:
        """Each visitor's number and whether it is in an attacked prefix: those few are
        spread over the attack, alternately of either kind, each in another prefix."""
        attacked = {}
        for k in range(self.attacked_range_visitors):
            index = (2 * k + 1) * self.visitors // (2 * self.attacked_range_visitors)
            attacked[index - index % 2 + k % 2] = ATTACK_PREFIXES[2 * k % len(ATTACK_PREFIXES)]
        numbers = []
        for index in range(self.visitors):
            prefix = attacked.get(index) or rng.choice(ORDINARY_RANGES)
            numbers.append((f"+86{prefix}{rng.randrange(10**8):08d}", index in attacked))
        return numbers


@dataclasses.dataclass
class Visitor:
    index: int
    number: str
    solves: bool  # a browser's ALTCHA widget; otherwise no challenge support
    attacked_range: bool = False
    challenged: bool = False
    maxnumber: int | None = None
    served: bool = False
    outcome: str = "not arrived"
    seconds: float = 0.0


@dataclasses.dataclass
class Solve:
    maxnumber: int
    cpu_s: float
    sms: bool = False


@dataclasses.dataclass
class Run:
    name: str
    attacker: str | None  # None, "plain", "solving" or "prefetching"
    attack_requests: int = 0  # sent
    attacker_sms: int = 0
    visitors: list[Visitor] = dataclasses.field(default_factory=list)
    warmup: list[Visitor] = dataclasses.field(default_factory=list)
    solves: list[Solve] = dataclasses.field(default_factory=list)
    windows: int = 1  # allowance windows the attack phase touched
    seconds: float = 0.0

    def summary(self) -> dict:
        solving = [v for v in self.visitors if v.solves]
        plain = [v for v in self.visitors if not v.solves and not v.attacked_range]
        plain_attacked = [v for v in self.visitors if not v.solves and v.attacked_range]
        fields = {
            "name": self.name,
            "attacker": self.attacker,
            "attack_requests": self.attack_requests,
            "attacker_sms": self.attacker_sms,
            "attacker_share": self.attacker_sms / self.attack_requests
            if self.attack_requests
            else 0.0,
            "visitors": len(self.visitors),
            "challenges_asked": sum(v.challenged for v in self.visitors),
            "solving_visitors": len(solving),
            "solving_served": sum(v.served for v in solving),
            "solving_challenged": sum(v.challenged for v in solving),
            "plain_visitors": len(plain),
            "plain_served": sum(v.served for v in plain),
            "plain_challenged": sum(v.challenged for v in plain),
            "plain_attacked_range_visitors": len(plain_attacked),
            "plain_attacked_range_served": sum(v.served for v in plain_attacked),
            "slowest_visitor_s": max((v.seconds for v in self.visitors), default=0.0),
            "not_served": [f"{v.index}: {v.outcome}" for v in self.visitors if not v.served],
            "warmup_visitors": len(self.warmup),
            "warmup_served": sum(v.served for v in self.warmup),
            "warmup_challenges": sum(v.challenged for v in self.warmup),
            "windows": self.windows,
            "seconds": round(self.seconds, 1),
        }
        fields["solving_served_share"] = _share(fields["solving_served"], len(solving))
        fields["plain_served_share"] = _share(fields["plain_served"], len(plain))
        if self.attacker in ("solving", "prefetching"):
            fields.update(self.solver_summary())
        return fields

    def solver_summary(self) -> dict:
        peak = max((s.maxnumber for s in self.solves), default=0)
        at_peak = [s for s in self.solves if s.maxnumber == peak]
        cpu = sum(s.cpu_s for s in self.solves)
        solved_sms = sum(s.sms for s in self.solves)
        peak_sms = sum(s.sms for s in at_peak)
        return {
            "solves": len(self.solves),
            "solver_cpu_s": round(cpu, 2),
            "solved_sms": solved_sms,
            "cpu_per_sms": cpu / self.attacker_sms if self.attacker_sms else None,
            "peak_maxnumber": peak,
            "peak_solves": len(at_peak),
            "peak_sms": peak_sms,
            "cpu_per_sms_at_peak": sum(s.cpu_s for s in at_peak) / peak_sms if peak_sms else None,
            "median_maxnumber": round(statistics.median(s.maxnumber for s in self.solves))
            if self.solves
            else None,
        }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def _forwarded(true_address: str, rng: random.Random, forge: bool) -> str:
    """What the trusted proxy passes on: whatever the client sent, then the client's address."""
    forged = [f"203.0.113.{rng.randrange(1, 255)}" for _ in range(rng.randrange(1, 3))]
    return ", ".join([*(forged if forge else []), true_address])


def _retcode(reply: httpx.Response) -> tuple[str | None, bool]:
    """generateverifycode's retCode and challengeRequired (None on any other answer)."""
    if reply.status_code != 200:
        return None, False
    body = reply.json()
    return body.get("retCode"), bool(body.get("challengeRequired"))


def _solve(challenge: dict) -> tuple[str, float]:
    """What the ALTCHA widget sends once it has found the number, and the CPU time of this
    thread it took (other threads solve at the same time)."""
    started = time.thread_time()
    found = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    cpu = time.thread_time() - started
    fields = {name: challenge[name] for name in ("algorithm", "challenge", "salt", "signature")}
    token = base64.b64encode(json.dumps({**fields, "number": found.number}).encode()).decode()
    return token, cpu


class Outbox:
    """The SMS outbox, read as it grows: the latest code sent to each number."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.codes: dict[str, str] = {}
        self.sent: list[str] = []

    def refresh(self) -> None:
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            sms = json.loads(line)
            self.sent.append(sms["to"])
            found = re.search(r"\d{6}", sms["text"])
            if found:
                self.codes[sms["to"]] = found.group()

    async def code_for(self, number: str) -> str | None:
        deadline = time.monotonic() + SMS_WAIT_S
        while time.monotonic() < deadline:
            self.refresh()
            if number in self.codes:
                return self.codes[number]
            await asyncio.sleep(0.05)
        return None


class Bench:
    """One service and its outbox; the phases of a run share them."""

    def __init__(self, url: str, outbox: Outbox, database: Path, scenario: Scenario):
        self.outbox = outbox
        self.database = database
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.visitors_http = httpx.AsyncClient(
            base_url=url, timeout=30, limits=httpx.Limits(max_connections=64)
        )
        self.attacker_http = httpx.AsyncClient(
            base_url=url,
            timeout=30,
            limits=httpx.Limits(max_connections=scenario.attacker_concurrency),
        )
        self.applications = 0

    async def aclose(self) -> None:
        await self.visitors_http.aclose()
        await self.attacker_http.aclose()

    # --- visitors ---------------------------------------------------------------------------

    async def visit(self, visitor: Visitor, address: str) -> None:
        """One visitor, from their own address: a code, a challenge if asked (solved or given
        up on), the code used."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._visit(visitor, address), VISITOR_PATIENCE_S)
        except TimeoutError:
            visitor.outcome = "gone: no code within the visitor's patience"
        visitor.seconds = time.monotonic() - started

    async def _visit(self, visitor: Visitor, address: str) -> None:
        http = self.visitors_http
        headers = {"X-Forwarded-For": _forwarded(address, self.rng, forge=False)}
        body = {"phone": visitor.number}
        reply = await http.post(f"{BASE}/generateverifycode", json=body, headers=headers)
        code, challenge_required = _retcode(reply)
        if challenge_required:
            visitor.challenged = True
            if not visitor.solves:
                visitor.outcome = "gave up: challenge required"
                return
            challenge = await http.post(f"{BASE}/challenge", json=body, headers=headers)
            if challenge.status_code != 200:
                visitor.outcome = f"createChallenge answered {challenge.status_code}"
                return
            visitor.maxnumber = challenge.json()["maxnumber"]
            token, _ = await asyncio.to_thread(_solve, challenge.json())
            reply = await http.post(
                f"{BASE}/generateverifycode", json={**body, "challenge": token}, headers=headers
            )
            code, _ = _retcode(reply)
        if code != "200":
            visitor.outcome = f"refused: HTTP {reply.status_code}, retCode {code}"
            return
        sms_code = await self.outbox.code_for(visitor.number)
        if sms_code is None:
            visitor.outcome = "no sms"
            return
        self.applications += 1
        application = {
            "companyName": f"Visitor {self.applications} Ltd",
            "phone": visitor.number,
            "phoneVerifyCode": sms_code,
            "email": f"visitor{self.applications}@example.com",
        }
        reply = await http.post(f"{BASE}/applyTenant", json=application, headers=headers)
        returned = reply.json().get("returnCode") if reply.status_code == 200 else None
        visitor.served = returned == "000"
        visitor.outcome = "served" if visitor.served else f"applyTenant: {returned}"

    async def warm_up(self) -> list[Visitor]:
        """The preceding hour's ordinary traffic: every ordinary range gets codes used."""
        scenario = self.scenario
        visitors = [
            Visitor(
                index=i,
                number=f"+86{ORDINARY_RANGES[i % len(ORDINARY_RANGES)]}"
                f"{self.rng.randrange(10**8):08d}",
                solves=True,
            )
            for i in range(scenario.warmup_visitors)
        ]
        gate = asyncio.Semaphore(scenario.warmup_concurrency)

        async def one(visitor: Visitor) -> None:
            async with gate:
                i = visitor.index
                await self.visit(visitor, f"198.18.{i // 250}.{i % 250 + 1}")

        await asyncio.gather(*(one(v) for v in visitors))
        self._close_the_hour()
        return visitors

    def _close_the_hour(self) -> None:
        """The warm-up stands for the preceding hour, whose allowance window is over: what it
        spent of the fixed windows goes; its history (codes issued and used) stays."""
        with sqlite3.connect(self.database, timeout=30) as connection:
            marks = ", ".join("?" * len(WINDOWED_SCOPES))
            gone = connection.execute(
                f"DELETE FROM counter WHERE scope IN ({marks})",
                WINDOWED_SCOPES,
            ).rowcount
        if not gone:  # renamed budgets would leave the attacker a smaller allowance unseen
            raise RuntimeError(f"the warm-up spent none of {WINDOWED_SCOPES}: renamed?")

    # --- attackers ---------------------------------------------------------------------------

    def attack_numbers(self) -> list[str]:
        """Sequential numbers, round the 80 ranges."""
        count = len(ATTACK_RANGES)
        return [
            f"{ATTACK_RANGES[n % count]}{n // count:06d}"
            for n in range(self.scenario.attack_requests)
        ]

    async def attack(self, run: Run, visitors: list[Visitor]) -> None:
        """The attacker and the visitors at the same time, both spread over the attack."""
        scenario = self.scenario
        loop = asyncio.get_running_loop()
        start = loop.time()
        numbers = self.attack_numbers() if run.attacker else []
        queue = iter(range(len(numbers)))
        interval = scenario.attack_seconds / max(1, len(numbers))
        executor = concurrent.futures.ThreadPoolExecutor(scenario.solver_threads)
        ends = start + (
            scenario.solver_seconds if run.attacker != "plain" else scenario.attack_seconds * 3
        )
        state = {"peak_sms": 0, "prefetched": None}

        def done() -> bool:
            # The prefetching attacker is done once it has used what it fetched.
            used_up = state["prefetched"] == {}
            return loop.time() > ends or state["peak_sms"] >= scenario.solver_peak_sms or used_up

        async def attacker() -> None:
            for n in queue:
                if done():
                    return
                if run.attacker == "plain":
                    await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
                run.attack_requests += 1
                await self._attack_one(run, numbers[n : n + scenario.prefetch], executor, state)

        async def visitor(v: Visitor) -> None:
            await asyncio.sleep((v.index + 0.5) * scenario.attack_seconds / len(visitors))
            await self.visit(v, f"198.51.{v.index // 250}.{v.index % 250 + 1}")

        # A solving attacker's loops are as many as its solving threads; a prefetching one's
        # single loop fetches ahead once.
        loops = {"plain": scenario.attacker_concurrency, "solving": scenario.solver_threads}
        concurrency = loops.get(run.attacker, 1 if run.attacker else 0)
        window = time.time() // WINDOW_S
        try:
            await asyncio.gather(
                *(attacker() for _ in range(concurrency)),
                *(visitor(v) for v in visitors),
            )
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        run.windows = int(time.time() // WINDOW_S - window) + 1

    def _attacker_headers(self) -> dict:
        """From one of the attacker's real addresses, with forged entries before it."""
        a = self.rng.randrange(self.scenario.attacker_addresses)
        return {"X-Forwarded-For": _forwarded(f"10.66.{a // 250}.{a % 250 + 1}", self.rng, True)}

    async def _attack_one(self, run: Run, ahead: list[str], executor, state: dict) -> None:
        """One number (the first of ``ahead``): a plain attacker gives up on a challenge,
        a solving one solves it. A prefetching one, at its first challenge, asks for those of
        all the numbers ``ahead`` while the difficulty is still low, then solves them."""
        http = self.attacker_http
        number = ahead[0]
        headers = self._attacker_headers()
        body = {"phone": number}
        challenge = (state["prefetched"] or {}).pop(number, None)
        if challenge is None:  # what it fetched ahead, it solves without asking first
            reply = await http.post(f"{BASE}/generateverifycode", json=body, headers=headers)
            _, challenge_required = _retcode(reply)
            if not challenge_required or run.attacker == "plain":
                return  # a plain attacker gives up, and moves on to the next number
        if run.attacker == "prefetching" and state["prefetched"] is None:
            prefetched = {}
            for later in ahead:
                got = await http.post(
                    f"{BASE}/challenge", json={"phone": later}, headers=self._attacker_headers()
                )
                if got.status_code == 200:
                    prefetched[later] = got.json()
            challenge = prefetched.pop(number, None)
            state["prefetched"] = prefetched
        if challenge is None:
            got = await http.post(f"{BASE}/challenge", json=body, headers=headers)
            if got.status_code != 200:
                return
            challenge = got.json()
        loop = asyncio.get_running_loop()
        token, cpu = await loop.run_in_executor(executor, _solve, challenge)
        solve = Solve(maxnumber=challenge["maxnumber"], cpu_s=cpu)
        run.solves.append(solve)
        reply = await http.post(
            f"{BASE}/generateverifycode", json={**body, "challenge": token}, headers=headers
        )
        solve.sms = _retcode(reply)[0] == "200"
        if solve.sms and solve.maxnumber >= MAX_NUMBER:
            state["peak_sms"] += 1


async def _run(bench: Bench, run: Run, warm_up: bool) -> Run:
    scenario = bench.scenario
    started = time.monotonic()
    if warm_up:
        run.warmup = await bench.warm_up()
    if run.attacker:
        # Not across the end of an allowance window: the attacker would have two.
        left = WINDOW_S - time.time() % WINDOW_S
        bound = scenario.attack_seconds * 1.5 + 10
        if left < bound:
            print(f"waiting {left:.0f} s for a new allowance window", file=sys.stderr)
            await asyncio.sleep(left + 1)
    visitors = [
        Visitor(index=i, number=number, solves=i % 2 == 0, attacked_range=attacked)
        for i, (number, attacked) in enumerate(scenario.visitor_numbers(bench.rng))
    ]
    run.visitors = visitors
    await bench.attack(run, visitors)
    bench.outbox.refresh()
    attack_numbers = set(bench.attack_numbers())
    run.attacker_sms = sum(number in attack_numbers for number in bench.outbox.sent)
    run.seconds = time.monotonic() - started
    return run


# The range caps and the reputation allowances out of the way: the baseline the report
# compares with, where only the per-phone, per-client and daily limits stand.
UNPROTECTED = {
    "prefix_hourly_limit": 10**8,
    "prefix_daily_limit": 10**8,
    "conversion_prefix_volume": 10**8,
    "conversion_country_volume": 10**8,
}


def simulate(scenario: Scenario, name: str, attacker: str | None, protected: bool = True) -> Run:
    """Starts the service with its defaults behind a trusted proxy and runs one scenario:
    a warm-up, then the attack, if there is an attacker; else the visitors on a cold start."""
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "applytry.db"
        codes = workdir / "codes.txt"
        needed = scenario.visitors + scenario.warmup_visitors + 10
        codes.write_text("\n".join(f"9555{n:04d}" for n in range(needed)))
        settings = {
            "database_url": f"sqlite:///{database}",
            "trusted_proxies": "127.0.0.1",
            **({} if protected else UNPROTECTED),
        }
        service = ServiceProcess(workdir, settings=settings, workers=2)
        with service:
            subprocess.run(
                [sys.executable, "-m", "applytry.cli", "access-codes", "import", str(codes)],
                cwd=workdir,
                env={**os.environ, "APPLYTRY_DATABASE_URL": settings["database_url"]},
                check=True,
                capture_output=True,
            )
            path = workdir / "outbox" / "sms.jsonl"
            path.parent.mkdir(exist_ok=True)
            path.touch()

            async def go() -> Run:
                bench = Bench(service.url, Outbox(path), database, scenario)
                try:
                    run = Run(name=name, attacker=attacker)
                    # Bounded as a whole, besides every loop's own bounds.
                    limit = 2 * scenario.solver_seconds + 4 * VISITOR_PATIENCE_S
                    return await asyncio.wait_for(_run(bench, run, attacker is not None), limit)
                finally:
                    await bench.aclose()

            return asyncio.run(go())


def targets(attack: dict, no_attack: dict, solver: dict | None) -> list[dict]:
    """Each target, measured and met or not."""
    rows = [
        ("attacker_share", attack["attacker_share"], "<= 2%", attack["attacker_share"] <= 0.02),
        (
            "solving_served",
            attack["solving_served_share"],
            ">= 99%",
            attack["solving_served_share"] >= 0.99,
        ),
        (
            "plain_served",
            attack["plain_served_share"],
            ">= 95%",
            attack["plain_served_share"] >= 0.95,
        ),
        (
            "no_attack_challenges",
            no_attack["challenges_asked"],
            "0",
            no_attack["challenges_asked"] == 0,
        ),
    ]
    if solver is not None:
        cpu = solver["cpu_per_sms_at_peak"]
        rows.insert(1, ("solver_cpu_at_peak", cpu, ">= 1 CPU-s", cpu is not None and cpu >= 1))
    return [
        {"target": key, "what": TARGETS[key], "measured": value, "wanted": wanted, "met": met}
        for key, value, wanted, met in rows
    ]


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.2%}" if value <= 1 else f"{value:.2f}"
    return str(value)


def markdown(runs: list[dict], checked: list[dict]) -> str:
    lines = ["| target | measured | wanted | met |", "|---|---|---|---|"]
    for row in checked:
        measured = row["measured"]
        if row["target"] == "solver_cpu_at_peak":
            shown = "none" if measured is None else f"{measured:.2f} CPU-s"
        else:
            shown = _shown(measured)
        lines.append(
            f"| {row['what']} | {shown} | {row['wanted']} | {'pass' if row['met'] else 'FAIL'} |"
        )
    lines += ["", "| measure | " + " | ".join(r["name"] for r in runs) + " |"]
    lines.append("|---" * (len(runs) + 1) + "|")
    measures = [
        ("attacker requests sent", lambda r: r["attack_requests"]),
        ("SMS the attacker obtained", lambda r: r["attacker_sms"]),
        ("... share of its requests", lambda r: f"{r['attacker_share']:.2%}"),
        ("warm-up visitors served (challenged)", _warmup),
        ("visitors who solve: served", _served("solving_served", "solving_visitors")),
        ("... asked for a challenge", lambda r: r["solving_challenged"]),
        ("visitors without challenge support: served", _served("plain_served", "plain_visitors")),
        ("... asked for a challenge (gave up)", lambda r: r["plain_challenged"]),
        (
            "... in an attacked prefix: served",
            _served("plain_attacked_range_served", "plain_attacked_range_visitors"),
        ),
        ("slowest visitor", lambda r: f"{r['slowest_visitor_s']:.1f} s"),
        ("allowance windows touched", lambda r: r["windows"]),
        ("run time", lambda r: f"{r['seconds']} s"),
    ]
    for label, shown in measures:
        lines.append(f"| {label} | " + " | ".join(str(shown(r)) for r in runs) + " |")
    solvers = [r for r in runs if "solves" in r]
    if solvers:
        lines += ["", "| solving attacker | " + " | ".join(r["name"] for r in solvers) + " |"]
        lines.append("|---" * (len(solvers) + 1) + "|")
        rows = [
            ("challenges solved", "solves"),
            ("SMS after a solved challenge", "solved_sms"),
            ("solving CPU time, s", "solver_cpu_s"),
            ("CPU-s per SMS obtained (all its SMS)", "cpu_per_sms"),
            ("median maxnumber", "median_maxnumber"),
            ("highest maxnumber it was set (its peak)", "peak_maxnumber"),
            ("SMS at its peak", "peak_sms"),
            ("CPU-s per SMS at its peak", "cpu_per_sms_at_peak"),
        ]
        for label, key in rows:
            values = []
            for r in solvers:
                value = r[key]
                if value is None:
                    values.append("none")
                else:
                    values.append(f"{value:,.2f}" if isinstance(value, float) else f"{value:,}")
            lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def _served(part: str, whole: str):
    return lambda r: f"{r[part]}/{r[whole]}"


def _warmup(r: dict) -> str:
    if not r["warmup_visitors"]:
        return "no warm-up"
    return f"{r['warmup_served']}/{r['warmup_visitors']} ({r['warmup_challenges']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="only the attack and the no-attack runs, smaller"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    scenario = Scenario.small() if args.small else Scenario()
    plans = [("defaults, plain attacker", "plain", True), ("no attack", None, True)]
    if not args.small:
        plans = [
            ("defences off", "plain", False),
            *plans[:1],
            ("defaults, solving attacker", "solving", True),
            ("defaults, prefetching attacker", "prefetching", True),
            *plans[1:],
        ]
    runs = []
    for name, attacker, protected in plans:
        print(f"running: {name}", file=sys.stderr)
        runs.append(simulate(scenario, name, attacker, protected).summary())
    by_name = {r["name"]: r for r in runs}
    checked = targets(
        by_name["defaults, plain attacker"],
        by_name["no attack"],
        by_name.get("defaults, solving attacker"),
    )
    rate = _hash_rate()
    if args.json:
        print(json.dumps({"runs": by_name, "targets": checked, "hashes_per_cpu_s": rate}))
        return
    print(markdown(runs, checked))
    print(
        f"\nThis machine's solver (altcha.solve_challenge_v1, Python) tries {rate:,.0f} numbers a"
        f" CPU-second: a challenge of maxnumber {MAX_NUMBER:,} costs {MAX_NUMBER / 2 / rate:.2f}"
        " CPU-s on average."
    )
    if "defences off" in by_name:
        ratio = by_name["defaults, plain attacker"]["attacker_sms"] / max(
            1, by_name["defences off"]["attacker_sms"]
        )
        print(f"The plain attacker obtains {ratio:.1%} of the SMS it got without the defences.")


def _hash_rate(numbers: int = 300_000) -> float:
    """How many numbers a CPU-second the bench's solver tries on this machine."""
    made = altcha.create_challenge_v1(max_number=numbers, hmac_key=b"bench", number=numbers)
    _, cpu = _solve(
        {
            "algorithm": made.algorithm,
            "challenge": made.challenge,
            "maxnumber": made.max_number,
            "salt": made.salt,
            "signature": made.signature,
        }
    )
    return numbers / cpu


if __name__ == "__main__":
    main()
