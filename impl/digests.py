"""Keyed hashes: how phones, clients and codes are kept without being kept.

Every digest is an HMAC-SHA256 under the service secret, with a label per purpose so a digest
of one kind can never stand in for another. Without the secret, a stolen table reveals neither
phones nor codes: six digits are only a million guesses, so an unkeyed hash would not do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Digests:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _digest(self, label: str, *parts: str) -> str:
        message = "\x00".join((label, *parts)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def phone(self, e164: str) -> str:
        return self._digest("phone", e164)

    def client(self, address: str) -> str:
        return self._digest("client", address)

    def code(self, e164: str, code: str) -> str:
        """Binds the code to its phone: a code issued for one phone never checks for another."""
        return self._digest("code", e164, code)

    def setup_token(self, token: str) -> str:
        return self._digest("setup-token", token)

    def api_key(self, key: str) -> str:
        return self._digest("api-key", key)

    def receipt(self, message_id: str) -> str:
        """Authenticates a delivery receipt from a gateway that signs nothing itself: it rides
        in the status-callback URL handed to the gateway with the message."""
        return self._digest("receipt", message_id)[:32]

    def challenge_key(self) -> bytes:
        """The key ALTCHA challenges are signed with: of its own, so that a signature never
        shows anything made with the secret itself or with another digest."""
        return bytes.fromhex(self._digest("challenge-signing"))

    def challenge_phone(self, e164: str) -> str:
        """The phone a challenge is for, as its salt carries it: 64 bits, enough that no
        phone's stands in for another's."""
        return self._digest("challenge-phone", e164)[:16]

    def spent_challenge(self, kind: str, solution: str) -> str:
        """A used solution (or third-party token), kept so that it is used once."""
        return self._digest("challenge-spent", kind, solution)

    def claim(self, kind: str, value: str) -> str:
        """What a tenant holds alone (its phone, email, company), or an application in flight
        for one of them, without keeping the value."""
        return self._digest("claim", kind, value)


def new_code(length: int) -> str:
    """A uniformly random code of ``length`` decimal digits from the OS's CSPRNG."""
    return f"{secrets.randbelow(10**length):0{length}d}"
