"""Who is asking: the client address every per-client limit is keyed on.

``X-Forwarded-For`` is believed only as far as it was written by proxies the operator trusts
(``APPLYTRY_TRUSTED_PROXIES``): starting from the socket's peer, each trusted hop vouches for
the address before it, and the first untrusted address is the client. A header sent by the
client itself is never believed, so forging one evades no limit.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``192.168.1.7`` or ``::1``; ValueError for anything else."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


# A hop as proxies write it: an address, or with a port (``203.0.113.5:4711``,
# ``[2001:db8::1]:4711``), as Azure's and some other load balancers do.
_WITH_PORT = re.compile(r"\[(?P<v6>[^\]]+)\](?::\d+)?|(?P<v4>[\d.]+):\d+")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    with_port = _WITH_PORT.fullmatch(text)
    if with_port:
        text = with_port["v6"] or with_port["v4"]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str:
    """The client's address as the trusted proxies saw it."""
    current = _address(peer or "")
    if current is None:
        return peer or "unknown"
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    while trusted and any(current in network for network in trusted) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break  # a hop a trusted proxy would never write: stop at the proxy
        current = previous
    return str(current)
