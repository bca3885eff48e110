"""Appending JSON lines that several processes write at once (the local outboxes)."""

from __future__ import annotations

import os
from pathlib import Path


def append_line(path: str | Path, line: str) -> None:
    """Appends ``line`` in one ``write`` to a file opened with O_APPEND, which the kernel does
    not interleave with other processes' writes. Raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
