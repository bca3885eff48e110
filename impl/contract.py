"""The contract, ``openapi.yaml``, read once a process.

The app factory hands it to connexion, the request log takes its paths and the documentation
serves it; parsed with PyYAML's pure-Python loader each time, that was most of what building
an app cost (57 ms a parse against 7 ms with the C loader), and tests build hundreds of apps.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

PATH = Path(__file__).with_name("openapi.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader where libyaml is


@functools.cache
def text() -> str:
    return PATH.read_text(encoding="utf-8")


@functools.cache
def _parsed() -> dict:
    return yaml.load(text(), Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python


def document() -> dict:
    """The spec as data, a copy of its own: connexion resolves references in what it is
    given, and nothing one app does to it may reach the next."""
    return copy.deepcopy(_parsed())
