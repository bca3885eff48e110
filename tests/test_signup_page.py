"""The sign-up page and its web component as the service serves them (the form's behaviour in
a browser is in contract-tests/test_signup.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

import pytest

from applytry.config import ConfigError, Settings

BUNDLE = "/signup/applytry-signup.js"


def test_the_page_speaks_the_browsers_language_and_loads_the_component_from_its_own_origin(
    client,
):
    english = client.get("/signup")
    chinese = client.get("/signup", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})

    assert english.status_code == 200 and chinese.status_code == 200
    assert english.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="en">' in english.text and "<title>Free trial</title>" in english.text
    assert '<html lang="zh-CN">' in chinese.text and "<title>免费试用</title>" in chinese.text
    assert "<noscript><p>The sign-up form needs JavaScript." in english.text
    assert "<noscript><p>申请表单需要 JavaScript" in chinese.text
    assert english.headers["vary"] == "Accept-Language"
    assert '<script type="module" src="signup/applytry-signup.js">' in english.text
    assert "<applytry-signup></applytry-signup>" in english.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", english.text), "a remote asset"


def test_the_pages_policy_allows_its_own_script_and_style_and_nothing_else(client):
    page = client.get("/signup")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()

    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["style-src"] == f"'sha256-{digest}'"  # the inline style, and only it
    assert policy["worker-src"] == "blob:"  # the challenge's solver
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_any_website_may_load_the_component_and_revalidate_it(client):
    shipped = resources.files("applytry.signup").joinpath("applytry-signup.js").read_bytes()
    first = client.get(BUNDLE, headers={"Origin": "https://www.example.com"})

    assert first.status_code == 200 and first.content == shipped
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    # A module script from another origin is fetched in CORS mode; without this the browser
    # refuses to run it. It is public and needs no credentials.
    assert first.headers["access-control-allow-origin"] == "*"
    again = client.get(BUNDLE, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get(BUNDLE, headers={"If-None-Match": "*"}).status_code == 304
    changed = client.get(BUNDLE, headers={"If-None-Match": '"an-older-build"'})
    assert changed.status_code == 200 and changed.content == shipped


def test_the_component_calls_the_spec_path_of_both_operations():
    shipped = resources.files("applytry.signup").joinpath("applytry-signup.js").read_text()
    for path in ("/apiaccess/rest/ipccprovision/v1", "/applyTry/generateverifycode"):
        assert path in shipped
    assert "/applyTry/applyTenant" in shipped and "/applyTry/challenge" in shipped


def test_turned_off_the_page_and_the_component_are_not_there(client_for):
    client = client_for(signup_page="off")
    for path in ("/signup", BUNDLE):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("value", ["yes", "", "true"])
def test_the_switch_takes_only_on_or_off(value):
    with pytest.raises(ConfigError, match="APPLYTRY_SIGNUP_PAGE"):
        Settings.from_env({"APPLYTRY_SIGNUP_PAGE": value})
