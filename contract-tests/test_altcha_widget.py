"""The challenge as a browser meets it: ALTCHA's own JavaScript library (npm ``altcha-lib``,
whose v1 solver the ALTCHA widget runs) solves a challenge from a running server, and the
payload it makes, as the widget sends it, is what generateverifycode takes.

The service's tests solve with the Python library the server is built on; only this shows
that the other side of the protocol, written by someone else, agrees with it."""

from __future__ import annotations

import json

from conftest import HERE, require, run

BASE = "/apiaccess/rest/ipccprovision/v1/applyTry"
PHONE = "+8613800138123"

# What a page does with the widget: ask for the phone's challenge, let altcha-lib find the
# number, and send back base64(JSON) of the challenge's fields, the number and the time taken.
PAGE = """
import { solveChallenge } from "altcha-lib/v1";

const [base, phone] = process.argv.slice(1);
const post = async (path, body) => {
  const reply = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: reply.status, body: await reply.json() };
};

const first = await post("/generateverifycode", { phone });
const challenge = (await post("/challenge", { phone })).body;
const solution = await solveChallenge(
  challenge.challenge, challenge.salt, challenge.algorithm, challenge.maxnumber
).promise;
const payload = btoa(JSON.stringify({
  algorithm: challenge.algorithm,
  challenge: challenge.challenge,
  number: solution.number,
  salt: challenge.salt,
  signature: challenge.signature,
  took: solution.took,
}));
const second = await post("/generateverifycode", { phone, challenge: payload });
console.log(JSON.stringify({ first, challenge, second }));
"""


def test_the_altcha_widgets_solver_gets_a_code_through(start_service, node_tools):
    node = require("node")["node"]
    service = start_service(
        challenge_policy="always", challenge_min_number=1000, challenge_max_number=1000
    )

    printed = run(
        [node, "--input-type=module", "-e", PAGE, service.url + BASE, PHONE],
        cwd=HERE,
        timeout_s=60,
    )
    said = json.loads(printed.strip().splitlines()[-1])

    assert said["first"]["body"]["challengeRequired"] is True
    assert said["challenge"]["kind"] == "altcha" and said["challenge"]["maxnumber"] == 1000
    assert said["second"] == {
        "status": 200,
        "body": {"retCode": "200", "retMsg": "The short message is sent successfully."},
    }
    outbox = service.workdir / "outbox" / "sms.jsonl"
    assert [json.loads(line)["to"] for line in outbox.read_text().splitlines()] == [PHONE]
