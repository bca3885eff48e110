"""The PostgreSQL hot paths sent in one round trip (``applytry.db.compiled.at_once``) against
the stepwise transactions they replace.

The reservation of a code (claim the phone's row, spend every budget, record the SMS) and the
per-client admission with its read run as one multi-statement simple query, which PostgreSQL
runs as one implicit transaction; a step that returns other than its rows rolls it all back
and the service falls back to the stepwise transaction, which decides why. The oracle is that
stepwise path itself, forced by making the module believe it runs on SQLite: one generated
sequence is played through both, on the same database emptied between, and must give the same
answers and leave the same rows. Then the faults: a refusal or a failure midway leaves
nothing behind, a DataError that is no refusal stays one, a killed session costs one more try
and no double count, a row held by another session is contention; and the round trips counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import zoneinfo

import peewee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applytry import limits, verification
from applytry.db import compiled
from applytry.db.database import CONTENTION, classify, database
from applytry.db.models import Counter, SmsMessage, Verification
from applytry.phones import parse_phone
from applytry.pumping import Screening
from applytry.services import build_services
from applytry.storage import prepare_storage
from conftest import BACKEND, postgres_session, wait_until

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="PostgreSQL only: one round trip is its multi-statement query (at_once)",
)

UTC = zoneinfo.ZoneInfo("UTC")
NOW = 1_790_000_000.0  # 800 s into an hour (UTC)
CODE = "123456"
LOST = "database connection lost, once more on another"
# One country: two phones of one prefix, a third of another prefix in their reputation range,
# and one of another range.
PHONES = [
    parse_phone(raw, ("CN",))
    for raw in ("13800138000", "13800138001", "13801234567", "13912345678")
]
# No threshold is re-read from the database during a test: a read would be a round trip more.
STEADY = {"settings_refresh_s": 60, "db_lock_timeout_s": 0.3}


def _message_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def services_for(settings_for):
    """The services as the app builds them (build_services), over this test's database, bound
    and migrated in this process with a short lock timeout."""
    prepare_storage(settings_for(**STEADY))
    built = []

    def build(**thresholds):
        given_settings = settings_for(**STEADY, **thresholds)
        services = build_services(given_settings, given_settings.resolve_secret())
        built.append(services)
        return services

    yield build
    for services in built:
        asyncio.run(services.aclose())


def _key(services, phone) -> str:
    return services.issuer.digests.phone(phone.e164)


def _reserve(services, phone, now, message_id, allowed=False, solved=False):
    """A reservation as issuing makes one past the screening: None (reserved) or the Outcome
    that refused it. The code and message id are fixed, so two plays store the same rows."""
    issuer = services.issuer
    key = _key(services, phone)
    policy = issuer.thresholds.get("challenge_policy")
    screening = Screening(allowed=allowed)
    request = verification._Request(phone, key, now, policy, len(CODE))
    # What its cached properties would make at random, fixed.
    request.__dict__.update(code=CODE, message_id=message_id)
    return issuer._reserve_unless_refused(request, screening, solved)


def _rows() -> list:
    """Every row the reservations and admissions touch, all columns."""
    return [
        sorted(Verification.select().tuples()),
        sorted(Counter.select().tuples()),
        sorted(SmsMessage.select().tuples(), key=repr),  # None in some columns
    ]


def _empty() -> None:
    for model in (SmsMessage, Verification, Counter):
        model.delete().execute()


@contextlib.contextmanager
def _watching_at_once(monkeypatch, before=None):
    """Records what each at_once call did: "done", the step it refused, or the exception it
    raised. ``before(steps)`` runs ahead of the real call (to kill the session, say)."""
    real = compiled.at_once
    calls: list = []

    def watched(steps, **kwargs):
        if before is not None:
            before(steps)
        try:
            rows = real(steps, **kwargs)
        except compiled.Refused as refused:
            calls.append(("refused", refused.step, _rows()))  # before any fallback runs
            raise
        except Exception as exc:
            calls.append(("failed", exc))
            raise
        calls.append(("done",))
        return rows

    with monkeypatch.context() as patched:
        patched.setattr(compiled, "at_once", watched)  # verification calls compiled.at_once
        patched.setattr(limits, "at_once", watched)  # limits imported the name
        yield calls


@contextlib.contextmanager
def _stepwise(monkeypatch):
    """The oracle: the stepwise transactions that SQLite runs, here on PostgreSQL."""
    with monkeypatch.context() as patched:
        patched.setattr(verification, "is_sqlite", lambda: True)
        patched.setattr(limits, "is_sqlite", lambda: True)
        yield


class _CountingCursor:
    """A cursor that notes each statement sent on it: BEGIN and COMMIT included, since peewee
    sends those on a cursor too."""

    def __init__(self, cursor, sent: list):
        self._cursor, self._sent = cursor, sent

    def execute(self, sql, params=()):
        self._sent.append(sql)
        return self._cursor.execute(sql, params)

    def __iter__(self):
        return iter(self._cursor)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@contextlib.contextmanager
def _counting_statements(monkeypatch):
    target = database.obj
    real = target.cursor
    sent: list[str] = []
    with monkeypatch.context() as patched:
        patched.setattr(target, "cursor", lambda *a, **k: _CountingCursor(real(*a, **k), sent))
        yield sent


# --- differential: one round trip against the stepwise oracle ------------------------------

thresholds = st.fixed_dictionaries(
    {
        # 0: refused before any statement, both ways.
        "sms_daily_limit": st.sampled_from([0, 2, 5, 100]),
        "phone_hourly_limit": st.integers(1, 3),
        "phone_daily_limit": st.integers(1, 4),
        "prefix_hourly_limit": st.integers(1, 4),
        "prefix_daily_limit": st.integers(1, 6),
        "conversion_min_percent": st.sampled_from([0, 20, 20]),  # 0: no allowances at all
        "conversion_prefix_volume": st.integers(1, 2),
        "conversion_country_volume": st.integers(1, 4),
        "challenge_policy": st.sampled_from(["off", "adaptive", "adaptive"]),
    }
)
sometimes = st.sampled_from([False, False, False, True])
reservations = st.lists(
    st.tuples(
        st.sampled_from(range(len(PHONES))),
        # Seconds after the previous request: inside the resend interval (60 s), just past
        # it, and an hour on (a new hourly window; at 2800 s, since NOW, a new hour).
        st.sampled_from([0, 1, 30, 59, 60, 61, 3600]),
        sometimes,  # an operator's allow entry: no range caps, no allowances
        sometimes,  # a solved challenge: allowances without limit
    ),
    min_size=1,
    max_size=10,
)


def _play_reservations(build, limits_given, sequence) -> list:
    services = build(**limits_given)
    now, outcomes = NOW, []
    for n, (phone, later, allowed, solved) in enumerate(sequence):
        now += later
        outcomes.append(_reserve(services, PHONES[phone], now, _message_id(n), allowed, solved))
    services.tally.flush()  # the refusals by reason, into counter rows
    return [outcomes, *_rows()]


def test_reservations_in_one_round_trip_answer_as_the_stepwise_ones(services_for, monkeypatch):
    seen: collections.Counter = collections.Counter()

    @settings(max_examples=80, deadline=None, derandomize=True, database=None)
    @given(limits_given=thresholds, sequence=reservations)
    def both_ways(limits_given, sequence):
        _empty()
        with _watching_at_once(monkeypatch) as calls:
            fast = _play_reservations(services_for, limits_given, sequence)
        _empty()
        with _stepwise(monkeypatch), _watching_at_once(monkeypatch) as oracle_calls:
            stepwise = _play_reservations(services_for, limits_given, sequence)
        assert oracle_calls == [], "the oracle must not take the one-round-trip path"
        assert fast == stepwise
        seen.update(call[:2] for call in calls)
        for outcome in fast[0]:
            seen[None if outcome is None else (outcome.ret_code, outcome.challenge_required)] += 1

    both_ways()
    # The plays must have met every path; else the equality above proves little.
    assert seen[("done",)] and seen[None], seen
    assert seen[("refused", 0)], f"no claim refused inside its resend interval: {seen}"
    assert seen[("refused", 1)], f"no budget refused in the round trip: {seen}"
    assert seen[("205", False)] and seen[("201", False)] and seen[("201", True)], seen


admissions = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.integers(0, 3),  # the limit; 0 is refused before any statement, both ways
        st.sampled_from([0, 1, 30, 59, 60, 61]),  # seconds after the previous one
        st.sampled_from([None, "k1", "k2"]),  # the read after: a code's resend_at, or none
    ),
    min_size=1,
    max_size=12,
)


def _play_admissions(sequence) -> list:
    # k1 holds a code; k2 none: the read answers a row or nothing.
    verification._CLAIM.execute("k1", "+86138****0000", "d", "m", NOW, NOW + 300, NOW + 60, NOW)
    now, answers = NOW - NOW % 60 + 17, []
    for client, limit, later, read in sequence:
        now += later
        then = None if read is None else (verification._RESEND_AT, (read,))
        try:
            answers.append(limits.admit_client(client, limit, now, UTC, then=then))
        except limits.RateLimited as refused:
            answers.append(("429", refused.retry_after))
    return [answers, *_rows()]


def test_admissions_in_one_round_trip_answer_as_the_stepwise_ones(services_for, monkeypatch):
    services_for()  # binds the database
    seen: collections.Counter = collections.Counter()

    @settings(max_examples=50, deadline=None, derandomize=True, database=None)
    @given(sequence=admissions)
    def both_ways(sequence):
        _empty()
        with _watching_at_once(monkeypatch) as calls:
            fast = _play_admissions(sequence)
        _empty()
        with _stepwise(monkeypatch), _watching_at_once(monkeypatch) as oracle_calls:
            stepwise = _play_admissions(sequence)
        assert oracle_calls == []
        assert fast == stepwise
        seen.update(call[:2] for call in calls)
        seen.update(
            "refused" if isinstance(answer, tuple) else "rows" if answer else "none"
            for answer in fast[0]
        )

    both_ways()
    assert seen[("done",)] and seen[("refused", 0)], seen
    assert seen["rows"] and seen["none"] and seen["refused"], seen


# --- faults ---------------------------------------------------------------------------------


def test_a_claim_refused_in_the_round_trip_spends_no_budget(services_for, monkeypatch):
    """Inside its resend interval the phone's claim (the first step) is refused while every
    budget has room: the round trip must leave every counter as it was. With the claim and the
    spend run as separate commits, the counters would be one up."""
    services = services_for()
    phone = PHONES[0]
    assert _reserve(services, phone, NOW, _message_id(1)) is None
    before = _rows()

    with _watching_at_once(monkeypatch) as calls:
        outcome = _reserve(services, phone, NOW + 10, _message_id(2))

    assert outcome == verification.Outcome("201", 50)
    [(what, step, right_after)] = calls
    assert (what, step) == ("refused", 0)
    assert right_after == before
    assert _rows() == before


def test_a_budget_refused_in_the_round_trip_undoes_the_claim_before_it(services_for, monkeypatch):
    """The day's SMS budget is spent: the claim (step 0) succeeds inside the server, the spend
    (step 1) is refused, and right after the round trip, before the stepwise fallback runs, the
    phone must have no code: the whole query rolled back, not just the failing statement."""
    services = services_for(sms_daily_limit=1)
    assert _reserve(services, PHONES[3], NOW, _message_id(1)) is None
    before = _rows()

    with _watching_at_once(monkeypatch) as calls:
        outcome = _reserve(services, PHONES[0], NOW + 1, _message_id(2))

    assert outcome == verification.Outcome("205")
    [(what, step, right_after)] = calls
    assert (what, step) == ("refused", 1)
    assert right_after == before
    assert _rows() == before


def test_a_later_step_refused_rolls_back_the_writes_before_it(services_for):
    """at_once itself: budgets spent first, then a claim refused inside the resend interval;
    the spend must not survive the refusal."""
    services_for()
    key = "k1"
    verification._CLAIM.execute(key, "+86138****0000", "d", "m", NOW, NOW + 300, NOW + 60, NOW)
    before = _rows()
    spends = [limits.Spend(limits.PHONE_HOUR, key, 5), limits.Spend(limits.SMS_DAY, "*", None)]
    spending, values = limits.spending(spends, NOW + 10, UTC)
    claim = (key, "+86138****0000", "d2", "m2", NOW + 10, NOW + 310, NOW + 70, NOW + 10)

    with pytest.raises(compiled.Refused) as refused:
        compiled.at_once([(spending, values, len(spends)), (verification._CLAIM, claim, 1)])

    assert refused.value.step == 1
    assert _rows() == before


@pytest.mark.parametrize("rows", [1, None], ids=["counted-step", "uncounted-step"])
def test_a_data_error_that_is_no_refusal_is_raised_as_one(services_for, rows):
    """A real invalid value (text where a number goes) fails with SQLSTATE 22P02, the same as
    a refusing step's cast: it must reach the caller as peewee's DataError, not as Refused,
    which would send the reservation to its fallback and hide the fault. Nothing is done."""
    services_for()
    before = _rows()
    spends = [limits.Spend(limits.PHONE_HOUR, "k1", 5)]
    spending, values = limits.spending(spends, NOW, UTC)
    claim = ("k1", "+86138****0000", "d", "m", "not a number", NOW + 300, NOW + 60, NOW)

    with pytest.raises(peewee.DataError, match="not a number") as raised:
        compiled.at_once([(spending, values, len(spends)), (verification._CLAIM, claim, rows)])

    assert not isinstance(raised.value, compiled.Refused)
    # Read on the same connection: it is idle again, not left in a failed transaction.
    assert _rows() == before


def _killer(database_url):
    """Kills this process's session (as an operator's pg_terminate_backend would) once, just
    before the first at_once call, and waits until it is gone."""
    killed = []

    def kill(_steps):
        if killed:
            return
        pid = database.obj.connection().get_backend_pid()
        other = postgres_session(database_url)
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
                assert cursor.fetchone() == (True,)

            def gone():
                with other.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                    return cursor.fetchone() == (0,)

            wait_until(gone, "the killed session to end")
        finally:
            other.close()
        killed.append(pid)

    return kill, killed


def test_a_reservation_after_a_killed_session_runs_once_on_a_new_one(
    services_for, database_url, monkeypatch, caplog
):
    """The round trip meets the dead connection, and is sent once more on a new one: one code,
    each budget counted once, one SMS row. Not sent again, the request would fail; run twice
    on the server, it would count twice, or be refused by its own claim."""
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    services = services_for()
    phone = PHONES[0]
    assert _reserve(services, PHONES[3], NOW, _message_id(1)) is None  # the session is open
    kill, killed = _killer(database_url)

    with (
        _watching_at_once(monkeypatch, before=kill) as calls,
        _counting_statements(monkeypatch) as sent,
    ):
        outcome = _reserve(services, phone, NOW + 1, _message_id(2))

    assert outcome is None
    assert killed and database.obj.connection().get_backend_pid() != killed[0]
    assert calls[-1] == ("done",)
    # Sent on the dead connection, then once on the new one.
    assert len([sql for sql in sent if compiled._REFUSAL in sql]) == 2, sent
    key = _key(services, phone)
    assert Verification.get_by_id(key).message_id == _message_id(2)
    counts = dict(Counter.select(Counter.scope, Counter.count).where(Counter.key == key).tuples())
    assert counts == {limits.PHONE_HOUR.scope: 1, limits.PHONE_DAY.scope: 1}
    [sms_day] = Counter.select().where(Counter.scope == limits.SMS_DAY.scope)
    assert sms_day.count == 2
    assert SmsMessage.select().where(SmsMessage.phone_key == key).count() == 1
    assert len([r for r in caplog.records if LOST in r.getMessage()]) == 1


def test_an_admission_after_a_killed_session_counts_once(
    services_for, database_url, monkeypatch, caplog
):
    """The admission has no outer retry: its round trip alone must find a new connection, and
    count the client once, and still answer the read."""
    caplog.set_level(logging.WARNING, logger="applytry.db.database")
    services_for()
    verification._CLAIM.execute("k1", "+86138****0000", "d", "m", NOW, NOW + 300, NOW + 60, NOW)
    kill, killed = _killer(database_url)

    with _watching_at_once(monkeypatch, before=kill) as calls:
        rows = limits.admit_client("c1", 5, NOW, UTC, then=(verification._RESEND_AT, ("k1",)))

    assert killed and calls[-1] == ("done",)
    assert rows == [(NOW + 60,)]
    [counted] = Counter.select().where(Counter.scope == limits.CLIENT_MINUTE.scope)
    assert counted.count == 1
    assert len([r for r in caplog.records if LOST in r.getMessage()]) == 1


def test_a_held_sms_day_row_is_contention_and_leaves_nothing(
    services_for, database_url, monkeypatch
):
    """Another session holds the day's SMS counter row (its transaction open): the round trip
    waits at the spend, past the claim it made, until the lock timeout; the failure must be
    contention (answered 005 and retried, not a 500), must not be taken for a refusal (no
    stepwise fallback, which would wait as long again), and must leave no claim behind."""
    services = services_for()
    assert _reserve(services, PHONES[3], NOW, _message_id(1)) is None  # the sms-day row
    before = _rows()
    other = postgres_session(database_url, autocommit=False)
    try:
        with other.cursor() as cursor:  # psycopg2 sends the BEGIN first
            cursor.execute("UPDATE counter SET count = count WHERE scope = 'sms-day'")
            assert cursor.rowcount == 1
        with (
            _watching_at_once(monkeypatch) as calls,
            pytest.raises(peewee.OperationalError) as raised,
        ):
            _reserve(services, PHONES[0], NOW + 1, _message_id(2))
    finally:
        other.rollback()
        other.close()

    assert classify(raised.value) == CONTENTION
    [(what, failed)] = calls
    assert what == "failed" and failed is raised.value
    assert _rows() == before
    # The session is usable at once, and the phone is not held by a half-made reservation.
    assert _reserve(services, PHONES[0], NOW + 2, _message_id(3)) is None
    [sms_day] = Counter.select().where(Counter.scope == limits.SMS_DAY.scope)
    assert sms_day.count == 2


# --- round trips ----------------------------------------------------------------------------


def _statements_of_the_reservation(services, monkeypatch, phone, now, n) -> list[str]:
    """The statements sent while the issuer's _reserve runs (the guard's reads before it are
    not the reservation's)."""
    issuer = services.issuer
    real = issuer._reserve
    with _counting_statements(monkeypatch) as sent:
        inside: list[str] = []

        def reserving(*args, **kwargs):
            start = len(sent)
            try:
                return real(*args, **kwargs)
            finally:
                inside.extend(sent[start:])

        with monkeypatch.context() as patched:
            patched.setattr(issuer, "_reserve", reserving)
            assert _reserve(services, phone, now, _message_id(n)) is None
    return inside


def test_a_reservation_is_one_statement(services_for, monkeypatch):
    services = services_for()
    # Thresholds read and the session opened beforehand, as on a worker that has served.
    assert _reserve(services, PHONES[3], NOW, _message_id(1)) is None

    one = _statements_of_the_reservation(services, monkeypatch, PHONES[0], NOW + 1, 2)
    with _stepwise(monkeypatch):
        stepwise = _statements_of_the_reservation(services, monkeypatch, PHONES[1], NOW + 2, 3)

    assert len(one) == 1, one
    # The count sees each statement: the stepwise transaction is BEGIN, claim, spend, record,
    # COMMIT.
    assert len(stepwise) >= 4, stepwise


@pytest.mark.parametrize("read", [True, False], ids=["with-then", "without-then"])
def test_an_admission_is_one_statement(services_for, monkeypatch, read):
    services_for()
    verification._CLAIM.execute("k1", "+86138****0000", "d", "m", NOW, NOW + 300, NOW + 60, NOW)
    then = (verification._RESEND_AT, ("k1",)) if read else None

    with _counting_statements(monkeypatch) as one:
        rows = limits.admit_client("c1", 5, NOW, UTC, then=then)
    with _stepwise(monkeypatch), _counting_statements(monkeypatch) as stepwise:
        assert limits.admit_client("c1", 5, NOW, UTC, then=then) == rows

    assert rows == ([(NOW + 60,)] if read else [])
    assert len(one) == 1, one
    assert len(stepwise) == (2 if read else 1), stepwise  # the spend, then the read
