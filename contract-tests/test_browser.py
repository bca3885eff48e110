"""The spec as a website meets it, in headless Chromium (Debian's, driven by Playwright).

- The documentation page loads with no network beyond the service, and "Try it out" on
  generateverifycode gets the 200 body.
- A page served from another loopback origin calls the API: allowed when its origin is in
  ``APPLYTRY_CORS_ORIGINS`` (preflight, ``Retry-After`` and problems readable), blocked
  by the browser when it is not.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from conftest import GENERATE

TIMEOUT_MS = 20_000

# What the website does: ask twice for one phone, then send a bad one.
WEBSITE_SCRIPT = """
async (api) => {
  const ask = async (phone) => {
    const reply = await fetch(api, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept-Language": "en"},
      body: JSON.stringify({phone}),
    });
    return {status: reply.status, retryAfter: reply.headers.get("Retry-After"),
            body: await reply.json()};
  };
  try {
    return {first: await ask("13800138201"), second: await ask("13800138201"),
            bad: await ask("not a phone")};
  } catch (error) {
    return {error: String(error)};
  }
}
"""


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def sms_to(service, phone: str) -> int:
    outbox = service.workdir / "outbox" / "sms.jsonl"
    lines = outbox.read_text().splitlines() if outbox.exists() else []
    return [json.loads(line)["to"] for line in lines].count("+86" + phone)


def test_try_it_out_on_the_documentation_page_gets_the_200_body(start_service, page):
    service = start_service()
    elsewhere: list[str] = []

    def only_the_service(route):
        if urlsplit(route.request.url).netloc == urlsplit(service.url).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(service.url + "/docs")
    operation = page.locator("#operations-applyTry-generateVerifyCode")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    answer = operation.locator(".live-responses-table tbody tr.response")
    answer.locator(".response-col_description pre").first.wait_for()
    body = json.loads(answer.locator(".response-col_description pre").first.inner_text())
    status = answer.locator(".response-col_status").inner_text()
    assert status.strip() == "200"
    # The page sends the Accept-Language parameter's example (zh-CN), so the message is Chinese.
    assert body == {"retCode": "200", "retMsg": "短信发送成功。"}
    assert sms_to(service, "13800138000") == 1  # the request body's first example
    assert elsewhere == [], "the documentation page reached beyond the service"


def test_a_configured_website_origin_calls_the_api_from_the_browser(start_service, website, page):
    service = start_service(cors_origins=website.origin)
    page.goto(website.origin + "/")
    result = page.evaluate(WEBSITE_SCRIPT, service.url + GENERATE)

    assert "error" not in result, result
    assert result["first"]["status"] == 200
    assert result["first"]["body"]["retCode"] == "200"
    assert result["second"]["body"]["retCode"] == "201"
    assert int(result["second"]["retryAfter"]) >= 1, "Retry-After is exposed to the page"
    assert result["bad"]["status"] == 400
    assert result["bad"]["body"]["status"] == 400 and result["bad"]["body"]["title"]
    assert sms_to(service, "13800138201") == 1


def test_the_browser_blocks_a_website_whose_origin_is_not_configured(start_service, website, page):
    service = start_service(cors_origins="https://trial.example.com")
    page.goto(website.origin + "/")
    result = page.evaluate(WEBSITE_SCRIPT, service.url + GENERATE)

    assert "Failed to fetch" in result.get("error", ""), result
    # The preflight failed, so the POST never left the browser: nothing was sent.
    assert sms_to(service, "13800138201") == 0
