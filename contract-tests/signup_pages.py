"""The sign-up page as contract-tests/test_signup.py drives it: a browser context that cannot
reach beyond the loopback origins it is given, the ``<applytry-signup>`` component's controls
(its DOM contract: ids, ``data-code``, ``data-kind``, ``data-countdown``), what the service
wrote to its outboxes and access-code pool, and a website on another origin that embeds it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

from applytry.testing import ServiceProcess

TIMEOUT_MS = 20_000
PHONE_SCREEN = {"width": 400, "height": 700}

# The visible words of each language, as the contract fixes them.
WORDS = {
    "en": {
        "phone": "Mobile number",
        "send": "Send code",
        "again": "Send again",
        "counting": re.compile(r"^\s*Send again in (\d+) s\s*$"),
        "code": "Verification code",
        "company": "Company name",
        "email": "Email",
        "apply": "Start my trial",
    },
    "zh": {
        "phone": "手机号码",
        "send": "获取验证码",
        "again": "重新获取",
        "counting": re.compile(r"^\s*(\d+) 秒后重新获取\s*$"),
        "code": "验证码",
        "company": "公司名称",
        "email": "电子邮箱",
        "apply": "开通试用",
    },
}

# Keeps, inside the page, every value the message's data-code and the send button's
# data-countdown take, whether the progress bar was ever shown, and the details of the
# applytry-signup-done events the document heard: an outcome can pass in less time than a
# poll from here takes. attributeOldValue gives each value a change replaced, so even two
# changes in one task are both seen.
RECORD = """
() => {
  const root = document.querySelector("applytry-signup").shadowRoot;
  const message = root.querySelector("#message");
  const send = root.querySelector("#send");
  const progress = root.querySelector("#progress");
  const seen = {codes: [], countdowns: [], progressShown: progress.checkVisibility(), done: []};
  document.addEventListener("applytry-signup-done", (event) => seen.done.push(event.detail));
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      if (record.target === message && record.attributeName === "data-code") {
        seen.codes.push(record.oldValue);
      } else if (record.target === send && record.attributeName === "data-countdown") {
        seen.countdowns.push(record.oldValue);
      }
    }
    seen.progressShown ||= progress.checkVisibility();
  });
  observer.observe(root, {subtree: true, attributes: true, attributeOldValue: true});
  window.applytrySeen = seen;
}
"""

RECORDED = """
() => {
  const root = document.querySelector("applytry-signup").shadowRoot;
  const seen = window.applytrySeen;
  const values = (old, now) => [...old, now].filter((value) => value !== null);
  return {
    codes: values(seen.codes, root.querySelector("#message").getAttribute("data-code")),
    countdowns: values(
      seen.countdowns, root.querySelector("#send").getAttribute("data-countdown")),
    progressShown: seen.progressShown,
    done: seen.done,
  };
}
"""

# The id of the focused control inside the component ("" outside it).
FOCUSED = """
() => {
  const host = document.querySelector("applytry-signup");
  const inner = host && host.shadowRoot.activeElement;
  return document.activeElement === host && inner ? inner.id : "";
}
"""


class Visit:
    """A fresh browser context whose requests reach only ``origins``; any other request is
    aborted and listed in ``elsewhere``, and the page's uncaught exceptions are listed in
    ``errors``, for the test to assert both empty."""

    def __init__(
        self,
        browser: Browser,
        origins: list[str],
        *,
        locale: str = "en-US",
        viewport: dict | None = None,
        **options,
    ):
        self.allowed = {urlsplit(origin).netloc for origin in origins}
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(
            locale=locale, viewport=viewport or PHONE_SCREEN, **options
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._only_allowed)
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _only_allowed(self, route) -> None:
        if urlsplit(route.request.url).netloc in self.allowed:
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


class Signup:
    """The component on a page, through its open shadow root (Playwright's CSS pierces it)."""

    def __init__(self, page: Page):
        self.page = page
        self.element = page.locator("applytry-signup")
        self.form = self.element.locator("form#signup")
        self.phone = self.element.locator("#phone")
        self.send = self.element.locator("button#send")
        self.code = self.element.locator("#code")
        self.company = self.element.locator("#company")
        self.email = self.element.locator("#email")
        self.apply = self.element.locator("button#apply")
        self.message = self.element.locator("#message")
        self.progress = self.element.locator("progress#progress")

    def ready(self) -> Signup:
        """Once the element is upgraded and its form is shown."""
        expect(self.phone).to_be_editable(timeout=TIMEOUT_MS)
        return self

    def shows(self, code: str, kind: str | None = None) -> str:
        """Waits for the message to say ``code`` (and ``kind``); returns its text."""
        expect(self.message).to_have_attribute("data-code", code, timeout=TIMEOUT_MS)
        if kind is not None:
            expect(self.message).to_have_attribute("data-kind", kind, timeout=TIMEOUT_MS)
        expect(self.message).not_to_have_text("", timeout=TIMEOUT_MS)
        return self.message.inner_text()

    def ask_code(self, phone: str) -> None:
        self.phone.fill(phone)
        self.send.click()

    def fill_application(self, code: str, company: str, email: str) -> None:
        self.code.fill(code)
        self.company.fill(company)
        self.email.fill(email)

    def record(self) -> None:
        self.page.evaluate(RECORD)

    def recorded(self) -> dict:
        return self.page.evaluate(RECORDED)

    def focused(self) -> str:
        return self.page.evaluate(FOCUSED)

    def shot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=path, full_page=True)


def sms_codes(service: ServiceProcess, e164: str) -> list[str]:
    """The six-digit codes the service sent to ``e164``, oldest first."""
    outbox = service.workdir / "outbox" / "sms.jsonl"
    lines = outbox.read_text().splitlines() if outbox.exists() else []
    texts = [sms["text"] for sms in map(json.loads, lines) if sms["to"] == e164]
    return [re.search(r"(?<!\d)\d{6}(?!\d)", text).group() for text in texts]


def sms_count(service: ServiceProcess) -> int:
    outbox = service.workdir / "outbox" / "sms.jsonl"
    return len(outbox.read_text().splitlines()) if outbox.exists() else 0


def mails(service: ServiceProcess) -> list[dict]:
    outbox = service.workdir / "outbox" / "mail.jsonl"
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


def operate(service: ServiceProcess, *args: str) -> str:
    """``applytry ARGS`` on the service's data, as its operator runs it; its output."""
    result = subprocess.run(
        [sys.executable, "-m", "applytry.cli", *args],
        cwd=service.workdir,
        env={**os.environ, **service.environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fill_pool(service: ServiceProcess, *codes: str) -> None:
    listing = service.workdir / "access-codes.txt"
    listing.write_text("".join(code + "\n" for code in codes))
    operate(service, "access-codes", "import", str(listing))


def embedding(service_url: str) -> bytes:
    """A trial website's page that embeds the component, as the README shows: the module
    script and the element, nothing else."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Free trial</title>"
        f'<script type="module" src="{service_url}/signup/applytry-signup.js"></script>'
        f'<h1>Try it free</h1><applytry-signup api="{service_url}"></applytry-signup>'
    ).encode()
