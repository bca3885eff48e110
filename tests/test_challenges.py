"""Challenges (applytry.challenges, createChallenge): a solution works once, for its own phone,
until it expires, and only as the service signed it; anything else is refused without an
error. Third-party tokens are checked with an imitation siteverify on 127.0.0.1. Real
database, SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import re
import threading

import altcha
import pytest

from applytry import keys, metrics
from applytry.challenges import (
    OUTCOMES_DAY,
    SITEVERIFY_URLS,
    Challenges,
    SiteVerify,
    verifier_for,
)
from applytry.db.database import database
from applytry.db.models import Counter, SpentChallenge
from applytry.digests import Digests
from applytry.phones import parse_phone
from applytry.pumping import Guard
from applytry.retention import purge
from applytry.stats import day_report, render
from applytry.storage import prepare_storage
from applytry.tally import Tally
from applytry.thresholds import Thresholds, change
from conftest import GENERATE, SECRET
from imitations import Imitation

CHALLENGE = "/apiaccess/rest/ipccprovision/v1/applyTry/challenge"
PHONE, OTHER = parse_phone("13800138000", ("CN",)), parse_phone("13900139000", ("CN",))
EASY = {"challenge_min_number": 1000, "challenge_max_number": 4000}  # solved in milliseconds
TTL = 600  # challenge_ttl_s, the default
PROVIDER_SECRET = "provider-secret-0123456789"


class SiteVerifyImitation(Imitation):
    """A provider's siteverify: the form {secret, response} in, ``{"success": ...}`` out.
    ``behaviour``: ok (success for any token but "bad"), 500, not-json, hang-up, no-verdict,
    verdict-as-text."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def answer(self, request):
        form = request["form"]
        if self.behaviour == "hang-up":
            return None
        if self.behaviour == "500":
            return 500, {"error": "internal"}
        if self.behaviour == "not-json":
            return 200, "<html>"
        if self.behaviour in ("no-verdict", "verdict-as-text"):
            return 200, {"hostname": "example.com"} | (
                {"success": "true"} if self.behaviour == "verdict-as-text" else {}
            )
        if form.get("secret") != self.secret:
            return 200, {"success": False, "error-codes": ["invalid-input-secret"]}
        if form.get("response") == "bad":
            return 200, {"success": False, "error-codes": ["invalid-input-response"]}
        return 200, {"success": True, "hostname": "example.com"}


@pytest.fixture
def siteverify():
    imitation = SiteVerifyImitation(PROVIDER_SECRET)
    yield imitation
    imitation.close()


@pytest.fixture
def make(settings_for, clock):
    """Challenges over this test's database, as the service builds them."""

    def build(secret: str = SECRET, **overrides) -> Challenges:
        settings = settings_for(**{**EASY, **overrides})
        prepare_storage(settings)
        thresholds = Thresholds(settings)
        digests = Digests(secret.encode())
        return Challenges(settings, thresholds, Tally(settings.zone), digests, clock)

    return build


@pytest.fixture
def challenges(make):
    return make()


def redeem(challenges: Challenges, phone, token) -> bool:
    """One request's redeem, in a loop of its own (a provider's client closed with it)."""

    async def run():
        try:
            return await challenges.redeem(phone, token)
        finally:
            await challenges.aclose()

    return asyncio.run(run())


def encode(solution: dict) -> str:
    return base64.b64encode(json.dumps(solution).encode()).decode()


def solved(body: dict) -> dict:
    """The solution of an ALTCHA challenge body, as the widget would send it."""
    found = altcha.solve_challenge_v1(body["challenge"], body["salt"], "SHA-256", body["maxnumber"])
    assert found is not None
    fields = ("algorithm", "challenge", "salt", "signature")
    return {**{name: body[name] for name in fields}, "number": found.number, "took": 3}


def solve(body: dict) -> str:
    return encode(solved(body))


def outcomes(challenges: Challenges) -> dict[str, int]:
    """The day's outcomes as ``applytry stats`` reads them, once the tally is written."""
    challenges.tally.flush()
    rows = Counter.select().where(Counter.scope == OUTCOMES_DAY.scope)
    return {row.key: row.count for row in rows}


def counted(outcome: str) -> float:
    return metrics.CHALLENGES.labels(outcome)._value.get()


# --- a solution: its phone, once, in time, as signed ----------------------------------------


def test_a_solution_for_one_phone_is_refused_for_another(challenges):
    token = solve(challenges.issue(PHONE, 0))

    assert redeem(challenges, OTHER, token) is False
    assert redeem(challenges, PHONE, token) is True
    assert outcomes(challenges) == {"issued": 1, "failed": 1, "solved": 1}


def test_a_solution_is_good_once(challenges):
    token = solve(challenges.issue(PHONE, 0))

    assert redeem(challenges, PHONE, token) is True
    assert redeem(challenges, PHONE, token) is False
    assert outcomes(challenges) == {"issued": 1, "solved": 1, "replayed": 1}
    assert SpentChallenge.select().count() == 1


def test_a_solution_holds_until_its_expiry_and_not_a_second_longer(challenges, clock):
    late = solve(challenges.issue(PHONE, 0))
    just_in_time = solve(challenges.issue(PHONE, 0))

    clock.advance(TTL)
    assert redeem(challenges, PHONE, just_in_time) is True
    clock.advance(1)
    assert redeem(challenges, PHONE, late) is False
    assert outcomes(challenges) == {"issued": 2, "solved": 1, "expired": 1}


def test_a_challenge_signed_with_another_secret_is_refused(challenges, make):
    forged = solve(make(secret="another-service-secret-0123456").issue(PHONE, 0))

    assert redeem(challenges, PHONE, forged) is False
    assert outcomes(challenges)["failed"] == 1


def test_a_signature_reused_for_an_easier_challenge_is_refused(challenges):
    """The salt kept, a number of the caller's choosing, the challenge made to match."""
    solution = solved(challenges.issue(PHONE, 0))
    easy = {**solution, "number": 0}
    easy["challenge"] = altcha.hash_hex("SHA-256", (solution["salt"] + "0").encode())

    assert redeem(challenges, PHONE, encode(easy)) is False
    assert redeem(challenges, PHONE, encode(solution)) is True


def test_a_salt_changed_after_signing_is_refused(challenges, clock):
    """Tampered salts: a later expiry, another phone's binding; challenge kept or remade."""
    body = challenges.issue(PHONE, 0)
    solution = solved(body)
    later = solution["salt"].replace(f"expires={int(clock.now) + TTL}", "expires=9999999999")
    others = challenges.digests.challenge_phone(OTHER.e164)
    other = re.sub(r"phone=[0-9a-f]+", "phone=" + others, solution["salt"])
    assert later != solution["salt"] and other != solution["salt"]

    for salt in (later, other):
        remade = altcha.hash_hex("SHA-256", (salt + str(solution["number"])).encode())
        for challenge in (solution["challenge"], remade):
            tampered = {**solution, "salt": salt, "challenge": challenge}
            assert redeem(challenges, PHONE, encode(tampered)) is False
            assert redeem(challenges, OTHER, encode(tampered)) is False
    assert redeem(challenges, PHONE, encode(solution)) is True


def test_only_the_number_behind_the_challenge_will_do_whatever_maxnumber_was_said(challenges):
    """A caller told a smaller maxnumber (or telling itself one) finds no solution in it."""
    body = challenges.issue(PHONE, 0)
    solution = solved(body)
    number = solution["number"]
    assert altcha.solve_challenge_v1(body["challenge"], body["salt"], "SHA-256", number - 1) is None

    for wrong in {0, max(0, number - 1), number + 1, body["maxnumber"]} - {number}:
        assert redeem(challenges, PHONE, encode({**solution, "number": wrong})) is False
    assert redeem(challenges, PHONE, encode(solution)) is True


def test_only_sha_256_is_taken_even_signed_with_the_services_key(challenges, clock):
    expires = datetime.datetime.fromtimestamp(clock.now + TTL, datetime.UTC)
    made = altcha.create_challenge_v1(
        algorithm="SHA-1",
        max_number=1000,
        hmac_key=challenges._signing,
        expires=expires,
        params={"phone": challenges.digests.challenge_phone(PHONE.e164)},
    )
    found = altcha.solve_challenge_v1(made.challenge, made.salt, "SHA-1", 1000)
    solution = {
        "algorithm": "SHA-1",
        "challenge": made.challenge,
        "number": found.number,
        "salt": made.salt,
        "signature": made.signature,
    }
    assert altcha.verify_solution_v1(solution, challenges._signing, check_expires=False)[0]

    assert redeem(challenges, PHONE, encode(solution)) is False


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


GARBAGE = {
    "not base64": "not base64 at all!",
    "base64, not JSON": _b64(b"hello, world"),
    "base64, not UTF-8": _b64(b"\xff\xfe\x00garbage"),
    "a JSON list": _b64(b"[1, 2, 3]"),
    "JSON nested past the parser's depth": _b64(b"[" * 3000),
    "fields missing": _b64(b'{"algorithm": "SHA-256", "number": 1}'),
    "a number as text": _b64(
        b'{"algorithm": "SHA-256", "challenge": "a", "number": "1", "salt": "s", "signature": "x"}'
    ),
    "a boolean number": _b64(
        b'{"algorithm": "SHA-256", "challenge": "a", "number": true, "salt": "s", "signature": "x"}'
    ),
    "a negative number": _b64(
        b'{"algorithm": "SHA-256", "challenge": "a", "number": -1, "salt": "s", "signature": "x"}'
    ),
    "huge": "A" * 100_000,
    # Lone surrogates, which JSON allows and no hash can take.
    "a surrogate in the challenge": _b64(
        b'{"algorithm": "SHA-256", "challenge": "\\ud800", "number": 1, "salt": "s", '
        b'"signature": "x"}'
    ),
    "a surrogate in the salt": _b64(
        b'{"algorithm": "SHA-256", "challenge": "a", "number": 1, "salt": "\\udfff", '
        b'"signature": "x"}'
    ),
    "a surrogate in the signature": _b64(
        b'{"algorithm": "SHA-256", "challenge": "a", "number": 1, "salt": "s", '
        b'"signature": "\\ud800"}'
    ),
}


@pytest.mark.parametrize("token", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_refused_without_an_error_and_counted_as_failed(challenges, token):
    assert redeem(challenges, PHONE, token) is False
    assert outcomes(challenges) == {"failed": 1}


def test_no_token_is_no_solution_and_no_outcome(challenges):
    assert redeem(challenges, PHONE, None) is False
    assert redeem(challenges, PHONE, "") is False
    assert outcomes(challenges) == {}


def test_a_good_solution_padded_past_4096_characters_is_not_read(challenges):
    solution = solved(challenges.issue(PHONE, 0))
    padded = encode({**solution, "took": "9" * 3000})
    assert len(padded) > 4096

    assert redeem(challenges, PHONE, padded) is False
    assert redeem(challenges, PHONE, encode(solution)) is True


def test_redeem_must_be_awaited(challenges):
    """Tested for truth without an await, a coroutine would let every token through."""
    with pytest.raises(TypeError, match="must be awaited"):
        bool(challenges.redeem(PHONE, "anything"))


def test_fifty_requests_racing_with_one_solution_get_exactly_one_through(challenges):
    token = solve(challenges.issue(PHONE, 0))
    start = threading.Barrier(50)
    results: list = []
    before = counted("solved"), counted("replayed")

    def request() -> None:
        try:
            start.wait(10)
            results.append(redeem(challenges, PHONE, token))
        except Exception as exc:
            results.append(exc)
        finally:
            database.close()  # this thread's connection

    threads = [threading.Thread(target=request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(results, key=str) == [False] * 49 + [True]
    assert (counted("solved") - before[0], counted("replayed") - before[1]) == (1, 49)
    assert SpentChallenge.select().count() == 1


# --- how hard ---------------------------------------------------------------------------------


def test_difficulty_grows_geometrically_with_suspicion(make):
    challenges = make(challenge_min_number=1000, challenge_max_number=100_000)

    assert [challenges.difficulty(level) for level in (-1, 0, 0.5, 1, 2)] == [
        1000,
        1000,
        10_000,
        100_000,
        100_000,
    ]
    assert challenges.issue(PHONE, 0.5)["maxnumber"] == 10_000


def test_a_run_time_minimum_above_the_maximum_is_taken_as_the_maximum(make, db):
    change("challenge_min_number", "9000", by="test")
    challenges = make(challenge_min_number=1000, challenge_max_number=5000)

    assert challenges.difficulty(0) == challenges.difficulty(1) == 5000


# --- third-party providers --------------------------------------------------------------------


def third_party(make, provider: str, url: str | None) -> Challenges:
    return make(
        challenge_provider=provider,
        challenge_site_key="site-key-1",
        challenge_secret=PROVIDER_SECRET,
        challenge_verify_url=url,
    )


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
def test_a_providers_token_is_checked_with_its_siteverify_and_used_once(
    make, siteverify, provider, clock
):
    challenges = third_party(make, provider, siteverify.url + "/siteverify")

    assert challenges.issue(PHONE, 1) == {
        "kind": provider,
        "siteKey": "site-key-1",
        "expires": int(clock.now) + TTL,
    }
    assert redeem(challenges, PHONE, "token-1") is True
    assert redeem(challenges, OTHER, "token-1") is False  # replayed, the provider not asked
    assert redeem(challenges, PHONE, "bad") is False
    assert [r["form"] for r in siteverify.requests] == [
        {"secret": PROVIDER_SECRET, "response": "token-1"},
        {"secret": PROVIDER_SECRET, "response": "bad"},
    ]
    assert {r["path"] for r in siteverify.requests} == {"/siteverify"}
    assert outcomes(challenges) == {"issued": 1, "solved": 1, "replayed": 1, "failed": 1}


def test_a_spent_token_is_kept_as_long_as_a_provider_might_still_accept_it(make, siteverify, clock):
    """Five minutes at least (Turnstile's), however short the challenges' own life."""
    challenges = make(
        challenge_provider="turnstile",
        challenge_site_key="site-key-1",
        challenge_secret=PROVIDER_SECRET,
        challenge_verify_url=siteverify.url,
        challenge_ttl_s=60,
    )
    assert redeem(challenges, PHONE, "token-1") is True

    clock.advance(299)
    purge(clock.now, 30)
    assert redeem(challenges, PHONE, "token-1") is False
    assert len(siteverify.requests) == 1
    clock.advance(2)
    assert purge(clock.now, 30).removed["spent_challenge"] == 1


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
def test_without_a_url_the_providers_public_siteverify_is_asked(settings_for, provider):
    settings = settings_for(
        challenge_provider=provider, challenge_site_key="k", challenge_secret=PROVIDER_SECRET
    )
    assert verifier_for(settings).url == SITEVERIFY_URLS[provider]
    assert verifier_for(settings_for()) is None  # altcha: the service's own


@pytest.mark.parametrize(
    "behaviour",
    ["500", "not-json", "no-verdict", "verdict-as-text", "hang-up", "slow", "closed"],
)
def test_a_siteverify_that_fails_to_answer_is_a_failed_token_not_an_error(
    make, siteverify, behaviour, closed_port
):
    challenges = third_party(make, "turnstile", siteverify.url)
    url = f"http://127.0.0.1:{closed_port}" if behaviour == "closed" else siteverify.url
    challenges.verifier = SiteVerify("turnstile", PROVIDER_SECRET, url, timeout_s=0.2)
    siteverify.behaviour, siteverify.delay = behaviour, 1.0 if behaviour == "slow" else 0.0

    assert redeem(challenges, PHONE, "token-1") is False
    assert outcomes(challenges) == {"failed": 1}
    assert SpentChallenge.select().count() == 0


def test_a_wrong_provider_secret_is_logged_for_the_operator_without_the_secret(
    make, siteverify, caplog
):
    challenges = third_party(make, "turnstile", siteverify.url)
    siteverify.secret = "the-provider-has-another"
    caplog.set_level(logging.INFO, logger="applytry.challenges")

    assert redeem(challenges, PHONE, "token-1") is False

    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "invalid-input-secret" in warning.getMessage()
    assert not any(PROVIDER_SECRET in r.getMessage() for r in caplog.records)


# --- createChallenge over HTTP ----------------------------------------------------------------


def test_create_challenge_answers_a_fresh_signed_challenge_for_the_phone(
    client_for, clock, caplog, make
):
    client = client_for(**EASY)
    caplog.set_level(logging.INFO, logger="applytry.challenges")

    reply = client.post(CHALLENGE, json={"phone": "+86 138-0013-8000"})

    assert reply.status_code == 200  # and valid per the spec: the test app validates replies
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert set(body) == {
        "kind",
        "algorithm",
        "challenge",
        "maxnumber",
        "salt",
        "signature",
        "expires",
    }
    assert (body["kind"], body["algorithm"], body["maxnumber"]) == ("altcha", "SHA-256", 1000)
    assert body["expires"] == int(clock.now) + TTL
    assert f"expires={body['expires']}&phone=" in body["salt"]
    assert "13800138000" not in reply.text
    assert client.post(CHALLENGE, json={"phone": "13800138000"}).json() != body  # fresh each time
    # Solved, it is good for that phone with the service that signed it (same secret).
    assert redeem(make(), PHONE, solve(body)) is True
    logged = [r for r in caplog.records if r.getMessage() == "challenge issued"]
    assert [r.phone for r in logged] == [PHONE.masked, PHONE.masked]


def test_create_challenge_is_as_hard_as_the_guard_finds_the_phone_suspicious(
    client_for, clock, monkeypatch
):
    asked = []

    def suspicion(guard, phone, now):
        asked.append((phone.e164, now))
        return 0.5

    monkeypatch.setattr(Guard, "suspicion", suspicion)
    client = client_for(challenge_min_number=1000, challenge_max_number=100_000)

    body = client.post(CHALLENGE, json={"phone": "13800138000"}).json()

    assert body["maxnumber"] == 10_000
    assert asked == [("+8613800138000", clock.now)]


def test_create_challenge_answers_the_operators_provider(client_for, clock):
    client = client_for(
        challenge_provider="turnstile",
        challenge_site_key="0x4AAAAAAABkMYinukE8nzY",
        challenge_secret=PROVIDER_SECRET,
    )

    reply = client.post(CHALLENGE, json={"phone": "13800138000"})

    assert reply.status_code == 200
    assert reply.json() == {
        "kind": "turnstile",
        "siteKey": "0x4AAAAAAABkMYinukE8nzY",
        "expires": int(clock.now) + TTL,
    }
    assert PROVIDER_SECRET not in reply.text


@pytest.mark.parametrize("phone", ["12345", "010-12345678", "+1 212 555 0100", "abc"])
def test_a_bad_phone_is_the_same_400_as_for_a_code(client, phone):
    reply = client.post(CHALLENGE, json={"phone": phone})
    code = client.post(GENERATE, json={"phone": phone})

    assert reply.status_code == code.status_code == 400
    assert reply.json() == code.json()


def test_challenges_spend_the_clients_budget_that_codes_spend_too(client_for):
    client = client_for(ip_per_minute=2)

    assert client.post(CHALLENGE, json={"phone": "13800138000"}).status_code == 200
    assert client.post(CHALLENGE, json={"phone": "13900139000"}).status_code == 200
    refused = client.post(CHALLENGE, json={"phone": "13800138000"})

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert client.post(GENERATE, json={"phone": "13700137000"}).status_code == 429


def test_create_challenge_needs_a_key_once_keys_exist(client_for, db):
    client = client_for(settings_refresh_s=0)
    key = keys.create(Digests(SECRET.encode()), "website", "alice")

    assert client.post(CHALLENGE, json={"phone": "13800138000"}).status_code == 401
    assert (
        client.post(CHALLENGE, json={"phone": "13800138000"}, headers={"X-APP-Key": "ak_x"})
    ).status_code == 403
    ok = client.post(CHALLENGE, json={"phone": "13800138000"}, headers={"X-APP-Key": key})
    assert ok.status_code == 200


def test_metrics_count_challenges_by_outcome(client_for):
    client = client_for(**EASY)

    def issued() -> float:
        text = client.get("/apiaccess/rest/ipccprovision/v1/metrics").text
        found = re.search(r'^applytry_challenges_total\{outcome="issued"\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = issued()
    client.post(CHALLENGE, json={"phone": "13800138000"})
    client.post(CHALLENGE, json={"phone": "13800138000"})

    assert issued() == before + 2


# --- stats and purge --------------------------------------------------------------------------


def test_stats_show_the_days_challenges_by_outcome(challenges, clock):
    token = solve(challenges.issue(PHONE, 0))
    challenges.issue(PHONE, 0)
    redeem(challenges, PHONE, token)
    redeem(challenges, PHONE, token)
    redeem(challenges, PHONE, "garbage")
    challenges.tally.flush()

    day = datetime.datetime.fromtimestamp(clock.now, challenges.settings.zone).date()
    report = day_report(day, challenges.settings, challenges.thresholds)

    assert report["challenges"] == {"issued": 2, "solved": 1, "replayed": 1, "failed": 1}
    assert "challenges     failed 1, issued 2, replayed 1, solved 1" in render(report)
    yesterday = day_report(
        day - datetime.timedelta(days=1), challenges.settings, challenges.thresholds
    )
    assert yesterday["challenges"] == {}


def test_purge_removes_spent_challenges_once_expired(challenges, clock):
    for offset in (-1, 0, 60):
        SpentChallenge.create(key=f"spent{offset}", expires_at=clock.now + offset)

    report = purge(clock.now, 30)

    assert report.removed["spent_challenge"] == 1
    assert sorted(row.expires_at for row in SpentChallenge.select()) == [clock.now, clock.now + 60]
