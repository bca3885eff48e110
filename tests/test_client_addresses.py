"""The client address every per-client limit is keyed on, for the hops proxies really write:
with ports, IPv6 in brackets, empty entries, and hops no proxy would write."""

from __future__ import annotations

import ipaddress

import pytest

from applytry.clients import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        (None, "198.51.100.1", "unknown"),
        ("", None, "unknown"),
        ("testclient", "198.51.100.1", "testclient"),  # a peer that is no address: as it is
        (" 10.1.2.3 ", None, "10.1.2.3"),
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", " , 198.51.100.1 , ", "198.51.100.1"),
        ("10.1.2.3", "198.51.100.1:4711", "198.51.100.1"),
        ("10.1.2.3", "198.51.100.1, 10.9.9.9:80", "198.51.100.1"),
        ("10.1.2.3", "[2001:db8::1]:4711", "2001:db8::1"),
        ("10.1.2.3", "[2001:db8::1]", "2001:db8::1"),
        ("10.1.2.3", "2001:DB8:0::0001", "2001:db8::1"),
        ("2001:db8:ffff::9", "203.0.113.9", "203.0.113.9"),
        # A hop no proxy writes ends the walk at the proxy that wrote it.
        ("10.1.2.3", "198.51.100.1, garbage, 10.9.9.9", "10.9.9.9"),
        ("10.1.2.3", "198.51.100.1:", "10.1.2.3"),
        ("10.1.2.3", "198.51.100.1:port", "10.1.2.3"),
        ("10.1.2.3", "[2001:db8::1]:", "10.1.2.3"),
        ("10.1.2.3", "[2001:db8::1]4711", "10.1.2.3"),
    ],
)
def test_the_client_as_the_trusted_proxies_saw_it(peer, forwarded, client):
    assert client_address(peer, forwarded, PROXIES) == client


def test_trusted_proxies_may_be_single_addresses_or_networks_with_host_bits():
    assert parse_networks([" 192.168.1.7 ", "10.1.2.3/8", "::1"]) == (
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError):
        parse_networks(["10.0.0.0/33"])
