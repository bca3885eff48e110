"""Phone numbers as people type them, reduced to one E.164 identity.

``+86 138-0013-8000``, ``13800138000`` and the same digits typed full-width by a Chinese input
method are one phone for every limit, so they must leave here as one string.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import phonenumbers
from phonenumbers import PhoneNumberType

from applytry.errors import InvalidInput

# What a person may type around the digits, after NFKC has folded full-width forms.
_TYPED = re.compile(r"[0-9 ()\-.+]+")
_MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class InvalidPhone(InvalidInput):
    """The text is not a mobile number of an accepted country."""


@dataclasses.dataclass(frozen=True)
class Phone:
    e164: str
    masked: str
    country: str = ""  # ISO 3166 region, e.g. CN
    country_code: int = 0  # e.g. 86

    def prefix(self, national_digits: int) -> str:
        """The number range: country code plus the leading national digits."""
        return self.e164[: 1 + len(str(self.country_code)) + national_digits]


def parse_phone(raw: str, countries: tuple[str, ...]) -> Phone:
    """Reads a mobile number in the first accepted country unless it carries its own code."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not _TYPED.fullmatch(text):
        raise InvalidPhone("phone may contain only digits, spaces, brackets, dashes, dots and +")
    default_region = countries[0] if countries != ("*",) else "CN"
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("phone is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("phone is not a valid phone number")
    if phonenumbers.number_type(number) not in _MOBILE:
        raise InvalidPhone("phone is not a mobile number")
    if countries != ("*",) and phonenumbers.region_code_for_number(number) not in countries:
        raise InvalidPhone("phone numbers of this country are not accepted")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(
        e164=e164,
        masked=mask(e164, len(str(number.country_code))),
        country=phonenumbers.region_code_for_number(number),
        country_code=number.country_code,
    )


def mask(e164: str, country_digits: int) -> str:
    """``+8613800138000`` -> ``+86138****8000``: enough to tell numbers apart in a log."""
    head, national = e164[: 1 + country_digits], e164[1 + country_digits :]
    shown = 3 if len(national) >= 9 else 1
    return head + national[:shown] + "*" * (len(national) - shown - 4) + national[-4:]
