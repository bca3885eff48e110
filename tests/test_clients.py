"""Client addresses: X-Forwarded-For believed only as far as trusted proxies wrote it."""

from __future__ import annotations

import httpx
import pytest

from applytry.app import create_app
from applytry.clients import client_address, parse_networks
from applytry.config import ConfigError, Settings
from conftest import generate

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.7", None, PROXIES, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", PROXIES, "203.0.113.7"),  # not from a proxy: forged
        ("10.1.2.3", "198.51.100.1", PROXIES, "198.51.100.1"),
        ("10.1.2.3", "1.2.3.4, 198.51.100.1", PROXIES, "198.51.100.1"),  # 1.2.3.4 is forged
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", PROXIES, "198.51.100.1"),  # two proxies
        ("10.1.2.3", "10.8.8.8, 10.9.9.9", PROXIES, "10.8.8.8"),  # every hop ours
        ("10.1.2.3", "garbage", PROXIES, "10.1.2.3"),
        ("10.1.2.3", "198.51.100.1", (), "10.1.2.3"),  # no proxy trusted
        ("::1", "2001:db8::5", PROXIES, "2001:db8::5"),
    ],
)
def test_the_client_is_the_first_address_no_trusted_proxy_vouches_past(
    peer, forwarded, trusted, client
):
    assert client_address(peer, forwarded, trusted) == client


@pytest.mark.parametrize(
    ("peer", "statuses"),
    [
        ("203.0.113.7", [200, 200, 200, 429, 429]),  # forged: one client, one budget
        ("10.1.2.3", [200] * 5),  # a trusted proxy's word: five clients
    ],
)
def test_a_forged_header_does_not_evade_the_per_client_limit(settings_for, clock, peer, statuses):
    settings = settings_for(ip_per_minute=3, trusted_proxies="10.0.0.0/8")
    app = create_app(settings, clock=clock, configure_logging=False, validate_responses=True)
    # The test client's own peer, "testclient", is no address: the header would never be read.
    with app.test_client(client=(peer, 50000)) as client:
        replies = [
            generate(client, f"1380013800{n}", **{"X-Forwarded-For": f"198.51.100.{n}"})
            for n in range(5)
        ]
    assert [reply.status_code for reply in replies] == statuses


@pytest.mark.servers
def test_behind_a_trusted_proxy_each_client_has_its_own_limit(serve):
    base = serve(ip_per_minute=1, trusted_proxies="127.0.0.1")
    with httpx.Client(base_url=base) as http:
        replies = [
            generate(http, f"1380013800{n}", **{"X-Forwarded-For": f"198.51.100.{n % 2}"})
            for n in range(4)
        ]
    assert [reply.status_code for reply in replies] == [200, 200, 429, 429]


def test_trusted_proxies_are_checked_at_start_up():
    assert Settings.from_env({"APPLYTRY_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == (
        "10.0.0.0/8",
        "::1",
    )
    with pytest.raises(ConfigError, match="APPLYTRY_TRUSTED_PROXIES"):
        Settings.from_env({"APPLYTRY_TRUSTED_PROXIES": "10.0.0.0/33"})
