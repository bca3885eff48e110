"""The spec at its well-known addresses, the documentation page, and CORS for the website."""

from __future__ import annotations

import re

import pytest
import yaml

from applytry.app import SPEC
from applytry.config import ConfigError, Settings
from conftest import GENERATE

BASE = GENERATE.removesuffix("/applyTry/generateverifycode")

WEBSITE = "https://trial.example.com"


def test_the_spec_is_served_at_the_root_as_json_and_yaml(client):
    published = yaml.safe_load(SPEC.read_text())
    as_json = client.get("/openapi.json")
    as_yaml = client.get("/openapi.yaml")
    assert as_json.headers["content-type"] == "application/json"
    assert as_yaml.headers["content-type"] == "application/yaml"
    assert as_json.json() == published
    assert yaml.safe_load(as_yaml.text) == published
    # One published document: none under the base path that could drift from it.
    assert client.get(BASE + "/openapi.json").status_code == 404


def test_the_documentation_page_is_swagger_ui_with_its_assets_served_locally(client):
    redirect = client.get("/docs", follow_redirects=False)
    assert redirect.status_code == 307
    page = client.get(redirect.headers["location"])
    assert page.status_code == 200
    assert "swagger-ui-bundle.js" in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "a remote asset"
    script = client.get(redirect.headers["location"] + "swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


def test_a_configured_origin_may_call_the_api_and_read_retry_after(client_for):
    client = client_for(cors_origins=(WEBSITE,))
    preflight = client.options(
        GENERATE,
        headers={
            "Origin": WEBSITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,accept-language",
        },
    )
    assert preflight.status_code == 204 and preflight.content == b""
    assert "content-type" not in preflight.headers
    assert preflight.headers["access-control-allow-origin"] == WEBSITE
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    first = client.post(GENERATE, json={"phone": "13800138000"}, headers={"Origin": WEBSITE})
    again = client.post(GENERATE, json={"phone": "13800138000"}, headers={"Origin": WEBSITE})
    assert first.json()["retCode"] == "200" and again.json()["retCode"] == "201"
    assert again.headers["access-control-allow-origin"] == WEBSITE
    assert "retry-after" in again.headers["access-control-expose-headers"].lower()


def test_problems_carry_cors_headers_so_the_website_can_show_them(client_for):
    client = client_for(cors_origins=(WEBSITE,))
    bad = client.post(GENERATE, json={"phone": "call me"}, headers={"Origin": WEBSITE})
    assert bad.status_code == 400
    assert bad.headers["access-control-allow-origin"] == WEBSITE


def test_other_origins_get_no_cors_grant(client_for):
    client = client_for(cors_origins=(WEBSITE,))
    preflight = client.options(
        GENERATE,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert preflight.headers["content-type"] == "application/problem+json"
    assert preflight.json()["status"] == 403
    assert preflight.json()["detail"] == "cross-origin request refused: origin not allowed"
    assert "access-control-allow-origin" not in preflight.headers
    reply = client.post(
        GENERATE, json={"phone": "13800138001"}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in reply.headers


def test_cors_is_off_unless_configured(client):
    reply = client.post(GENERATE, json={"phone": "13800138000"}, headers={"Origin": WEBSITE})
    assert "access-control-allow-origin" not in reply.headers


def test_cors_origins_are_read_from_the_environment():
    settings = Settings.from_env(
        {"APPLYTRY_CORS_ORIGINS": "https://www.example.com, http://127.0.0.1:8080/"}
    )
    assert settings.cors_origins == ("https://www.example.com", "http://127.0.0.1:8080")
    assert Settings.from_env({"APPLYTRY_CORS_ORIGINS": "*"}).cors_origins == ("*",)


@pytest.mark.parametrize(
    "value",
    ["www.example.com", "https://www.example.com/trial", "ftp://example.com", "https://:99999"],
)
def test_a_mistyped_origin_stops_the_service(value):
    with pytest.raises(ConfigError, match="APPLYTRY_CORS_ORIGINS"):
        Settings.from_env({"APPLYTRY_CORS_ORIGINS": value})
