"""Reputation allowances against SMS pumping, without collateral damage: a number range earns
its codes by using them, a burst over fresh ranges is held by the country's fresh budget while
ranges with real users keep flowing, and a request past an allowance is asked for a challenge
(by ``challenge_policy``) instead of being sent an SMS. Requests in flight never overshoot."""

from __future__ import annotations

import asyncio
import base64
import json

import altcha
import httpx
import pytest
from test_concurrency import burst, phones

from applytry import limits, rules, thresholds
from applytry.db.database import write_transaction
from applytry.db.models import Counter
from applytry.phones import parse_phone
from applytry.pumping import Guard
from applytry.rules import Rules
from applytry.tally import Tally
from applytry.thresholds import Thresholds
from conftest import GENERATE, apply_tenant, counted_refusals, load_access_codes

CHALLENGE = "Complete the challenge, then ask for the code again."
CREATE_CHALLENGE = "/apiaccess/rest/ipccprovision/v1/applyTry/challenge"
EASY = {"challenge_min_number": 1000, "challenge_max_number": 8000}  # solved in milliseconds
# The clock fixture's instant is 800 s into a fixed one-hour window.
WINDOW_LEFT = "2800"


def ask(client, phone: str, challenge: str | None = None, **headers):
    body = {"phone": phone} if challenge is None else {"phone": phone, "challenge": challenge}
    return client.post(GENERATE, json=body, headers=headers)


def answer(response) -> tuple[str, str | None, bool | None]:
    """retCode, Retry-After and challengeRequired (None when absent)."""
    assert response.status_code == 200, response.text
    body = response.json()
    return body["retCode"], response.headers.get("retry-after"), body.get("challengeRequired")


SENT = ("200", None, None)
CHALLENGED = ("201", WINDOW_LEFT, True)


def numbers(prefix: str, count: int) -> list[str]:
    """``count`` mobile numbers of one range, e.g. numbers("+86170", 3)."""
    return [f"{prefix}{n:0{14 - len(prefix)}d}" for n in range(count)]


def use(client, outbox, number: str) -> None:
    """applyTenant with the code the number got: one code used for its range."""
    company, email = f"Company {number[1:]}", f"m{number[1:]}@example.com"
    reply = apply_tenant(client, number, outbox.code_for(number), company, email)
    assert reply.json()["returnCode"] == "000", reply.text


def challenge(client, phone: str) -> dict:
    reply = client.post(CREATE_CHALLENGE, json={"phone": phone})
    assert reply.status_code == 200, reply.text
    return reply.json()


def solve(body: dict) -> str:
    """What the ALTCHA widget sends: base64 of the challenge with the number found."""
    found = altcha.solve_challenge_v1(body["challenge"], body["salt"], "SHA-256", body["maxnumber"])
    fields = {name: body[name] for name in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**fields, "number": found.number}).encode()).decode()


def test_a_fresh_range_gets_its_allowance_then_a_challenge_and_no_sms(client_for, outbox):
    client = client_for(conversion_prefix_volume=3)
    fresh = numbers("+86170", 4)

    assert [answer(ask(client, number)) for number in fresh[:3]] == [SENT] * 3
    reply = ask(client, fresh[3])

    assert answer(reply) == CHALLENGED
    assert reply.json()["retMsg"] == CHALLENGE
    assert ask(client, fresh[3], **{"Accept-Language": "zh"}).json()["retMsg"] == (
        "请完成验证后重新获取验证码。"
    )
    assert answer(ask(client, "+8613900139000")) == SENT  # another range of the country
    assert [sms["to"] for sms in outbox.messages()] == [*fresh[:3], "+8613900139000"]
    assert counted_refusals({"reputation-range": 2}) == {"reputation-range": 2}


@pytest.mark.parametrize(("min_percent", "per_use"), [(20, 5), (30, 3)])
def test_each_code_used_raises_the_range_allowance_by_100_over_the_minimum_share(
    client_for, outbox, min_percent, per_use
):
    client = client_for(conversion_prefix_volume=2, conversion_min_percent=min_percent)
    load_access_codes("95555001")
    batch = numbers("+86170", 2 + per_use + 1)
    assert [answer(ask(client, number)) for number in batch[:3]] == [SENT, SENT, CHALLENGED]

    use(client, outbox, batch[0])

    answers = [answer(ask(client, number)) for number in batch[2:]]
    assert answers == [SENT] * per_use + [CHALLENGED]


def test_a_burst_over_fresh_ranges_spends_the_country_budget_while_a_proven_range_flows(
    client_for, outbox
):
    client = client_for(conversion_prefix_volume=3, conversion_country_volume=4)
    load_access_codes("95555001")
    proven = numbers("+86139", 8)
    assert answer(ask(client, proven[0])) == SENT
    use(client, outbox, proven[0])  # +86139 now has a code used: 3 + 5 codes an hour

    # One code to each of many fresh ranges: each is within its own allowance, but together
    # they spend the country's fresh budget (the proven range's first code took one).
    burst = [f"+86{prefix}00000000" for prefix in ("150", "151", "152", "153", "155")]
    assert [answer(ask(client, number)) for number in burst] == [SENT] * 3 + [CHALLENGED] * 2

    assert [answer(ask(client, number)) for number in proven[1:]] == [SENT] * 7
    assert answer(ask(client, "+8613988888888")) == CHALLENGED  # its own allowance, spent
    assert counted_refusals({"reputation-country": 2, "reputation-range": 1}) == {
        "reputation-country": 2,
        "reputation-range": 1,
    }


def test_a_use_counts_for_the_last_window_and_leaves_with_its_ten_minutes(
    client_for, outbox, clock
):
    client = client_for(conversion_prefix_volume=1, conversion_window_s=1800)
    load_access_codes("95555001")
    start = clock.now - clock.now % 1800  # an allowance window starts here
    batch = numbers("+86170", 6)
    clock.now = start + 1200
    assert answer(ask(client, batch[0])) == SENT
    clock.now = start + 1300
    use(client, outbox, batch[0])  # in the bucket [1200, 1800): 1 + 5 codes while counted

    clock.now = start + 1800  # the next allowance window, with the use in its history
    assert [answer(ask(client, number)) for number in batch[1:4]] == [SENT] * 3
    clock.now = start + 2999  # the last second the use is within the last 1800 s
    assert answer(ask(client, batch[4])) == SENT
    clock.now = start + 3000  # a fresh range again, four codes past its one
    assert answer(ask(client, batch[5])) == ("201", "600", True)
    used = {row.key: row.count for row in Counter.select().where(Counter.scope == "used-10m")}
    assert used == {"range:+86170": 1, "country:CN": 1}


def test_no_minimum_share_turns_the_allowances_off(client_for, outbox):
    client = client_for(
        conversion_min_percent=0, conversion_prefix_volume=1, conversion_country_volume=1
    )

    assert [answer(ask(client, number)) for number in numbers("+86170", 3)] == [SENT] * 3
    assert answer(ask(client, "+8613900139000")) == SENT  # a second fresh range
    assert challenge(client, "+8617000000009")["maxnumber"] == 20000  # nothing is suspicious


def test_policy_off_answers_a_plain_201(client_for, outbox):
    client = client_for(conversion_prefix_volume=1, challenge_policy="off")
    fresh = numbers("+86170", 2)
    assert answer(ask(client, fresh[0])) == SENT

    reply = ask(client, fresh[1])

    assert answer(reply) == ("201", WINDOW_LEFT, None)
    assert reply.json()["retMsg"] == "The verification code already exists. Send it later."
    assert len(outbox.messages()) == 1
    assert counted_refusals({"reputation-range": 1}) == {"reputation-range": 1}


def test_policy_always_asks_every_request_for_a_challenge_but_allowed_and_test_numbers(
    client_for, outbox
):
    client = client_for(settings_refresh_s=0, test_numbers="+8613800000000:246810")
    rules.add(rules.ALLOW, "+8617000000001", by="test")
    rules.add(rules.DENY, "+86171", by="test")
    assert answer(ask(client, "+8613900139000")) == SENT
    thresholds.change("challenge_policy", "always", by="test")  # at run time

    assert answer(ask(client, "+8613900139001")) == ("201", "60", True)  # the resend interval
    assert answer(ask(client, "+8617000000001")) == SENT  # allowed
    assert answer(ask(client, "+8617100000000")) == ("201", "3600", None)  # denied: no use
    assert answer(ask(client, "+8613800000000")) == SENT  # a test number, no SMS
    assert [sms["to"] for sms in outbox.messages()] == ["+8613900139000", "+8617000000001"]
    assert counted_refusals({"challenge-required": 1, "denied": 1}) == {
        "challenge-required": 1,
        "denied": 1,
    }


def test_allowed_numbers_spend_no_allowance_of_their_range_or_country(client_for, outbox):
    client = client_for(
        conversion_prefix_volume=1, conversion_country_volume=2, settings_refresh_s=0
    )
    rules.add(rules.ALLOW, "+861700000", by="test")
    allowed = numbers("+861700000", 5)
    others = numbers("+861709999", 2)

    assert [answer(ask(client, number)) for number in allowed] == [SENT] * 5
    # The range and the country have their whole allowances left for everyone else.
    assert [answer(ask(client, number)) for number in others] == [SENT, CHALLENGED]
    assert answer(ask(client, "+8613900139000")) == SENT  # the country's second fresh code
    assert answer(ask(client, "+8615000150000")) == CHALLENGED


def test_suspicion_rises_from_0_to_1_as_a_range_goes_past_its_allowance(settings_for, db, clock):
    settings = settings_for(conversion_prefix_volume=2, conversion_country_volume=4)
    guard = Guard(settings, Thresholds(settings), Rules(0), Tally(settings.zone))
    fresh = parse_phone("+8617000000000", ("CN",))
    other = parse_phone("+8613900000000", ("CN",))

    def issue(phone, times: int) -> None:
        """Codes sent past every allowance, as after solved challenges."""
        for _ in range(times):
            with write_transaction():
                spends = guard.spends(phone, clock.now, allowed=False, solved=True)
                assert limits.spend_all(spends, clock.now, settings.zone) is None

    levels = []
    for times in (0, 2, 2, 1, 3, 2):  # 0, 2, 4, 5, 8 and 10 codes: the allowance is 2
        issue(fresh, times)
        levels.append(round(guard.suspicion(fresh, clock.now), 3))
    assert levels == [0, 0, 0.333, 0.5, 1, 1]

    # Another fresh range of the country: its own allowance is whole, but the country's
    # fresh budget (4) took all ten codes.
    assert guard.suspicion(other, clock.now) == 0.5
    guard.used(other, clock.now)  # proven: the country's budget is no longer its concern
    assert guard.suspicion(other, clock.now) == 0
    guard.used(fresh, clock.now)  # 2 + 5 codes now: 10 is under twice that
    assert round(guard.suspicion(fresh, clock.now), 3) == 0.143
    clock.advance(3600)  # a new window, the use gone from the history: a fresh range again
    issue(fresh, 2)
    assert guard.suspicion(fresh, clock.now) == 0


@pytest.mark.servers
def test_requests_in_flight_never_overshoot_the_range_allowance(serve, outbox, db):
    # A week-long window: the burst cannot straddle two of them.
    settings = {"ip_per_minute": 1000, "conversion_prefix_volume": 7, "conversion_window_s": 604800}
    bases = [serve(**settings), serve(**settings)]

    responses = asyncio.run(burst(bases, phones(*numbers("+86170", 50))))

    answers = [(r.json()["retCode"], r.json().get("challengeRequired")) for r in responses]
    assert sorted(answers) == [("200", None)] * 7 + [("201", True)] * 43
    assert len(outbox.messages()) == 7


@pytest.mark.servers
def test_requests_in_flight_never_overshoot_the_country_fresh_budget(serve, outbox, db):
    settings = {
        "ip_per_minute": 1000,
        "reputation_digits": 5,  # fifty ranges: +8613900 to +8613949
        "conversion_country_volume": 7,
        "conversion_window_s": 604800,
    }
    bases = [serve(**settings), serve(**settings)]

    responses = asyncio.run(burst(bases, phones(*[f"+86139{n:02d}000000" for n in range(50)])))

    answers = [(r.json()["retCode"], r.json().get("challengeRequired")) for r in responses]
    assert sorted(answers) == [("200", None)] * 7 + [("201", True)] * 43
    assert len(outbox.messages()) == 7


def test_a_solved_challenge_lets_one_request_past_the_allowance(client_for, outbox, clock):
    client = client_for(conversion_prefix_volume=1, **EASY)
    fresh = numbers("+86170", 4)
    assert [answer(ask(client, number)) for number in fresh[:2]] == [SENT, CHALLENGED]

    token = solve(challenge(client, fresh[1]))
    assert answer(ask(client, fresh[2], token)) == CHALLENGED  # made for another phone
    assert answer(ask(client, fresh[1], "bm90IGEgc29sdXRpb24=")) == CHALLENGED  # not one
    assert answer(ask(client, fresh[1], token)) == SENT
    clock.advance(60)  # past the resend interval: the allowance is what answers
    assert answer(ask(client, fresh[1], token)) == ("201", "2740", True)  # used already

    assert [sms["to"] for sms in outbox.messages()] == fresh[:2]
    assert counted_refusals({"reputation-range": 4}) == {"reputation-range": 4}


def test_a_solved_challenge_never_lifts_the_phones_own_limits(client_for, outbox, clock):
    client = client_for(conversion_prefix_volume=1, phone_hourly_limit=1, **EASY)
    phone = "+8617000000000"
    assert answer(ask(client, phone)) == SENT
    clock.advance(60)

    reply = ask(client, phone, solve(challenge(client, phone)))

    assert answer(reply) == ("201", "2740", None)  # the phone's hour: no challenge helps
    assert counted_refusals({"phone-hour": 1}) == {"phone-hour": 1}


def test_policy_always_sends_with_a_solution_and_policy_off_leaves_it_unspent(client_for, outbox):
    client = client_for(settings_refresh_s=0, challenge_policy="always", **EASY)
    always, off = "+8613900139000", "+8617000000001"
    assert answer(ask(client, always, solve(challenge(client, always)))) == SENT

    thresholds.change("challenge_policy", "off", by="test")
    thresholds.change("conversion_prefix_volume", "1", by="test")
    assert answer(ask(client, "+8617000000000")) == SENT
    token = solve(challenge(client, off))
    assert answer(ask(client, off, token)) == ("201", WINDOW_LEFT, None)  # ignored

    thresholds.change("challenge_policy", "adaptive", by="test")
    assert answer(ask(client, off, token)) == SENT  # it was not spent


def test_a_range_further_past_its_allowance_gets_harder_challenges(client_for, outbox):
    client = client_for(conversion_prefix_volume=1, **EASY)
    fresh = numbers("+86170", 5)
    assert challenge(client, fresh[0])["maxnumber"] == 1000
    assert answer(ask(client, fresh[0])) == SENT

    harder = []
    for number in fresh[1:]:  # 2, 3, 4 then 5 codes: twice to five times the allowance
        body = challenge(client, number)
        assert answer(ask(client, number, solve(body))) == SENT
        harder.append(challenge(client, number)["maxnumber"])

    assert harder == [2000, 4000, 8000, 8000]  # geometric from the least to the most


def test_a_challenge_fetched_while_the_range_was_quiet_buys_nothing_once_it_is_not(
    client_for, outbox
):
    # An attacker fetches challenges ahead, while its range is within its allowance and they
    # are at their easiest, and solves them all cheaply: once solvers have pushed the range
    # past its allowance, such a solution is worth what no solution is.
    client = client_for(conversion_prefix_volume=1, **EASY)
    fresh = numbers("+86170", 6)
    fetched_ahead = {number: challenge(client, number) for number in fresh[3:]}
    assert {body["maxnumber"] for body in fetched_ahead.values()} == {1000}
    assert answer(ask(client, fresh[0])) == SENT
    for number in fresh[1:3]:  # solvers take the range to three times its allowance
        assert answer(ask(client, number, solve(challenge(client, number)))) == SENT

    assert answer(ask(client, fresh[3], solve(fetched_ahead[fresh[3]]))) == CHALLENGED
    # A challenge fetched now is as hard as the range asks, and goes through.
    assert answer(ask(client, fresh[4], solve(challenge(client, fresh[4])))) == SENT
    assert [sms["to"] for sms in outbox.messages()] == [*fresh[:3], fresh[4]]


@pytest.mark.servers
def test_fifty_requests_in_flight_with_one_solution_send_one_sms(serve, outbox, db):
    # Two instances, the phone's range past its allowance, every request carrying the same
    # good solution: the solution is spent once and the phone gets one code.
    settings = {"ip_per_minute": 1000, "conversion_prefix_volume": 1, **EASY}
    bases = [serve(**settings), serve(**settings)]
    first, phone = numbers("+86170", 2)
    with httpx.Client(base_url=bases[0]) as client:
        assert answer(client.post(GENERATE, json={"phone": first}))[0] == "200"
        assert answer(client.post(GENERATE, json={"phone": phone}))[2] is True
        token = solve(challenge(client, phone))

    responses = asyncio.run(burst(bases, [{"phone": phone, "challenge": token}] * 50))

    assert sorted(r.json()["retCode"] for r in responses) == ["200"] + ["201"] * 49
    assert [sms["to"] for sms in outbox.messages()] == [first, phone]
