"""The sign-up component's own SHA-256 (impl/signup/src/sha256.ts), which its challenge solver
uses instead of the browser's promise-per-hash digest, against Node.js's SHA-256 (OpenSSL): the
same digest for every input of a generated corpus, whole and split into a prefix hashed ahead
and a suffix, across the block and padding boundaries."""

from __future__ import annotations

import json

from conftest import SIGNUP, require, run

# Lengths around 55/56 (padding that needs a second block) and 64 (a whole block) matter most.
CHECK = r"""
import crypto from "node:crypto";
import { PrefixedSha256 } from "./sha256.mjs";

let seed = 20261205;
const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
const bytes = (length) => Uint8Array.from({ length }, () => next() & 0xff);
const hex = (words) => Array.from(words, (w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
const reference = (...parts) => {
  const hash = crypto.createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
};

const wrong = [];
let checked = 0;
for (let length = 0; length <= 300; length++) {
  const message = bytes(length);
  checked++;
  const whole = new PrefixedSha256(new Uint8Array(0)).digest(message);
  if (hex(whole) !== reference(message)) wrong.push(`whole ${length}`);
}
for (let round = 0; round < 3000; round++) {
  const prefix = bytes(next() % 200);
  const suffix = bytes(next() % 80);
  const hash = new PrefixedSha256(prefix);
  checked++;
  if (hex(hash.digest(suffix)) !== reference(prefix, suffix)) {
    wrong.push(`prefix ${prefix.length} + suffix ${suffix.length}`);
  }
  // A second suffix on the same prefix: the prefix's state must not have moved.
  const again = bytes(next() % 20);
  checked++;
  if (hex(hash.digest(again)) !== reference(prefix, again)) {
    wrong.push(`prefix ${prefix.length} + second suffix ${again.length}`);
  }
}
console.log(JSON.stringify({ checked, wrong: wrong.slice(0, 20) }));
"""


def test_the_solvers_sha256_is_node_js_sha256_on_a_generated_corpus(tmp_path, signup_tools):
    node = require("node")["node"]
    esbuild = str(signup_tools / ".bin" / "esbuild")
    source = str(SIGNUP / "src" / "sha256.ts")
    run(
        [esbuild, source, "--format=esm", f"--outfile={tmp_path / 'sha256.mjs'}"],
        cwd=tmp_path,
        timeout_s=60,
    )
    (tmp_path / "check.mjs").write_text(CHECK)

    said = json.loads(run([node, "check.mjs"], cwd=tmp_path, timeout_s=120).splitlines()[-1])

    assert said["checked"] == 301 + 6000
    assert said["wrong"] == []
