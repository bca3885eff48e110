"""The pool of trial access codes (the hotline numbers a trial tenant uses).

Operators load it (``applytry access-codes import FILE``); each successful application takes
one code in its own transaction with a single conditional UPDATE, so two racing applications
never get the same code and the last code goes to exactly one of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from applytry.db.database import is_sqlite, write_transaction
from applytry.db.models import AccessCode

# Digits, letters and the dial-pad symbols; what a hotline number or a routing code looks like.
_ACCESS_CODE = re.compile(r"[0-9A-Za-z+*#\-]{1,32}")


@dataclasses.dataclass(frozen=True)
class ImportReport:
    added: int
    already_there: int


def parse(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """Access codes from a file's lines: one a line; blank lines and ``#`` comments skipped.
    Returns the codes and, for each line that is not a code, a message naming it."""
    codes: list[str] = []
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if _ACCESS_CODE.fullmatch(text):
            codes.append(text)
        else:
            errors.append(f"line {number}: {text[:40]!r} is not an access code")
    return codes, errors


def import_codes(codes: list[str], now: float) -> ImportReport:
    """Adds the codes not in the pool yet, all in one transaction."""
    unique = list(dict.fromkeys(codes))
    added = 0
    with write_transaction():
        for start in range(0, len(unique), 500):
            rows = [{"code": code, "imported_at": now} for code in unique[start : start + 500]]
            cursor = (
                AccessCode.insert_many(rows)
                .on_conflict_ignore()
                .returning(AccessCode.code)
                .tuples()
                .execute()
            )
            added += len(list(cursor))
    return ImportReport(added=added, already_there=len(unique) - added)


def take(tenant_id: str, now: float) -> str | None:
    """Gives the oldest free code to the tenant, inside the caller's transaction; None when the
    pool is empty. On PostgreSQL, SKIP LOCKED lets racing applications take different codes
    instead of queueing on one; SQLite's write lock serializes them anyway."""
    free = (
        AccessCode.select(AccessCode.code)
        .where(AccessCode.tenant_id.is_null())
        .order_by(AccessCode.imported_at, AccessCode.code)
        .limit(1)
    )
    if not is_sqlite():
        free = free.for_update("FOR UPDATE SKIP LOCKED")
    cursor = (
        AccessCode.update(tenant_id=tenant_id, assigned_at=now)
        .where(AccessCode.code.in_(free) & AccessCode.tenant_id.is_null())
        .returning(AccessCode.code)
        .tuples()
        .execute()
    )
    taken = [row[0] for row in cursor]
    return taken[0] if taken else None


def pool() -> list[AccessCode]:
    return list(AccessCode.select().order_by(AccessCode.imported_at, AccessCode.code))
