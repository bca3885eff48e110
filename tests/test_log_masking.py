"""Phone numbers of every length a country uses are masked in the JSON log lines, not only the
eleven digits of a Chinese mobile: the formatter is the last defence for a number that reaches a
message or a field by a path that forgot to mask it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from applytry.logs import JsonFormatter


def written(message: str, *args, **fields) -> dict:
    """The JSON line the service's formatter writes for one record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("applytry.masking")
    logger.addHandler(handler)
    try:
        logger.warning(message, *args, extra=fields)
    finally:
        logger.removeHandler(handler)
    [line] = stream.getvalue().splitlines()
    return json.loads(line)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+65 8123 4567", "+65 ****4567"),  # Singapore: eight national digits
        ("2015550123", "2015****0123"),  # the United States without its country code
        ("+1 201-555-0123", "+1 2****0123"),
        ("612345678", "6123****5678"),  # nine digits, as a French mobile is written abroad
    ],
)
def test_a_nine_or_ten_digit_phone_is_masked_in_the_message_and_in_fields(phone, masked):
    line = written("gateway refused the message to %s", phone, destination=phone)

    assert line["msg"] == f"gateway refused the message to {masked}"
    assert line["destination"] == masked
    assert phone not in json.dumps(line, ensure_ascii=False)


def test_an_eight_digit_access_code_is_no_phone_and_stays_readable():
    line = written("access code %s taken", "95555001", access_code="95555001")

    assert (line["msg"], line["access_code"]) == ("access code 95555001 taken", "95555001")
