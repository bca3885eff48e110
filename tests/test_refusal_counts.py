"""Refusals counted while the database cannot take their write are kept, not lost: the next
flush once it is free brings them to the day's numbers that ``applytry stats`` shows."""

from __future__ import annotations

import datetime
import json
import logging

from applytry import limits
from applytry.db.models import Counter
from applytry.storage import prepare_storage
from applytry.tally import Tally
from conftest import another_writer_holds


def refused() -> dict[str, int]:
    rows = Counter.select().where(Counter.scope == limits.REFUSED_DAY.scope)
    return {row.key: row.count for row in rows}


def test_refusals_counted_while_another_writer_holds_the_database_reach_the_days_numbers(
    settings_for, database_url, clock, cli, caplog
):
    settings = settings_for(db_lock_timeout_s=0.2)
    prepare_storage(settings)
    tally = Tally(settings.zone)
    for reason in ("denied", "denied", "reputation-range"):
        tally.count(limits.REFUSED_DAY, reason, clock())
    caplog.set_level(logging.ERROR, logger="applytry.faults")

    with another_writer_holds(database_url, "LOCK TABLE counter IN ACCESS EXCLUSIVE MODE"):
        tally.flush()
    tally.count(limits.REFUSED_DAY, "denied", clock())  # counted while the write was refused

    [fault] = [record for record in caplog.records if record.name == "applytry.faults"]
    assert fault.getMessage().startswith(
        "could not write 2 counts; kept for later: database contention: "
    )
    assert refused() == {}
    tally.flush()
    assert refused() == {"denied": 3, "reputation-range": 1}

    day = datetime.datetime.fromtimestamp(clock.now, settings.zone).date().isoformat()
    report = cli("stats", "--day", day, "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["refused"] == {"denied": 3, "reputation-range": 1}
