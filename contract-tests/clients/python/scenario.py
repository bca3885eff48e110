"""The generated-client scenario (see ../README.md) with openapi-python-client's client."""

import json
import sys

from applytry_client import Client
from applytry_client.api.apply_try import generate_verify_code
from applytry_client.models import GenerateVerifyCodeRequest, GenerateVerifyCodeResult, Problem


def main(base: str, phone: str) -> None:
    with Client(base_url=base, raise_on_unexpected_status=True) as client:

        def ask(number: str):
            body = GenerateVerifyCodeRequest(phone=number)
            return generate_verify_code.sync_detailed(client=client, body=body)

        first, second, bad = ask(phone), ask(phone), ask("not a phone")
    assert isinstance(first.parsed, GenerateVerifyCodeResult), first
    assert isinstance(second.parsed, GenerateVerifyCodeResult), second
    assert isinstance(bad.parsed, Problem), bad
    print(
        json.dumps(
            {
                "first": first.parsed.ret_code.value,
                "second": second.parsed.ret_code.value,
                "retryAfter": int(second.headers["Retry-After"]),
                "badStatus": int(bad.status_code),
                "badTitle": bad.parsed.title,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
