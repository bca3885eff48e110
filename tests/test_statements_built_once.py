"""A hot statement (``applytry.db.compiled``) is built once per database it runs on, and
refuses what would make it run with the wrong values: a sentinel that is not exactly once in
the statement, or a call with too few or too many values."""

from __future__ import annotations

import pytest

from applytry.db.compiled import Compiled
from applytry.db.database import bind, database
from applytry.db.models import Counter

KEY, SCOPE = "\0key", "\0scope"


def _row(scope: str, key: str, count: int) -> None:
    Counter.insert(scope=scope, key=key, window=0, ends=1, count=count).execute()


def test_a_statement_is_built_once_per_database_and_anew_for_another(db, database_url):
    built = []

    def build(scope, key):
        built.append(scope)
        query = Counter.select(Counter.count).where((Counter.scope == scope) & (Counter.key == key))
        return query.order_by(Counter.count)

    counts = Compiled(build, SCOPE, KEY)
    _row("phone-hour", "a", 1)
    _row("phone-day", "a", 2)
    first = database.obj

    assert counts.execute("phone-hour", "a") == [(1,)]
    assert counts.execute("phone-day", "a") == [(2,)]
    assert len(built) == 1

    second = bind(database_url)  # as a new app in this process would
    assert counts.execute("phone-day", "a") == [(2,)]
    assert len(built) == 2
    assert counts.execute("phone-hour", "a") == [(1,)]
    assert len(built) == 2

    database.initialize(first)
    assert counts.execute("phone-hour", "a") == [(1,)]
    assert len(built) == 2
    second.close()


def test_a_statement_that_returns_no_rows_answers_an_empty_list(db):
    _row("phone-hour", "a", 1)
    bump = Compiled(
        lambda key: Counter.update(count=Counter.count + 1).where(Counter.key == key), KEY
    )
    assert bump.execute("a") == []
    assert Counter.get(Counter.key == "a").count == 2


@pytest.mark.parametrize("times", [0, 2])
def test_a_sentinel_not_exactly_once_in_the_statement_is_refused(db, times):
    def build(key):
        query = Counter.select(Counter.count)
        for _ in range(times):
            query = query.orwhere(Counter.key == key)
        return query

    with pytest.raises(ValueError, match="must appear exactly once"):
        Compiled(build, KEY).execute("a")


@pytest.mark.parametrize("values", [(), ("a", "b")])
def test_a_call_with_too_few_or_too_many_values_is_refused(db, values):
    _row("phone-hour", "a", 1)
    counts = Compiled(lambda key: Counter.select(Counter.count).where(Counter.key == key), KEY)
    with pytest.raises(ValueError):
        counts.execute(*values)
