"""docs/promises.md names, for each promise of the README and docs/operations.md, the tests
that hold it. A renamed or removed test would leave a promise held by nothing while the list
still says otherwise."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"T": ROOT / "tests", "C": ROOT / "contract-tests"}
NAMED = re.compile(r"`([TC])/([\w/]+\.py)::(\w+)`")


def test_every_test_the_promises_name_exists():
    named = NAMED.findall((ROOT / "docs" / "promises.md").read_text(encoding="utf-8"))
    assert len(named) > 200  # the list is read, not skipped over
    missing = [
        f"{folder}/{path}::{name}"
        for folder, path, name in named
        if not (FOLDERS[folder] / path).exists()
        or not re.search(
            rf"^\s*(async )?def {name}\(", (FOLDERS[folder] / path).read_text(), re.MULTILINE
        )
    ]
    assert missing == []
