"""The ``applytry`` command: serve, migrate, and the operators' tools (access codes, retries of
account mail and provisioning, run-time settings)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import getpass
import importlib.metadata
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from applytry import logs
from applytry.config import ConfigError, Settings

log = logging.getLogger("applytry.cli")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from applytry.db.database import forget_connection

    problem = _room_for_connections(settings.max_connections)
    if problem:
        print(f"applytry: {problem}", file=sys.stderr)
        return 2
    # Migrate and create the secret once, before the workers start; they open their own
    # connections, so this one is not kept idle for the life of the service.
    _storage(settings)
    _warn_if_sessions_may_run_out(settings, args.workers)
    forget_connection()
    window = stop_window_s(settings)
    log.info("a stop waits up to %g s for requests in flight", window)
    with _metrics_folder(args.workers):
        uvicorn.run(
            "applytry.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # uvicorn's h11 protocol, not httptools: httptools drops the body of any request
            # that offers an h2c upgrade, as Java's HttpClient and `curl --http2` do by
            # default. The edge adds time limits, a bound on connections and strict framing
            # (applytry.edge).
            http="applytry.edge:EdgeProtocol",
            # uvicorn would take the client's address from X-Forwarded-For of any loopback
            # peer, before applytry.clients could ask whether APPLYTRY_TRUSTED_PROXIES wrote it.
            proxy_headers=False,
            log_config=logs.config(settings.log_level),
            access_log=False,  # applytry.requestlog writes one line a request, with its id
            timeout_graceful_shutdown=window,
        )
    return 0


# After the last gateway answers, a request still records the outcome (a statement that may
# wait APPLYTRY_DB_LOCK_TIMEOUT_S for a lock) and writes its reply.
STOP_MARGIN_S = 5.0


def stop_window_s(settings: Settings) -> float:
    """How long a stop waits for requests in flight before uvicorn cancels them. A cancelled
    request is a 500 even when its SMS went out, or its tenant was opened, so the window
    outlasts the longest outbound call a request awaits: the SMS gateway (generateverifycode),
    or the SMTP server and then the provisioning hook, one after the other (applyTenant).
    Outboxes are local files, and the hook is called only when it is configured."""
    sms = settings.sms_timeout_s if settings.sms_backend != "outbox" else 0.0
    mail = settings.smtp_timeout_s if settings.email_backend == "smtp" else 0.0
    hook = settings.provisioning_timeout_s if settings.provisioning_url else 0.0
    return max(sms, mail + hook) + settings.db_lock_timeout_s + STOP_MARGIN_S


# Descriptors a worker needs besides its clients' connections: the listening socket, the
# database, log and metrics files, the provisioning hook (64 cover them), and the SMS gateway's
# connection pool.
OTHER_FILES = 64


def _room_for_connections(max_connections: int) -> str | None:
    """Raises the open-file limit to the hard limit (the workers inherit it), and says what
    is wrong when APPLYTRY_MAX_CONNECTIONS would still not fit under it. Past the limit a
    worker can no longer accept connections, nor reach the SMS gateway or the database."""
    import resource

    from applytry.sms.http import IN_FLIGHT

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except (ValueError, OSError):
        pass  # an unlimited hard limit that the kernel caps lower: keep the soft one
    needed = max_connections + OTHER_FILES + IN_FLIGHT
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return None
    return (
        f"APPLYTRY_MAX_CONNECTIONS={max_connections} needs {needed} open files a worker, "
        f"with {OTHER_FILES + IN_FLIGHT} for the database, logs and gateways, but the limit "
        f"is {soft}: raise it (ulimit -n, systemd's LimitNOFILE) or set "
        f"APPLYTRY_MAX_CONNECTIONS to at most {max(soft - OTHER_FILES - IN_FLIGHT, 0)}"
    )


@contextlib.contextmanager
def _metrics_folder(workers: int) -> Iterator[None]:
    """Where several workers write their metrics, so that a scrape of any one adds them all
    up (applytry.metrics): a fresh folder in the temp directory, named in
    PROMETHEUS_MULTIPROC_DIR for the workers, which start as new interpreters and read it
    before they import prometheus_client, and removed when serve returns. One per run, not one
    fixed folder: two services on one host would share a fixed one, and each start would
    wipe the other's counters. One worker keeps its metrics in its own memory: this process
    has long imported prometheus_client (the command line and the logging set-up import
    applytry.metrics), too late to point it elsewhere. A folder the operator names is used as
    it is, emptied at start, and kept."""
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if chosen:
        # A restart must not add up the last run's counters.
        shutil.rmtree(chosen, ignore_errors=True)
        Path(chosen).mkdir(parents=True, exist_ok=True)
        yield
        return
    if workers == 1:
        yield
        return
    folder = tempfile.mkdtemp(prefix="applytry-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(folder, ignore_errors=True)


def migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from applytry.db.database import bind
    from applytry.db.migrations import migrate as apply_pending

    _reach(settings)
    with _unreachable_as_one_line(settings):
        bind(settings.database_url, settings.db_lock_timeout_s)
        applied = apply_pending()
    log.info("schema is current", extra={"applied": ",".join(applied) or "none"})
    return 0


def _warn_if_sessions_may_run_out(settings: Settings, workers: int) -> None:
    """PostgreSQL: says so when this serve alone may open more sessions than the server
    allows ordinary users; past that, requests answer 500 ("too many clients"). Other
    instances and clients need their share too, which only the operator knows."""
    from applytry.db.database import database, is_sqlite

    if is_sqlite():
        return
    most = workers * (settings.db_pool_size + 1)
    allowed, reserved = (
        int(database.execute_sql(f"SHOW {name}").fetchone()[0])
        for name in ("max_connections", "superuser_reserved_connections")
    )
    if most > allowed - reserved:
        log.warning(
            "%d workers x (APPLYTRY_DB_POOL_SIZE %d + 1) = %d sessions at most, more than the "
            "%d PostgreSQL allows (max_connections %d less %d reserved): lower the pool size "
            "or the workers, or raise max_connections",
            workers,
            settings.db_pool_size,
            most,
            allowed - reserved,
            allowed,
            reserved,
        )


def _storage(settings: Settings) -> bytes:
    from applytry.storage import prepare_storage

    _reach(settings)
    with _unreachable_as_one_line(settings):
        return prepare_storage(settings)


class DatabaseUnreachable(Exception):
    """The database cannot be opened: the operator's to fix, told in one line (exit 1)."""


def _reach(settings: Settings) -> None:
    """Connects once on a connection of its own, before anything else does, so that a
    database that cannot be reached fails here, in one line, and not in the middle of a
    migration (or through the reconnecting path, which would call it a lost connection)."""
    from applytry.db.database import open_database

    target = open_database(settings.database_url, settings.db_lock_timeout_s)
    with _unreachable_as_one_line(settings):
        target.connect()
    target.close()


@contextlib.contextmanager
def _unreachable_as_one_line(settings: Settings) -> Iterator[None]:
    """Turns a database that cannot be opened into DatabaseUnreachable, a message that names
    the variable and where it points, never the password. A database that answers but fails
    in a way nobody classified (a bug, a corrupt file) keeps its stack trace."""
    import peewee

    from applytry.db.database import BROKEN, UNREACHABLE, classify

    where = f"the database at {settings.database_where} (APPLYTRY_DATABASE_URL)"
    try:
        yield
    except OSError as exc:  # the SQLite file's folder, its lock file, or the secret beside it
        what = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        raise DatabaseUnreachable(f"cannot open {where}: {what}") from None
    except peewee.PeeweeException as exc:
        kind = classify(exc)
        if kind == BROKEN:
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        password = urlsplit(settings.database_url).password
        if password:
            reason = reason.replace(password, "***")
        if kind == UNREACHABLE:
            raise DatabaseUnreachable(f"cannot reach {where}: {reason}") from None
        raise DatabaseUnreachable(f"cannot use {where} ({kind}): {reason}") from None


def _applies_within(settings: Settings) -> str:
    return f"every instance applies it within {settings.settings_refresh_s:g} s"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def import_access_codes(settings: Settings, args: argparse.Namespace) -> int:
    from applytry import accesscodes

    try:
        if args.file == "-":  # a pipe: nothing is left behind in the folder it ran in
            lines = sys.stdin.buffer.read().decode("utf-8").splitlines()
        else:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"applytry: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    codes, errors = accesscodes.parse(lines)
    if errors:
        # All or nothing: a file with a typo is fixed and imported again, not half-loaded.
        print("applytry: nothing imported:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 2
    _storage(settings)
    report = accesscodes.import_codes(codes, time.time())
    print(f"imported {report.added} access codes; {report.already_there} were already there")
    return 0


def list_access_codes(settings: Settings, args: argparse.Namespace) -> int:
    from applytry import accesscodes

    _storage(settings)
    rows = accesscodes.pool()
    free = sum(row.tenant_id is None for row in rows)
    for row in rows:
        if row.tenant_id is None:
            print(f"{row.code}\tfree")
        elif not args.free:
            print(f"{row.code}\t{row.tenant_id}\t{_when(row.assigned_at)}")
    print(f"{free} free of {len(rows)}", file=sys.stderr)
    return 0


def retry_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """Runs the due jobs of one kind; exit 1 while any is still failing, for cron to notice."""
    from applytry import jobs
    from applytry.digests import Digests
    from applytry.services import build_runner

    runner, hook = build_runner(settings, Digests(_storage(settings)))
    if args.kind == jobs.PROVISION and hook is None:
        print("applytry: APPLYTRY_PROVISIONING_URL is not set", file=sys.stderr)
        return 2

    async def run() -> jobs.RunReport:
        try:
            return await runner.run_due(args.kind)
        finally:
            if hook is not None:
                await hook.aclose()

    report = asyncio.run(run())
    waiting = jobs.pending(args.kind)
    now = time.time()
    print(f"{args.kind}: {report.done} done, {report.failed} failed, {len(waiting)} pending")
    for job in waiting:
        where = "running elsewhere" if jobs.held(job, now) else f"next {_when(job.next_at)}"
        print(
            f"  {job.id} tenant {job.tenant_id}: {job.attempts} attempts, "
            f"{where}, last error: {job.last_error}"
        )
    # A job another runner (a service process, a cron elsewhere) holds right now is not known
    # to be failing: runners on every instance at once must not raise a false alarm.
    return 1 if any(not jobs.held(job, now) for job in waiting) else 0


def list_settings(settings: Settings, _args: argparse.Namespace) -> int:
    from applytry.thresholds import Thresholds

    _storage(settings)
    for name, (value, source) in Thresholds(settings).effective().items():
        print(f"{name}\t{value}\t({source})")
    return 0


def get_setting(settings: Settings, args: argparse.Namespace) -> int:
    from applytry.thresholds import Thresholds, UnknownSetting

    _storage(settings)
    try:
        print(Thresholds(settings).get(args.name))
    except UnknownSetting as exc:
        print(f"applytry: {exc}", file=sys.stderr)
        return 2
    return 0


def set_setting(settings: Settings, args: argparse.Namespace) -> int:
    from applytry import thresholds

    _storage(settings)
    try:
        thresholds.change(args.name, args.value, by=args.by, settings=settings)
    except (thresholds.UnknownSetting, ValueError) as exc:
        print(f"applytry: {args.name}: {exc}", file=sys.stderr)
        return 2
    shown = args.value if args.value is not None else "the environment's default"
    print(f"{args.name} set to {shown}; {_applies_within(settings)}")
    return 0


def change_rules(settings: Settings, args: argparse.Namespace) -> int:
    from applytry import rules

    _storage(settings)
    try:
        if args.action == "add":
            rules.add(args.kind, args.target, by=args.by)
        elif not rules.remove(args.kind, args.target):
            print(f"applytry: no {args.kind} entry for {args.target}", file=sys.stderr)
            return 1
    except ValueError as exc:
        print(f"applytry: {exc}", file=sys.stderr)
        return 2
    print(f"{args.action} {args.kind} {args.target}: {_applies_within(settings)}")
    return 0


def list_rules(settings: Settings, _args: argparse.Namespace) -> int:
    from applytry import rules

    _storage(settings)
    for rule in rules.listing():
        print(f"{rule.target}\t{rule.action}\t{rule.created_by}\t{_when(rule.created_at)}")
    return 0


def manage_keys(settings: Settings, args: argparse.Namespace) -> int:
    from applytry import keys
    from applytry.digests import Digests

    secret = _storage(settings)
    if args.action == "add":
        key = keys.create(Digests(secret), args.name, args.by)
        print(key)
        print("the key is shown only now; callers send it as X-APP-Key", file=sys.stderr)
        return 0
    if args.action == "revoke":
        if not keys.revoke(args.id):
            print(f"applytry: no live key {args.id}", file=sys.stderr)
            return 1
        print(
            f"revoked {args.id}; every instance refuses it within {settings.settings_refresh_s:g} s"
        )
        return 0
    for key in keys.listing():
        state = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "live"
        print(f"{key.id}\t{key.name}\t{key.created_by}\t{_when(key.created_at)}\t{state}")
    return 0


def run_purge(settings: Settings, args: argparse.Namespace) -> int:
    from applytry.retention import purge

    _storage(settings)
    days = args.retention_days or settings.retention_days
    report = purge(time.time(), days)
    print(f"removed {report} (older than {days} days)")
    return 0


def show_stats(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from applytry.stats import day_report, render
    from applytry.thresholds import Thresholds

    _storage(settings)
    if args.day:
        try:
            day = datetime.date.fromisoformat(args.day)
        except ValueError:
            print(f"applytry: --day {args.day!r} is not YYYY-MM-DD", file=sys.stderr)
            return 2
    else:
        day = datetime.datetime.now(settings.zone).date()
    report = day_report(day, settings, Thresholds(settings))
    print(json.dumps(report) if args.json else render(report))
    return 0


def setting_history(settings: Settings, _args: argparse.Namespace) -> int:
    from applytry.db.models import SettingChange

    _storage(settings)
    for change in SettingChange.select().order_by(SettingChange.changed_at, SettingChange.id):
        old = change.old_value or "(default)"
        new = change.new_value or "(default)"
        print(f"{_when(change.changed_at)}\t{change.changed_by}\t{change.name}\t{old} -> {new}")
    return 0


DESCRIPTION = """\
SMS-verified one-click trial sign-up, on the wire of Huawei Cloud CEC's applyTry interfaces.
`applytry serve` runs the HTTP service; the other commands are the operators' tools, run on
any host that reaches the service's database. Every command reads its configuration from the
APPLYTRY_* environment variables (README, "Configuration"); a bad one stops it with exit 2, a
database that cannot be reached with exit 1."""


def _version() -> str:
    try:
        return importlib.metadata.version("applytry")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def _command(group, name: str, text: str) -> argparse.ArgumentParser:
    """A command whose line in its group's list and whose own --help say the same."""
    return group.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".")


def _group(parser: argparse.ArgumentParser, dest: str = "action"):
    return parser.add_subparsers(dest=dest, required=True, metavar=dest.upper())


def parser() -> argparse.ArgumentParser:
    from applytry.jobs import MAIL, PROVISION
    from applytry.thresholds import TUNABLE

    root = argparse.ArgumentParser(
        prog="applytry",
        description=DESCRIPTION,
        epilog="`applytry COMMAND --help` tells a command's arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = _group(root, "command")
    run = _command(commands, "serve", "run the HTTP service (migrates the database first)")
    run.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    run.add_argument(
        "--port",
        type=_within(0, 65535),
        default=8080,
        help="the TCP port to listen on (default: 8080; 0 takes a free one, named in the "
        "log line 'Uvicorn running on ...')",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, about two per core; all share the database (default: 1)",
    )
    run.set_defaults(handler=serve)
    _command(commands, "migrate", "apply pending schema migrations").set_defaults(handler=migrate)

    pool = _command(commands, "access-codes", "the pool of trial access codes")
    pool_commands = _group(pool)
    load = _command(pool_commands, "import", "add the codes of FILE, one a line, all or none")
    load.add_argument("file", help="one code a line, # starts a comment; - reads standard input")
    load.set_defaults(handler=import_access_codes)
    show = _command(pool_commands, "list", "every code and the tenant holding it")
    show.add_argument("--free", action="store_true", help="only the codes still free")
    show.set_defaults(handler=list_access_codes)

    for kind, name, what in (
        (MAIL, "mail", "account mails"),
        (PROVISION, "provisioning", "provisioning hook calls"),
    ):
        group = _command(commands, name, f"{what} that failed")
        retry = _command(_group(group), "retry", f"send the {what} that are due again")
        retry.set_defaults(handler=retry_jobs, kind=kind)

    lists = _command(commands, "rules", "allow and deny lists of numbers, ranges, countries")
    list_commands = _group(lists)
    for action, what in (("add", "add an entry"), ("remove", "remove an entry")):
        entry = _command(list_commands, action, what)
        entry.add_argument(
            "kind",
            choices=("allow", "deny"),
            help="allow (skips the range caps, allowances and challenges) or deny (no SMS)",
        )
        entry.add_argument("target", help="+8613800138000, +86170 (a range) or CN")
        if action == "add":  # the entry keeps who added it; a removal keeps nothing
            entry.add_argument(
                "--by", default=getpass.getuser(), metavar="WHO", help="who adds it (kept)"
            )
        entry.set_defaults(handler=change_rules)
    _command(list_commands, "list", "every entry").set_defaults(handler=list_rules)

    cleanup = _command(commands, "purge", "remove verification data past its retention")
    cleanup.add_argument(
        "--retention-days",
        type=_within(1, 3650),
        help="instead of APPLYTRY_RETENTION_DAYS (1 to 3650)",
    )
    cleanup.set_defaults(handler=run_purge)
    numbers = _command(commands, "stats", "one day in numbers")
    numbers.add_argument("--day", help="YYYY-MM-DD in APPLYTRY_TIMEZONE; today by default")
    numbers.add_argument("--json", action="store_true", help="one JSON object")
    numbers.set_defaults(handler=show_stats)

    api_keys = _command(commands, "keys", "callers' API keys (X-APP-Key)")
    key_commands = _group(api_keys)
    make = _command(key_commands, "add", "make a key; from then on every call needs one")
    make.add_argument("name", help="whose key it is, e.g. the website")
    make.add_argument("--by", default=getpass.getuser(), metavar="WHO", help="who makes it (kept)")
    make.set_defaults(handler=manage_keys)
    end = _command(key_commands, "revoke", "stop a key working")
    end.add_argument("id", help="the id `keys list` shows")
    end.set_defaults(handler=manage_keys)
    _command(key_commands, "list", "every key, live or revoked").set_defaults(handler=manage_keys)

    tune = _command(commands, "settings", "thresholds changed at run time")
    tune_commands = _group(tune)
    _command(tune_commands, "list", "every threshold and its source").set_defaults(
        handler=list_settings
    )
    _command(tune_commands, "history", "who changed what, when").set_defaults(
        handler=setting_history
    )
    threshold = {"choices": TUNABLE, "metavar": "NAME", "help": ", ".join(TUNABLE)}
    get = _command(tune_commands, "get", "one threshold's value now")
    get.add_argument("name", **threshold)
    get.set_defaults(handler=get_setting)
    put = _command(tune_commands, "set", "store a value for every instance")
    put.add_argument("name", **threshold)
    put.add_argument("value", help="checked by the same rules as the environment's value")
    put.add_argument(
        "--by", default=getpass.getuser(), metavar="WHO", help="who changes it (audited)"
    )
    put.set_defaults(handler=set_setting)
    drop = _command(tune_commands, "unset", "back to the environment's default")
    drop.add_argument("name", **threshold)
    drop.add_argument(
        "--by", default=getpass.getuser(), metavar="WHO", help="who changes it (audited)"
    )
    drop.set_defaults(handler=set_setting, value=None)
    return root


def _within(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``, as the settings check it
    (``purge --retention-days -1`` would delete today's codes and budgets)."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return number


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"applytry: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, "stdout" if args.command == "serve" else "stderr")
    try:
        return args.handler(settings, args)
    except DatabaseUnreachable as exc:
        # Not a configuration error (2): the same settings may work once the server is up.
        print(f"applytry: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
