"""Statements built once (``applytry.db.compiled``) against peewee running the same queries.

``Compiled`` swaps values into SQL that peewee built once; the oracle is peewee building and
running each query itself. One generated sequence of budget spends, counts, claims and reads is
played through both, on the same database emptied between them, and must give the same answers
and leave the same rows. A full SQLite database then proves that a failure while a statement's
rows are read is peewee's exception, which every handler of the service classifies.
"""

from __future__ import annotations

import zoneinfo

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import fn

from applytry import limits, pumping, verification
from applytry.db import compiled
from applytry.db.database import write_transaction
from applytry.db.models import Counter, Verification
from conftest import BACKEND

UTC = zoneinfo.ZoneInfo("UTC")
NOW = 1_790_000_000.0
BUDGETS = [limits.PHONE_HOUR, limits.PHONE_DAY, limits.SMS_DAY, pumping.ISSUED, pumping.USED]


def _stock(self, *values, flushed=True):
    """What peewee answers for the query built with the real values: its rows, or none where
    it answers a count or the new row's key (an INSERT or UPDATE that returns no rows).
    Always flushed: a commit that does not wait for the flush must answer the same."""
    result = self.build(*values).tuples().execute()
    if result is None or isinstance(result, int | tuple):
        return []
    return [tuple(row) for row in result]


spends = st.lists(
    st.tuples(
        st.sampled_from(range(len(BUDGETS))),
        st.sampled_from(["a", "b", "+8613800138000"]),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda spend: spend[0],  # a scope is limited at most once per statement
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("spend"), spends, st.integers(0, 7200)),
        st.tuples(st.just("add"), st.sampled_from(range(len(BUDGETS))), st.integers(1, 3)),
        st.tuples(st.just("claim"), st.sampled_from(["k1", "k2"]), st.integers(0, 200)),
        st.tuples(st.just("totals"), st.sampled_from(["a", "b"]), st.integers(0, 1200)),
        # The per-client budget: its own statement, outside a transaction, not flushed.
        st.tuples(st.just("admit"), st.sampled_from(["c1", "c2"]), st.integers(1, 3)),
    ),
    max_size=12,
)


def _play(sequence) -> list:
    answers = []
    for step in sequence:
        if step[0] == "spend":
            _, chosen, later = step
            wanted = [limits.Spend(BUDGETS[i], key, limit) for i, key, limit in chosen]
            with write_transaction():
                refused = limits.spend_all(wanted, NOW + later, UTC)
            answers.append(None if refused is None else (refused[0].budget.scope, refused[1]))
        elif step[0] == "add":
            _, i, times = step
            limits.count(BUDGETS[i], "a", NOW, UTC, times)
        elif step[0] == "claim":
            _, key, later = step
            now = NOW + later
            rows = verification._CLAIM.execute(
                key, "+86138****0000", "digest", f"m{later}", now, now + 300, now + 60, now
            )
            answers.append((rows, verification._RESEND_AT.execute(key)))
        elif step[0] == "admit":
            _, key, limit = step
            try:
                limits.admit_client(key, limit, NOW, UTC)
                answers.append("admitted")
            except limits.RateLimited as refused:
                answers.append(refused.retry_after)
        else:
            _, key, later = step
            answers.append(pumping._USED_SINCE.execute(key, NOW - later))
    counters = sorted(Counter.select().tuples())
    codes = sorted(Verification.select(Verification.phone_key, Verification.resend_at).tuples())
    return [answers, counters, codes]


def _empty() -> None:
    Counter.delete().execute()
    Verification.delete().execute()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sequence=steps)
def test_compiled_statements_answer_as_peewee_does(db, monkeypatch, sequence):
    _empty()
    fast = _play(sequence)
    _empty()
    with monkeypatch.context() as patched:
        patched.setattr(compiled.Compiled, "execute", _stock)
        stock = _play(sequence)
    assert fast == stock


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite steps a statement as it is read")
def test_a_failure_while_rows_are_read_is_peewees_exception(db):
    """SQLite computes a row only when it is read, so a statement can fail after ``execute``
    returned: here the second row's arithmetic overflows. It must reach the handlers as
    peewee's OperationalError (classified, counted, answered 003 or a 500 problem), not as
    sqlite3's own exception, which passes every one of them."""
    Counter.insert_many(
        [
            {"scope": "s", "key": "first", "window": 0, "ends": 1, "count": 0},
            {"scope": "s", "key": "second", "window": 0, "ends": 1, "count": -(2**63) + 1},
        ]
    ).execute()
    overflowing = compiled.Compiled(
        lambda minus: Counter.select(fn.abs(Counter.count - minus)),  # in rowid order
        -1_000_001,
    )
    with pytest.raises(peewee.OperationalError, match="overflow"):
        overflowing.execute(1)


@pytest.mark.skipif(BACKEND != "postgresql", reason="only PostgreSQL's commits wait for a flush")
def test_a_transaction_that_only_counts_commits_without_waiting_and_only_it(db):
    """``not_flushed`` turns the wait off for its own transaction (the refusal tallies'),
    never for the connection: the next transaction, which may store a code, waits again."""
    target = compiled.database.obj
    with write_transaction():
        compiled.not_flushed()
        limits.count(limits.REFUSED_DAY, "resend-interval", NOW, UTC)
        inside = target.execute_sql("SHOW synchronous_commit").fetchone()[0]
    with write_transaction():
        after = target.execute_sql("SHOW synchronous_commit").fetchone()[0]
    assert (inside, after) == ("off", "on")
    assert Counter.get(scope=limits.REFUSED_DAY.scope).count == 1
