"""A bounded SMS-pumping attack on a real ``applytry serve`` (127.0.0.1, SMS to the outbox).

The service sits behind a proxy it trusts (modelled here: every request carries the
``X-Forwarded-For`` a real proxy would append, the client's true address last). An attacker
with a pool of real addresses cycles through sequential numbers of a few ranges and forges
``X-Forwarded-For`` entries of its own; ordinary visitors, each from their own address, ask for
one code for their own number and use it (applyTenant). The report says how many SMS the
attacker obtained, the share of visitors served and the false-positive rate.

    python bench/pumping.py                 # the full scenario, a markdown report
    python bench/pumping.py --json --small  # the scenario tests/test_pumping.py runs

Every loop is bounded in count, and the whole run in time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from applytry.testing import ServiceProcess

BASE = "/apiaccess/rest/ipccprovision/v1/applyTry"
ATTACK_RANGES = ("+86170000", "+86171000", "+86165000")  # premium-looking ranges, in sequence
VISITOR_RANGES = ("139", "150", "186", "188", "135", "158", "177", "131")


@dataclasses.dataclass
class Scenario:
    attack_requests: int = 1500
    attacker_addresses: int = 60  # a botnet's worth: the per-client limit alone is no defence
    visitors: int = 120
    concurrency: int = 16
    time_limit_s: float = 240.0
    seed: int = 20261125

    @classmethod
    def small(cls) -> Scenario:
        return cls(attack_requests=450, attacker_addresses=30, visitors=40, time_limit_s=90.0)


@dataclasses.dataclass
class Report:
    attack_requests: int
    attacker_sms: int
    visitors: int
    visitors_served: int
    visitors_refused: int
    seconds: float

    @property
    def served_share(self) -> float:
        return self.visitors_served / self.visitors

    @property
    def false_positive_rate(self) -> float:
        return self.visitors_refused / self.visitors

    def markdown(self) -> str:
        return "\n".join(
            [
                "| measure | value |",
                "|---|---|",
                f"| attacker requests | {self.attack_requests} |",
                f"| SMS the attacker obtained | {self.attacker_sms} |",
                f"| ordinary visitors | {self.visitors} |",
                f"| visitors served (code sent and used) | {self.served_share:.1%} |",
                f"| false positives (visitors refused a code) | {self.false_positive_rate:.1%} |",
                f"| run time | {self.seconds:.1f} s |",
            ]
        )


def _forwarded(true_address: str, rng: random.Random, forge: bool) -> str:
    """What the trusted proxy passes on: whatever the client sent, then the client's address."""
    forged = [f"203.0.113.{rng.randrange(1, 255)}" for _ in range(rng.randrange(1, 3))]
    return ", ".join([*(forged if forge else []), true_address])


async def _attacker(http, numbers, scenario, rng, counter) -> None:
    """One of several concurrent attack loops, sharing the sequence of numbers."""
    for n in numbers:
        if counter["stop"]:
            return
        prefix = ATTACK_RANGES[n % len(ATTACK_RANGES)]
        number = f"{prefix}{n // len(ATTACK_RANGES):05d}"
        address = f"10.66.{rng.randrange(scenario.attacker_addresses)}.1"
        await http.post(
            f"{BASE}/generateverifycode",
            json={"phone": number},
            headers={"X-Forwarded-For": _forwarded(address, rng, forge=True)},
        )


async def _visitor(http, index, rng, outbox: Path, outcome: dict) -> None:
    number = f"+86{rng.choice(VISITOR_RANGES)}{rng.randrange(10**8):08d}"
    address = f"198.51.{index // 250}.{index % 250 + 1}"
    headers = {"X-Forwarded-For": _forwarded(address, rng, forge=False)}
    reply = await http.post(f"{BASE}/generateverifycode", json={"phone": number}, headers=headers)
    if reply.status_code != 200 or reply.json()["retCode"] != "200":
        outcome["refused"] += 1
        return
    code = None
    for _ in range(50):  # the SMS arrives in the outbox; wait at most 5 s
        texts = [line for line in outbox.read_text().splitlines() if f'"to": "{number}"' in line]
        if texts:
            code = re.search(r"\d{6}", json.loads(texts[-1])["text"]).group()
            break
        await asyncio.sleep(0.1)
    if code is None:
        outcome["refused"] += 1
        return
    application = {
        "companyName": f"Visitor {index} Ltd",
        "phone": number,
        "phoneVerifyCode": code,
        "email": f"visitor{index}@example.com",
    }
    reply = await http.post(f"{BASE}/applyTenant", json=application, headers=headers)
    if reply.json().get("returnCode") == "000":
        outcome["served"] += 1


async def _run(base_url: str, outbox: Path, scenario: Scenario) -> Report:
    rng = random.Random(scenario.seed)
    counter = {"stop": False}
    outcome = {"served": 0, "refused": 0}
    limits = httpx.Limits(max_connections=scenario.concurrency)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        numbers = iter(range(scenario.attack_requests))
        attackers = [_attacker(http, numbers, scenario, rng, counter) for _ in range(4)]

        async def visitors() -> None:
            for index in range(scenario.visitors):
                # Visitors arrive throughout the attack, one every few attacker requests.
                await asyncio.sleep(scenario.time_limit_s / 20 / scenario.visitors)
                await _visitor(http, index, rng, outbox, outcome)

        try:
            await asyncio.wait_for(
                asyncio.gather(*attackers, visitors()), timeout=scenario.time_limit_s
            )
        finally:
            counter["stop"] = True
    sent = [json.loads(line)["to"] for line in outbox.read_text().splitlines()]
    return Report(
        attack_requests=scenario.attack_requests,
        attacker_sms=sum(number.startswith(ATTACK_RANGES) for number in sent),
        visitors=scenario.visitors,
        visitors_served=outcome["served"],
        visitors_refused=outcome["refused"],
        seconds=time.monotonic() - started,
    )


# The range caps and the conversion breaker out of the way: the baseline the report compares
# with, where only the per-phone, per-client and daily limits stand.
UNPROTECTED = {
    "prefix_hourly_limit": 10**8,
    "prefix_daily_limit": 10**8,
    "conversion_prefix_volume": 10**8,
    "conversion_country_volume": 10**8,
}


def simulate(scenario: Scenario, protected: bool = True) -> Report:
    """Starts the service with its defaults behind a trusted proxy and runs the scenario."""
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        codes = workdir / "codes.txt"
        codes.write_text("\n".join(f"9555{n:04d}" for n in range(scenario.visitors + 10)))
        settings = {
            "database_url": f"sqlite:///{workdir / 'applytry.db'}",
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
            outbox = workdir / "outbox" / "sms.jsonl"
            outbox.parent.mkdir(exist_ok=True)
            outbox.touch()
            return asyncio.run(_run(service.url, outbox, scenario))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the bounded scenario of the tests")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--unprotected", action="store_true", help="only the baseline, without the defences"
    )
    args = parser.parse_args()
    scenario = Scenario.small() if args.small else Scenario()
    if args.json:
        report = simulate(scenario, protected=not args.unprotected)
        fields = dataclasses.asdict(report)
        fields.update(
            served_share=report.served_share, false_positive_rate=report.false_positive_rate
        )
        print(json.dumps(fields))
        return
    baseline = simulate(scenario, protected=False)
    report = simulate(scenario)
    print("Without the range caps and the conversion breaker:\n")
    print(baseline.markdown())
    print("\nWith the defaults:\n")
    print(report.markdown())
    ratio = report.attacker_sms / max(1, baseline.attacker_sms)
    print(f"\nThe attacker obtains {ratio:.1%} of the SMS it got without the defences.")


if __name__ == "__main__":
    main()
