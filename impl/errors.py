"""Errors the domain raises for ``problems.py`` to answer."""

from __future__ import annotations


class InvalidInput(ValueError):
    """A value the schema lets through is not what its field says (a phone that is no mobile
    number, an address that is no email address): HTTP 400, and nothing changes."""
