"""Email addresses: checked for syntax (RFC 5321/5322, internationalized domains included) and
reduced to one normal form, so one mailbox is one applicant whatever its spelling."""

from __future__ import annotations

import unicodedata

import email_validator

from applytry.errors import InvalidInput


class InvalidEmail(InvalidInput):
    pass


def parse_email(raw: str) -> str:
    """The normalized address. Deliverability (DNS) is not checked: a request must not wait on
    DNS, and a mailbox that does not exist shows up as a bounced account mail."""
    try:
        checked = email_validator.validate_email(raw.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmail(f"email is not a valid address: {exc}") from exc
    return checked.normalized


def claim_key(address: str) -> str:
    """What makes two spellings one mailbox for "one trial per email": case and full-width
    forms are ignored (the domain is already folded by IDNA; the local part is not)."""
    return unicodedata.normalize("NFKC", address).casefold()
