"""Teaches schemathesis what ``format: phone`` and ``format: email`` strings are.

JSON Schema cannot say which strings are real mobile numbers, or addresses that can receive
mail, so without this every schema-valid but unreal phone ("0", "((((") or address
(``x@y.test``, a special-use domain that never receives mail) would be a "valid request" that
the service rightly answers with 400. With it, positive cases are real mobile numbers of the
region the service under test accepts (China, the default), in every spelling the spec allows,
and addresses under public top-level domains, and the ``positive_data_acceptance`` check keeps
its full strength. Negative cases still come from the schema itself.
"""

from __future__ import annotations

import os

import phonenumbers
import schemathesis
from hypothesis import assume
from hypothesis import strategies as st

from applytry.digests import Digests
from applytry.receipts import twilio_signature

REGION = "CN"
# Leading digits of mainland mobile ranges; phonenumbers decides which of them are valid.
MOBILE_PREFIXES = [f"1{second}{third}" for second in "3456789" for third in "0123456789"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _spellings(number: phonenumbers.PhoneNumber) -> list[str]:
    national = str(number.national_number)
    return [
        national,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        f"{national[:3]}-{national[3:7]}-{national[7:]}",
        f"(+86) {national[:3]} {national[3:7]} {national[7:]}",
        national.translate(FULL_WIDTH),
    ]


@st.composite
def mobile_numbers(draw) -> str:
    prefix = draw(st.sampled_from(MOBILE_PREFIXES))
    subscriber = draw(st.integers(min_value=0, max_value=99_999_999))
    try:
        number = phonenumbers.parse(f"{prefix}{subscriber:08d}", REGION)
    except phonenumbers.NumberParseException:
        number = None  # a carrier-selection prefix such as 17951 swallows the number
    assume(number is not None and phonenumbers.is_valid_number(number))
    return draw(st.sampled_from(_spellings(number)))


# Local parts and domain labels as mailbox providers hand them out; public top-level domains.
ADDRESSES = st.from_regex(
    r"\A[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?@([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.){1,3}"
    r"(com|cn|net|org|io|de|co\.uk)\Z"
).filter(lambda address: ".." not in address and ".@" not in address)

schemathesis.openapi.format("phone", mobile_numbers())
schemathesis.openapi.format("email", ADDRESSES)


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="/sms/receipts/")
class GatewayProof:
    """What a real gateway holds: Huawei gets the per-message token in the callback URL we
    hand it, Twilio signs with the account's auth token. Without it every receipt is refused
    (403) and the code behind the check would go untested; the ``ignored_auth`` check still
    sends receipts without it. The service under test shares these values (test_fuzzing.py)."""

    def get(self, case, ctx):
        return os.environ["APPLYTRY_SECRET"]

    def set(self, case, secret, ctx):
        if case.path.endswith("/huawei"):
            message = str((case.query or {}).get("message", ""))
            case.query = {**(case.query or {}), "token": Digests(secret.encode()).receipt(message)}
            return
        if isinstance(case.body, dict):
            case.body["AccountSid"] = os.environ["APPLYTRY_TWILIO_ACCOUNT_SID"]
            form = {name: str(value) for name, value in case.body.items()}
        else:
            form = {}
        url = os.environ["APPLYTRY_PUBLIC_URL"] + "/apiaccess/rest/ipccprovision/v1" + case.path
        signature = twilio_signature(os.environ["APPLYTRY_TWILIO_AUTH_TOKEN"], url, form)
        case.headers = {**(case.headers or {}), "X-Twilio-Signature": signature}
