"""The sign-up page (``GET /signup``) and its web component, as visitors meet them in headless
Chromium (Debian's, driven by Playwright) against a real ``applytry serve``.

- A visitor opens a trial with nothing but the form, in English or Chinese as the browser
  asks: the code from the SMS, a wrong code on the way, the service's message at the end.
- Waiting is shown, never guessed: after a 201 or a 429 the send button counts down the
  seconds of ``Retry-After`` and comes back when they are over.
- Each refusal the visitor can meet has its own message: a wrong code, no trial places left,
  the daily SMS threshold, the service out of reach.
- A challenge the service asks for is solved by the page, with progress shown; the visitor
  never sees the 201 that asked for it.
- Another website embeds the component with one script tag and calls the API from its origin.
- axe-core finds no violation; the page fits a 320 px screen; the keyboard alone is enough.

No request leaves the loopback origins of a test: anything else is aborted and asserted
absent. Screenshots of each state in both languages go to reports/signup/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from conftest import GENERATE, HERE, ROOT
from signup_pages import (
    PHONE_SCREEN,
    WORDS,
    Signup,
    Visit,
    embedding,
    fill_pool,
    mails,
    operate,
    sms_codes,
    sms_count,
)

SHOTS = ROOT / "reports" / "signup"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
APPLY = GENERATE.replace("generateverifycode", "applyTenant")
CHALLENGE = GENERATE.replace("generateverifycode", "challenge")
PHONE, E164 = "13800138000", "+8613800138000"
OTHER_PHONE, OTHER_E164 = "13900139000", "+8613900139000"
COMPANY, EMAIL = "一键试用公司", "trial@example.com"
LANGUAGES = pytest.mark.parametrize(
    ("locale", "language"), [("en-US", "en"), ("zh-CN", "zh")], ids=["en", "zh"]
)

# Every violation with the nodes it was found on, for the assertion message.
AXE_RUN = """
async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.map((node) => ({target: node.target, why: node.failureSummary})),
  }));
}
"""
OVERFLOW = "() => document.scrollingElement.scrollWidth"


@pytest.fixture
def visit(browser):
    """Opens browser contexts that reach only the origins named; closed after the test."""
    opened: list[Visit] = []

    def open_visit(*origins: str, **options) -> Visit:
        opened.append(Visit(browser, list(origins), **options))
        return opened[-1]

    yield open_visit
    for visited in opened:
        visited.close()


def signup_page(visit, service, *, scripts=(), **options) -> tuple[Visit, Signup]:
    """The service's own sign-up page, loaded and ready, in a visit that reaches only it;
    ``scripts`` run in the page before its own, as the browser's (the page's policy does not
    apply to them)."""
    visited = visit(service.url, **options)
    for script in scripts:
        visited.context.add_init_script(path=script)
    visited.page.goto(service.url + "/signup")
    signup = Signup(visited.page).ready()
    signup.record()
    return visited, signup


def stayed_home(visited: Visit) -> None:
    assert visited.elsewhere == [], "the page reached beyond its origins"
    assert visited.errors == [], "the page threw"


def counted_down(signup: Signup) -> list[int]:
    """The seconds the send button showed, each once, in order."""
    shown = [int(value) for value in signup.recorded()["countdowns"]]
    return [value for i, value in enumerate(shown) if i == 0 or shown[i - 1] != value]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def full_width(digits: str) -> str:
    return digits.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})


@LANGUAGES
def test_a_visitor_opens_a_trial_with_the_code_from_the_sms(start_service, visit, locale, language):
    service = start_service()
    fill_pool(service, "95555001")
    visited, signup = signup_page(visit, service, locale=locale)
    page, words = visited.page, WORDS[language]

    # The browser's language picks the page's and the form's words.
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if language == "zh" else "en")
    for field in ("phone", "code", "company", "email"):
        expect(signup.element.get_by_label(words[field], exact=True)).to_have_id(field)
    expect(signup.send).to_have_text(words["send"])
    expect(signup.apply).to_have_text(words["apply"])
    signup.shot(SHOTS / f"signup-{language}-empty.png")

    signup.ask_code(PHONE)
    signup.shows("generate-200", "info")
    expect(signup.send).to_have_text(words["again"])
    [code] = sms_codes(service, E164)

    # A second tap inside the resend interval: the service answers 201 and the button waits.
    with page.expect_response(lambda answer: answer.url.endswith(GENERATE)) as answered:
        signup.send.click()
    signup.shows("generate-201")
    wait = int(answered.value.headers["retry-after"])
    expect(signup.send).to_be_disabled()
    expect(signup.send).to_have_text(words["counting"])
    assert counted_down(signup)[0] == wait
    signup.shot(SHOTS / f"signup-{language}-countdown.png")

    signup.fill_application(wrong(code), COMPANY, EMAIL)
    signup.apply.click()
    signup.shows("apply-002", "error")
    expect(signup.code).to_have_attribute("aria-invalid", "true")
    expect(signup.code).to_be_focused()
    signup.shot(SHOTS / f"signup-{language}-error.png")

    signup.code.fill(code)
    with page.expect_response(lambda answer: answer.url.endswith(APPLY)) as answered:
        signup.apply.click()
    text = signup.shows("apply-000", "success")
    said = answered.value.json()
    assert said["returnCode"] == "000"
    assert said["returnMsg"] in text
    assert ("申请成功" in said["returnMsg"]) == (language == "zh"), said
    expect(signup.form).to_be_hidden()
    expect(signup.message).to_be_visible()
    assert signup.recorded()["done"] == [said], "the page heard applytry-signup-done"
    signup.shot(SHOTS / f"signup-{language}-success.png")

    # The tenant holds the pool's code, and its account went to the address typed.
    [assigned] = operate(service, "access-codes", "list").splitlines()
    assert assigned.startswith("95555001\t") and "\tfree" not in assigned
    [mail] = mails(service)
    assert mail["to"] == EMAIL and "95555001" in mail["text"]
    stayed_home(visited)


def test_after_a_resend_the_button_counts_down_retry_after_and_comes_back(start_service, visit):
    service = start_service(resend_interval_s=3)
    visited, signup = signup_page(visit, service)
    signup.ask_code(PHONE)
    signup.shows("generate-200")

    with visited.page.expect_response(lambda answer: answer.url.endswith(GENERATE)) as answered:
        signup.send.click()
    signup.shows("generate-201")
    wait = int(answered.value.headers["retry-after"])
    assert 1 <= wait <= 3
    expect(signup.send).to_be_disabled()

    expect(signup.send).to_be_enabled(timeout=(wait + 5) * 1000)
    expect(signup.send).to_have_text("Send again")
    assert signup.send.get_attribute("data-countdown") is None
    assert counted_down(signup) == list(range(wait, 0, -1))
    # The wait shown was the service's own: the next tap sends a new code.
    signup.send.click()
    signup.shows("generate-200")
    assert len(sms_codes(service, E164)) == 2
    stayed_home(visited)


def test_after_a_429_the_button_counts_down_retry_after_and_comes_back(start_service, visit):
    # One request a minute: the second tap is refused with the seconds left in the minute.
    # The service's minutes are the clock's; both taps must fall in the same one.
    left_in_minute = 60 - time.time() % 60
    if left_in_minute < 10:
        time.sleep(left_in_minute)
    service = start_service(ip_per_minute=1)
    visited = visit(service.url)
    # Playwright's clock, so that the end of the minute need not be waited for in real time.
    visited.page.clock.install()
    visited.page.goto(service.url + "/signup")
    signup = Signup(visited.page).ready()
    signup.record()
    signup.ask_code(PHONE)
    signup.shows("generate-200")

    with visited.page.expect_response(lambda answer: answer.url.endswith(GENERATE)) as answered:
        signup.send.click()
    assert answered.value.status == 429
    signup.shows("http-429", "error")
    wait = int(answered.value.headers["retry-after"])
    assert 1 <= wait <= 60
    assert counted_down(signup)[0] == wait

    visited.page.clock.run_for((wait + 1) * 1000)
    expect(signup.send).to_be_enabled()
    expect(signup.send).to_have_text("Send again")
    assert counted_down(signup) == list(range(wait, 0, -1))
    assert sms_count(service) == 1
    stayed_home(visited)


def test_no_trial_places_left_is_said_after_a_right_code(start_service, visit):
    """Typed with a phone's full-width digits: 006 comes only after the code matched, so the
    component sent both as ASCII digits."""
    service = start_service()  # the pool is empty
    visited, signup = signup_page(visit, service)
    signup.ask_code(full_width(PHONE))
    signup.shows("generate-200")
    [code] = sms_codes(service, E164)

    signup.fill_application(full_width(code), COMPANY, EMAIL)
    signup.apply.click()

    assert "No trial places" in signup.shows("apply-006", "error")
    expect(signup.form).to_be_visible()
    assert mails(service) == []
    stayed_home(visited)


def test_the_daily_sms_threshold_is_said_to_the_next_phone(start_service, visit):
    service = start_service(sms_daily_limit=1)
    visited, signup = signup_page(visit, service)
    signup.ask_code(PHONE)
    signup.shows("generate-200")

    signup.ask_code(OTHER_PHONE)

    assert "daily SMS limit" in signup.shows("generate-205", "error")
    assert sms_codes(service, OTHER_E164) == []
    assert sms_count(service) == 1
    stayed_home(visited)


def test_a_service_out_of_reach_is_a_network_error_in_words(start_service, visit):
    service = start_service()
    visited, signup = signup_page(visit, service)
    service.stop()

    signup.ask_code(PHONE)

    text = signup.shows("network", "error")
    assert "could not be reached" in text
    assert "fetch" not in text.lower() and "error" not in text.lower(), text
    expect(signup.send).to_be_enabled()  # the visitor can try again
    stayed_home(visited)


def test_a_website_on_another_origin_embeds_the_component(start_service, visit, website):
    service = start_service(cors_origins=website.origin)
    website.body = embedding(service.url)
    visited = visit(service.url, website.origin)
    visited.page.goto(website.origin + "/")
    signup = Signup(visited.page).ready()

    with visited.page.expect_response(lambda answer: answer.url.endswith(GENERATE)) as answered:
        signup.ask_code(PHONE)

    signup.shows("generate-200", "info")
    assert answered.value.headers["access-control-allow-origin"] == website.origin
    assert len(sms_codes(service, E164)) == 1
    stayed_home(visited)


def test_a_number_the_service_cannot_read_is_marked_on_the_phone_field(start_service, visit):
    service = start_service()
    visited, signup = signup_page(visit, service)

    signup.ask_code("12")

    assert "not valid" in signup.shows("http-400", "error")
    expect(signup.phone).to_have_attribute("aria-invalid", "true")
    expect(signup.phone).to_be_focused()
    signup.phone.fill(PHONE)  # typing again clears the mark
    expect(signup.phone).not_to_have_attribute("aria-invalid", "true")
    assert sms_count(service) == 0
    stayed_home(visited)


def keys_required(service) -> bool:
    """Whether the service asks for a key yet: a phone it cannot read is a 400 before any
    key exists and a 401 once one does (keys are checked first), so nothing is sent."""
    request = urllib.request.Request(
        service.url + GENERATE,
        data=b'{"phone": "12"}',
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as answer:
        return answer.code == 401
    return False


def test_with_api_keys_on_the_form_sends_the_key_it_is_given(start_service, visit):
    service = start_service(settings_refresh_s=0.2)
    key = operate(service, "keys", "add", "website").split()[0]
    deadline = time.monotonic() + 20
    while not keys_required(service):
        assert time.monotonic() < deadline, "the service never asked for the new key"
        time.sleep(0.1)
    visited, signup = signup_page(visit, service)
    element = visited.page.locator("applytry-signup")

    # Without a key, then with a wrong one: the site owner's mistakes, said as such.
    signup.ask_code(PHONE)
    assert "API key" in signup.shows("http-401", "error")
    element.evaluate("(form) => form.setAttribute('api-key', 'ak_00000000_wrong')")
    signup.send.click()
    assert "not allowed" in signup.shows("http-403", "error")
    element.evaluate("(form, key) => form.setAttribute('api-key', key)", key)
    signup.send.click()

    signup.shows("generate-200", "info")
    assert len(sms_codes(service, E164)) == 1
    stayed_home(visited)


def test_a_challenge_is_solved_with_progress_and_no_201_shown(start_service, visit):
    service = start_service(
        challenge_policy="always", challenge_min_number=1000, challenge_max_number=1000
    )
    visited, signup = signup_page(visit, service)
    answers, workers = [], []
    visited.page.on("response", lambda answer: answers.append(answer))
    visited.page.on("worker", lambda worker: workers.append(worker.url))

    signup.ask_code(PHONE)

    signup.shows("generate-200", "info")
    # Solved off the page's thread, in a worker the page's policy lets it start.
    assert len(workers) == 1 and workers[0].startswith("blob:"), workers
    seen = signup.recorded()
    assert "challenge-solving" in seen["codes"] and seen["progressShown"], seen
    assert not {"generate-201", "challenge-failed"} & set(seen["codes"]), seen
    expect(signup.element.locator("#challenge")).to_be_hidden()
    calls = [(answer.url.rsplit("/", 1)[-1], answer.status) for answer in answers]
    asked, solved = ("generateverifycode", 200), ("challenge", 200)
    assert calls[-3:] == [asked, solved, asked], calls
    assert answers[-3].json()["challengeRequired"] is True  # the service did ask
    assert len(sms_codes(service, E164)) == 1
    stayed_home(visited)


SOLUTION_AT = 1_500_000

# Every 25 ms the page notes its progress bar: a timer runs only when the page's thread is free.
WATCH_PROGRESS = """
() => {
  const bar = document.querySelector("applytry-signup").shadowRoot.querySelector("#progress");
  window.progressSeen = [];
  setInterval(() => window.progressSeen.push(bar.value), 25);
}
"""


def test_a_site_that_forbids_workers_gets_its_challenge_solved_on_a_live_page(
    start_service, visit, website
):
    service = start_service(cors_origins=website.origin, challenge_policy="always")
    website.body = embedding(service.url)
    website.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {service.url}; connect-src {service.url}; "
        "worker-src 'none'"
    )
    visited = visit(service.url, website.origin)
    page = visited.page

    # The challenge comes back with its solution placed 1.5 million numbers in, so that solving
    # takes long enough to watch, whatever number the service drew. Its signature no longer
    # matches, so the service then refuses the solution: what is watched is the solving.
    def placed_far(route):
        answer = route.fetch()
        challenge = answer.json()
        solution = f"{challenge['salt']}{SOLUTION_AT}".encode()
        challenge.update(maxnumber=2_000_000, challenge=hashlib.sha256(solution).hexdigest())
        route.fulfill(response=answer, json=challenge)

    page.route(service.url + CHALLENGE, placed_far)
    page.goto(website.origin + "/")
    signup = Signup(page).ready()
    workers, payloads = [], []
    page.on("worker", lambda worker: workers.append(worker.url))
    page.on(
        "request",
        lambda request: (
            request.url.endswith(GENERATE)
            and payloads.append(request.post_data_json.get("challenge"))
        ),
    )
    page.evaluate(WATCH_PROGRESS)

    signup.ask_code(PHONE)

    signup.shows("challenge-failed", "error")
    assert workers == []
    solved = json.loads(base64.b64decode(payloads[-1]))
    assert solved["number"] == SOLUTION_AT  # found on the page's own thread
    seen = page.evaluate("() => window.progressSeen")
    assert any(0 < share < 1 for share in seen), "the page's timers did not run while solving"
    assert sms_count(service) == 0
    stayed_home(visited)


def test_a_third_party_challenge_is_said_as_the_sites_to_fix(start_service, visit):
    service = start_service(
        challenge_policy="always",
        challenge_provider="turnstile",
        challenge_site_key="0x4AAAAAAA-site",
        challenge_secret="0x4AAAAAAA-secret",
    )
    visited, signup = signup_page(visit, service)

    signup.ask_code(PHONE)

    assert "site owner" in signup.shows("challenge-unsupported", "error")
    assert sms_count(service) == 0
    stayed_home(visited)


@LANGUAGES
def test_axe_finds_no_violation_and_the_page_fits_320_px(
    start_service, visit, node_tools, locale, language
):
    service = start_service()
    # axe comes in as the browser's own script: the page, audited under its real policy,
    # admits only its own.
    visited, signup = signup_page(visit, service, scripts=[AXE], locale=locale)
    page = visited.page

    def audit(state: str) -> None:
        page.set_viewport_size(PHONE_SCREEN)
        violations = page.evaluate(AXE_RUN)
        assert violations == [], f"axe, {state} ({language}): {violations}"
        page.set_viewport_size({"width": 320, "height": 700})
        width = page.evaluate(OVERFLOW)
        assert width <= 320, f"{state} ({language}) is {width} px wide on a 320 px screen"

    audit("empty")
    signup.send.click()
    signup.shows("missing-phone", "error")
    expect(signup.phone).to_have_attribute("aria-invalid", "true")
    audit("error")
    stayed_home(visited)


def test_the_keyboard_alone_opens_a_trial(start_service, visit):
    service = start_service()
    fill_pool(service, "95555001")
    visited, signup = signup_page(visit, service)
    keyboard = visited.page.keyboard

    for _ in range(10):
        if signup.focused() == "phone":
            break
        keyboard.press("Tab")
    order = [signup.focused()]
    for _ in range(5):
        keyboard.press("Tab")
        order.append(signup.focused())
    assert order == ["phone", "send", "code", "company", "email", "apply"]
    for _ in range(5):
        keyboard.press("Shift+Tab")
    assert signup.focused() == "phone"

    keyboard.type(PHONE)
    keyboard.press("Tab")
    keyboard.press("Space")
    signup.shows("generate-200")
    # The code is on its way, so the focus waits for it where it goes.
    assert signup.focused() == "code"
    [code] = sms_codes(service, E164)
    keyboard.type(code)
    keyboard.press("Tab")
    keyboard.type("Keyboard Trial Co")
    keyboard.press("Tab")
    keyboard.type(EMAIL)
    keyboard.press("Tab")
    assert signup.focused() == "apply"
    keyboard.press("Enter")

    signup.shows("apply-000", "success")
    # The form and its button went away; the focus is on what the visitor reads next.
    assert signup.focused() == "message"
    assert [mail["to"] for mail in mails(service)] == [EMAIL]
    stayed_home(visited)


@pytest.mark.timeout(360)  # 120 s and the wait for the next hour
def test_an_allowance_used_up_is_a_wait_in_minutes_said_as_such(start_service, visit):
    # The hourly allowance's window ends with the clock's hour: in its last minutes the wait
    # is short enough that the page rightly says "moments ago" instead. Such a run starts
    # with the next hour (a wait of 3 minutes at most, one run in twenty).
    left_s = 3600 - time.time() % 3600
    if left_s < 180:
        time.sleep(left_s + 1)
    service = start_service(resend_interval_s=1, phone_hourly_limit=2)
    visited, signup = signup_page(visit, service, locale="zh-CN")
    for sent in (1, 2):
        signup.ask_code(PHONE)
        signup.shows("generate-200")
        expect(signup.send).to_be_enabled()
        assert len(sms_codes(service, E164)) == sent
        visited.page.wait_for_timeout(1100)  # the resend interval

    signup.send.focus()
    signup.send.press("Enter")

    text = signup.shows("generate-201", "info")
    assert "上限" in text  # the allowance, not "moments ago"
    expect(signup.send).to_be_disabled()
    assert int(signup.send.get_attribute("data-countdown")) > 120
    expect(signup.send).to_have_text(re.compile(r"^\d+ 分钟后重新获取$"))
    # The disabled button cannot keep the focus: it goes to the message that says why.
    assert signup.focused() == "message"
    # The page switched to English mid-way says the same in English.
    visited.page.locator("applytry-signup").evaluate("(form) => form.setAttribute('lang', 'en')")
    expect(signup.message).to_have_text(re.compile(r"^This number has had all the codes"))
    expect(signup.send).to_have_text(re.compile(r"^Send again in \d+ min$"))
    assert len(sms_codes(service, E164)) == 2
    stayed_home(visited)


def test_a_field_the_service_refuses_is_marked(start_service, visit):
    service = start_service()
    visited, signup = signup_page(visit, service)
    signup.ask_code(PHONE)
    signup.shows("generate-200")
    [code] = sms_codes(service, E164)

    signup.fill_application(code, COMPANY, "not-an-address")
    signup.apply.click()

    signup.shows("http-400", "error")
    expect(signup.email).to_have_attribute("aria-invalid", "true")
    expect(signup.email).to_be_focused()
    expect(signup.code).not_to_have_attribute("aria-invalid", "true")
    stayed_home(visited)
