"""The benchmark: applytry as users run it, against two baselines in the same run.

    python bench/run.py                     # every scenario, SQLite; results in bench/results/
    python bench/run.py --quick             # 3 s a scenario instead of 10, one round
    python bench/run.py --database postgresql
    python bench/run.py --database postgresql --rtt-ms 1   # PostgreSQL 1 ms away
    python bench/run.py --database postgresql --instances 2

Each server runs as users run it (2 uvicorn workers, h11, loopback) with limits loosened so that
nothing is refused unless the scenario wants it, and SMS to the outbox. Load comes from wrk in
its own process (Debian package ``wrk``). For each scenario it reports req/s, p50, p99, errors
and the servers' CPU per request, and, in the same run, the same scenario against a Starlette
app returning a constant reply (the ceiling) and the same domain functions mounted in FastAPI
(the framework users would pick instead), with ratios. The targets take turns for three rounds
and the median round of each counts, so that a slow spell of a shared machine does not decide a
ratio. It ends with the fast path's targets and whether this run met them.

With ``--rtt-ms R`` the service and the FastAPI mount reach PostgreSQL through
``bench/delay_proxy.py``, which adds R ms to every round trip, and applytry is also measured
connected directly, in the same rounds; the table then gives each row's added round trip, the
proxy's own CPU a request and the statements (round trips) a request. ``--rtt-ms 0`` measures
what the proxy itself costs. With ``--instances N``, N separate ``applytry serve`` share the
database, each driven by its own wrk with its share of the connections: one more row. A
PostgreSQL run also measures applytry on its embedded SQLite in the same rounds (the row
"applytry, sqlite"), and ends with PostgreSQL's targets: its 200 path against SQLite's, and
at a distance what each path keeps of its direct figure and the 201 path's tail at 64
connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # bench.baselines

from applytry.testing import LOOSE_LIMITS, ServiceProcess  # noqa: E402
from bench import distance  # noqa: E402
from bench.delay_proxy import DelayProxy  # noqa: E402

PATH = "/apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode"
LOOSE = {**LOOSE_LIMITS, "log_level": "WARNING"}
# What a browser on the website sends: the API's JSON and its language preferences.
LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
FIXED = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept-Language"] = "LANGUAGE"
wrk.body = '{"phone": "%s"}'
""".replace("LANGUAGE", LANGUAGE)
# A new phone for every request: each wrk thread counts in its own block of numbers.
UNIQUE = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("block", threads)
end
function init(args)
  counter = 0
end
request = function()
  counter = counter + 1
  local phone = string.format("139%08d", (block * 10000000 + counter) % 100000000)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                  ["Accept-Language"] = "LANGUAGE"},
                    '{"phone": "' .. phone .. '"}')
end
""".replace("LANGUAGE", LANGUAGE)


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    connections: int = 32
    gateway: bool = False  # SMS through a webhook gateway that answers after 200 ms
    ok_statuses: str = "2xx"  # what is not an error


SCENARIOS = [
    Scenario("201 path (one phone)", FIXED % "13800138000"),
    Scenario("200 path (a new phone a request)", UNIQUE),
    Scenario("400 path (invalid phone)", FIXED % "not a phone", ok_statuses="400"),
    Scenario("201 path, 64 connections", FIXED % "13800138000", connections=64),
    Scenario("200 path, 64 connections", UNIQUE, connections=64),
    Scenario("200 path, 200 ms gateway, 400 connections", UNIQUE, connections=400, gateway=True),
]


@dataclasses.dataclass
class Result:
    target: str
    scenario: str
    database: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us_per_request: float
    # Only with --rtt-ms: the round trip added between this target and PostgreSQL (None:
    # connected directly), and over the measured window, a request, the proxy's CPU and the
    # statements sent through it, each a round trip.
    rtt_ms: float | None = None
    proxy_cpu_us_per_request: float | None = None
    statements_per_request: float | None = None


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def process_tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and all its descendants (the uvicorn workers)."""
    parents, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        for pid, parent in parents.items():
            if parent == current and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def _wrk_command(url: str, script: Path, connections: int, seconds: int) -> list[str]:
    threads = 2 if connections >= 2 else 1
    command = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    return [*command, "--timeout", "10s", "-s", str(script), url + PATH]


def wrk(url: str, scenario: Scenario, seconds: int, workdir: Path) -> dict:
    script = workdir / "load.lua"
    script.write_text(scenario.script)
    command = _wrk_command(url, script, scenario.connections, seconds)
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    return _wrk_numbers(output)


def wrk_spread(urls: list[str], scenario: Scenario, seconds: int, workdir: Path) -> dict:
    """One wrk a server, all at once, each with its share of the connections, as a load
    balancer would spread them; the counts are summed. Percentiles cannot be merged from
    two summaries: p50 is the mean of the two weighted by requests, p99 the worse one."""
    processes = []
    for index, url in enumerate(urls):
        script = workdir / f"load-{index}.lua"
        # Each wrk numbers its threads from 1: its own blocks of phones keep the 200 path's
        # phones new across the wrk processes too.
        script.write_text(
            scenario.script.replace("local threads = 0", f"local threads = {index * 2}")
        )
        command = _wrk_command(url, script, scenario.connections // len(urls), seconds)
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    parts = []
    for process in processes:
        output, _ = process.communicate(timeout=seconds + 60)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, process.args, output)
        parts.append(_wrk_numbers(output))
    requests = sum(part["requests"] for part in parts)
    return {
        "requests": requests,
        "requests_per_s": sum(part["requests_per_s"] for part in parts),
        "p50_ms": sum(part["p50_ms"] * part["requests"] for part in parts) / max(1, requests),
        "p99_ms": max(part["p99_ms"] for part in parts),
        "non_2xx": sum(part["non_2xx"] for part in parts),
        "socket_errors": sum(part["socket_errors"] for part in parts),
    }


def _wrk_numbers(output: str) -> dict:
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)[ \t]*$", output, re.MULTILINE))
    if len(latency) != 2:
        raise RuntimeError(f"wrk said nothing of latency:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": requests,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket.groups())) if socket else 0,
    }


def unused_port() -> int:
    """A port free a moment ago, for the baselines' stock uvicorn, which is started quiet
    (--log-level warning) and so does not name the port it would bind with --port 0."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Uvicorn:
    """A baseline app under uvicorn with the same server settings as ``applytry serve``."""

    def __init__(self, app: str, workdir: Path, env: dict, factory: bool = False, workers: int = 2):
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "uvicorn", app, "--port", str(self.port)]
        command += ["--workers", str(workers), "--no-access-log", "--no-proxy-headers"]
        command += ["--http", "applytry.edge:EdgeProtocol"]  # the same edge as applytry serve
        command += ["--log-level", "warning"] + (["--factory"] if factory else [])
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def _wait_for(port: int, process: subprocess.Popen, timeout_s: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("a benchmark server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("a benchmark server did not start")


def measure(
    target: str,
    urls: list[str],
    pids: list[int],
    scenario: Scenario,
    args,
    workdir: Path,
    proxy: DelayProxy | None = None,
) -> Result:
    load = wrk if len(urls) == 1 else wrk_spread
    url = urls[0] if len(urls) == 1 else urls
    # Warm up (imports, connections, caches), then measure.
    load(url, scenario, 2, workdir)
    before = sum(map(process_tree_cpu, pids))
    proxy_before = (process_tree_cpu(proxy.pid), proxy.chunks()) if proxy else (0.0, 0)
    numbers = load(url, scenario, args.seconds, workdir)
    cpu = sum(map(process_tree_cpu, pids)) - before
    if proxy:
        proxy_cpu = process_tree_cpu(proxy.pid) - proxy_before[0]
        # Requests still in flight when wrk stops add their statements too: a few in
        # thousands.
        statements = proxy.chunks() - proxy_before[1]
    per_request = 1e6 / max(1, numbers["requests"])
    ok_400 = scenario.ok_statuses == "400"
    errors = numbers["socket_errors"] + (0 if ok_400 else numbers["non_2xx"])
    return Result(
        target=target,
        scenario=scenario.name,
        database=args.database_label,
        requests_per_s=numbers["requests_per_s"],
        p50_ms=numbers["p50_ms"],
        p99_ms=numbers["p99_ms"],
        errors=errors,
        requests=numbers["requests"],
        cpu_us_per_request=cpu * per_request,
        rtt_ms=proxy.rtt_ms if proxy else None,
        proxy_cpu_us_per_request=proxy_cpu * per_request if proxy else None,
        statements_per_request=statements * per_request / 1e6 if proxy else None,
    )


def median(rounds: list[Result]) -> Result:
    """The round with the median throughput: one noisy round on a shared machine does not
    decide a ratio."""
    return sorted(rounds, key=lambda r: r.requests_per_s)[len(rounds) // 2]


def run(args) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        gateway = Uvicorn("bench.baselines.slow_gateway:app", workdir, {}, workers=1)
        proxy = None
        try:
            database_url = args.database_url(workdir)
            if args.rtt_ms is not None:
                # Between the servers and PostgreSQL; resetting the database stays direct.
                proxy = DelayProxy(args.postgres_address, args.rtt_ms).start()
                args.round_trips = {
                    "direct": distance.round_trip_ms(args.postgres),
                    "proxy": distance.round_trip_ms(distance.through(args.postgres, proxy.port)),
                }
                database_url = distance.through(database_url, proxy.port)
            settings = {**LOOSE, "database_url": database_url}
            if args.database == "postgresql":
                settings["secret"] = "benchmark-secret-0123456789"
            env = {f"APPLYTRY_{k.upper()}": str(v) for k, v in settings.items()}

            def ceiling(scenario: Scenario) -> Result:
                server = Uvicorn("bench.baselines.constant:app", workdir, {})
                try:
                    return measure(
                        "starlette constant",
                        [server.url],
                        [server.process.pid],
                        scenario,
                        args,
                        workdir,
                    )
                finally:
                    server.stop()

            def applytry(scenario: Scenario, overrides: dict, direct: bool = False) -> Result:
                args.reset_database(workdir)
                # Directly connected, as a reference for the same scenario through the proxy.
                near = {"database_url": args.database_url(workdir)} if direct else {}
                service = ServiceProcess(
                    workdir, workers=2, settings={**settings, **overrides, **near}
                ).start()
                try:
                    return measure(
                        "applytry, db direct" if direct else "applytry",
                        [service.url],
                        [service.process.pid],
                        scenario,
                        args,
                        workdir,
                        None if direct else proxy,
                    )
                finally:
                    service.stop()

            def embedded(scenario: Scenario, overrides: dict) -> Result:
                """applytry on its embedded SQLite, for the PostgreSQL run's own reference."""
                for path in workdir.glob("reference.db*"):
                    path.unlink()
                local = {"database_url": f"sqlite:///{workdir / 'reference.db'}"}
                service = ServiceProcess(
                    workdir, workers=2, settings={**settings, **overrides, **local}
                ).start()
                try:
                    return measure(
                        "applytry, sqlite",
                        [service.url],
                        [service.process.pid],
                        scenario,
                        args,
                        workdir,
                    )
                finally:
                    service.stop()

            def instances(scenario: Scenario, overrides: dict) -> Result:
                args.reset_database(workdir)
                services: list[ServiceProcess] = []
                try:
                    for _ in range(args.instances):
                        services.append(
                            ServiceProcess(
                                workdir, workers=2, settings={**settings, **overrides}
                            ).start()
                        )
                    return measure(
                        f"applytry ×{args.instances} instances",
                        [service.url for service in services],
                        [service.process.pid for service in services],
                        scenario,
                        args,
                        workdir,
                        proxy,
                    )
                finally:
                    for service in services:
                        service.stop()

            def fastapi(scenario: Scenario, overrides: dict) -> Result:
                args.reset_database(workdir)
                more = {f"APPLYTRY_{k.upper()}": str(v) for k, v in overrides.items()}
                # Metrics shared by the workers through files, as `applytry serve` has them.
                metrics = Path(tempfile.mkdtemp(dir=workdir, prefix="metrics-"))
                more["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
                mount = Uvicorn(
                    "bench.baselines.fastapi_mount:create_app",
                    workdir,
                    {**env, **more},
                    factory=True,
                )
                try:
                    return measure(
                        "fastapi mount",
                        [mount.url],
                        [mount.process.pid],
                        scenario,
                        args,
                        workdir,
                        proxy,
                    )
                finally:
                    mount.stop()

            for scenario in SCENARIOS:
                wanted = not args.only or any(word in scenario.name for word in args.only)
                first = scenario is SCENARIOS[0]  # the ceiling is measured on it, always
                if not (wanted or first):
                    continue
                overrides = {}
                if scenario.gateway:
                    overrides = {
                        "sms_backend": "webhook",
                        "sms_webhook_url": gateway.url + "/sms",
                        "sms_timeout_s": 5,
                    }
                # The targets take turns, round after round, so that a slow spell of the
                # machine falls on all of them.
                rounds: dict[str, list[Result]] = {}
                for _ in range(args.rounds):
                    if first:
                        rounds.setdefault("ceiling", []).append(ceiling(scenario))
                    if wanted:
                        rounds.setdefault("applytry", []).append(applytry(scenario, overrides))
                    if wanted and proxy:
                        rounds.setdefault("direct", []).append(
                            applytry(scenario, overrides, direct=True)
                        )
                    if wanted and args.database == "postgresql" and not scenario.gateway:
                        rounds.setdefault("sqlite", []).append(embedded(scenario, overrides))
                    if wanted and scenario.connections <= 64:
                        rounds.setdefault("fastapi", []).append(fastapi(scenario, overrides))
                    if wanted and args.instances > 1 and scenario.connections >= args.instances:
                        rounds.setdefault("instances", []).append(instances(scenario, overrides))
                results += [median(measured) for measured in rounds.values()]
            if proxy:
                # Again at the end: a proxy short of CPU during the run would hold longer.
                args.round_trips["proxy after"] = distance.round_trip_ms(
                    distance.through(args.postgres, proxy.port)
                )
        finally:
            if proxy:
                proxy.stop()
            gateway.stop()
    return results


def markdown(results: list[Result]) -> str:
    ceiling = next(r for r in results if r.target == "starlette constant")
    fastapi = {r.scenario: r for r in results if r.target == "fastapi mount"}
    header = "| scenario | target | req/s | p50 ms | p99 ms | errors | CPU µs/req "
    lines = [header + "| vs ceiling | vs FastAPI |", "|---|---|---|---|---|---|---|---|---|"]
    # Columns of their own only when a proxy put the database at a distance.
    far = any(r.proxy_cpu_us_per_request is not None for r in results)
    if far:
        lines = [
            lines[0] + " db rtt ms | proxy CPU µs/req | statements/req |",
            lines[1] + "---|---|---|",
        ]
    for r in results:
        versus = fastapi.get(r.scenario)
        ratio = ""
        if versus and r.target == "applytry":
            ratio = f"{r.requests_per_s / versus.requests_per_s:.2f}x"
        share = r.requests_per_s / ceiling.requests_per_s
        cells = [
            r.scenario,
            r.target,
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.errors),
            f"{r.cpu_us_per_request:,.0f}",
            f"{share:.1%}",
            ratio,
        ]
        if far:
            cells += _distance_cells(r)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *targets(results)])


def _distance_cells(r: Result) -> list[str]:
    if r.target == "starlette constant":
        return ["", "", ""]  # no database
    if r.target == "applytry, sqlite":
        return ["embedded", "", ""]
    if r.rtt_ms is None:
        return ["direct", "", ""]
    return [
        f"+{r.rtt_ms:g}",
        f"{r.proxy_cpu_us_per_request:,.0f}",
        f"{r.statements_per_request:.1f}",
    ]


def targets(results: list[Result]) -> list[str]:
    """The fast path's targets, each with what this run measured (scenarios not run are left
    out)."""
    mine = {r.scenario: r for r in results if r.target == "applytry"}
    fastapi = {r.scenario: r for r in results if r.target == "fastapi mount"}
    ceiling = next(r for r in results if r.target == "starlette constant")
    one, new, bad, one64, new64, gateway = (mine.get(s.name) for s in SCENARIOS)
    checks: list[tuple[bool, str, str]] = []  # (met, target, measured)
    if one:
        share = one.requests_per_s / ceiling.requests_per_s
        checks.append((share >= 0.20, "201 path ≥ 20% of the ceiling", f"{share:.1%}"))
        if one.scenario in fastapi:
            ratio = one.requests_per_s / fastapi[one.scenario].requests_per_s
            checks.append((ratio >= 1.0, "201 path ≥ 1.0x FastAPI", f"{ratio:.2f}x"))
        if bad:
            ratio = bad.requests_per_s / one.requests_per_s
            checks.append((ratio >= 1.0, "400 path ≥ 201 path", f"{ratio:.2f}x"))
    if new and gateway:
        share = gateway.requests_per_s / new.requests_per_s
        checks.append(
            (share >= 0.70, "200 ms gateway ≥ 70% of the outbox 200 path", f"{share:.0%}")
        )
    for result in (one64, new64):
        if result:
            name = f"{result.scenario}: p99 < 50 ms"
            checks.append((result.p99_ms < 50, name, f"{result.p99_ms:.1f} ms"))
    checks += _scale_out(results)
    errors = sum(r.errors for r in results if r.target.startswith("applytry"))
    checks.append((errors == 0, "no error under load", str(errors)))
    return [f"- {'met' if met else 'NOT met'}: {name}: {value}" for met, name, value in checks]


def _scale_out(results: list[Result]) -> list[tuple[bool, str, str]]:
    """PostgreSQL's targets: near the embedded SQLite at loopback, and at about 1 ms of round
    trip near its own loopback figures, with a short tail at 64 connections."""
    by = {(r.target, r.scenario): r for r in results}
    one, new, one64 = SCENARIOS[0].name, SCENARIOS[1].name, SCENARIOS[3].name
    far = any(r.rtt_ms is not None for r in results)
    near = "applytry, db direct" if far else "applytry"
    checks = []
    pg, sqlite = by.get((near, new)), by.get(("applytry, sqlite", new))
    if pg and sqlite:
        ratio = pg.requests_per_s / sqlite.requests_per_s
        checks.append((ratio >= 0.8, "PostgreSQL 200 path ≥ 0.8x SQLite", f"{ratio:.2f}x"))
    if not far:
        return checks
    for scenario, share in ((new, 0.70), (one, 0.80)):
        distant, direct = by.get(("applytry", scenario)), by.get((near, scenario))
        if distant and direct:
            kept = distant.requests_per_s / direct.requests_per_s
            name = f"{scenario} at +{distant.rtt_ms:g} ms ≥ {share:.0%} of direct"
            checks.append((kept >= share, name, f"{kept:.0%}"))
    distant = by.get(("applytry", one64))
    if distant:
        name = f"{one64} at +{distant.rtt_ms:g} ms: p99 < 100 ms"
        checks.append((distant.p99_ms < 100, name, f"{distant.p99_ms:.1f} ms"))
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s a scenario instead of 10")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument(
        "--only",
        action="append",
        help="run the scenarios whose name contains this (may be given more than once)",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        help="PostgreSQL this many ms of round trip away, through bench/delay_proxy.py",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="also measure this many applytry serve sharing the PostgreSQL database",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="runs of each target a scenario, the median counting (3; 1 with --quick)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (Debian: apt-get install wrk)")
    args.seconds = 3 if args.quick else 10
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.database_label = args.database
    if args.database != "postgresql" and (args.rtt_ms is not None or args.instances > 1):
        parser.error("--rtt-ms and --instances are for --database postgresql")
    if args.rtt_ms is not None and not 0 <= args.rtt_ms <= 100:
        parser.error("--rtt-ms within 0..100")
    if not 1 <= args.instances <= 4:
        parser.error("--instances within 1..4")
    if args.database == "sqlite":
        args.database_url = lambda workdir: f"sqlite:///{workdir / 'bench.db'}"

        def reset(workdir):
            for path in workdir.glob("bench.db*"):
                path.unlink()

        args.reset_database = reset
    else:
        import peewee

        admin_url = args.postgres
        address = urlsplit(admin_url)
        args.postgres_address = f"{address.hostname}:{address.port or 5432}"
        name = f"applytry_bench_{os.getpid()}"
        args.database_url = lambda workdir: admin_url.rsplit("/", 1)[0] + "/" + name

        def reset(workdir):
            parts = urlsplit(admin_url)
            admin = peewee.PostgresqlDatabase(
                parts.path.lstrip("/"), user=parts.username, host=parts.hostname, port=parts.port
            )
            admin.connect()
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute_sql(f'CREATE DATABASE "{name}"')
            admin.close()

        args.reset_database = reset

    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cpu = platform.processor() or platform.machine()
    machine = f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    document = {
        "machine": machine,
        "when": stamp,
        # The distance fields only where there was a distance: the same file as before without.
        "results": [
            {k: v for k, v in dataclasses.asdict(r).items() if v is not None} for r in results
        ],
    }
    where, name = args.database, args.database
    if args.rtt_ms is not None:
        trips = args.round_trips
        document["rtt_ms"] = args.rtt_ms
        document["select_1_ms"] = trips
        where += (
            f", through bench/delay_proxy.py at +{args.rtt_ms:g} ms (SELECT 1 takes"
            f" {trips['direct']:.2f} ms direct, {trips['proxy']:.2f} ms through the proxy,"
            f" {trips['proxy after']:.2f} ms after the run)"
        )
        name += f"-rtt{args.rtt_ms:g}ms"
    if args.instances > 1:
        name += f"-{args.instances}instances"
    (out / f"{name}.json").write_text(json.dumps(document, indent=2))
    table = f"Measured {stamp} on {machine}, {where}:\n\n{markdown(results)}\n"
    (out / f"{name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
