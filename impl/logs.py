"""Structured logs: one JSON object a line on standard output.

Domain code logs masked phones only; as a second line of defence the formatter masks anything
in a message or a field that looks like a full phone number or an email address.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.config
import re
import time

import phonenumbers

# A run of at least nine digits, optionally led by + and split by spaces or dashes.
_PHONE_LIKE = re.compile(r"\+?\d(?:[ \-]?\d){8,}")
_EMAIL_LIKE = re.compile(r"([^\s@'\"<>(),;:]{1,64})@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Fields that are never masked: a request id is an opaque token that must match the reply's
# X-Request-ID (applytry.requestlog refuses one that is a phone number), and masking the digit
# runs of ids like req-123456789-abc would break that match.
UNMASKED = {"request_id", "message_id", "job_id", "tenant_id"}  # ids of ours, never a phone
# What every log record carries; anything else is a field the code added.
RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def _mask(match: re.Match) -> str:
    digits = match.group(0)
    return digits[:4] + "****" + digits[-4:]


def _mask_email(match: re.Match) -> str:
    return match.group(1)[0] + "***@" + match.group(2)


def mask_text(text: str) -> str:
    """Phone numbers and email addresses in free text, masked."""
    return _PHONE_LIKE.sub(_mask, _EMAIL_LIKE.sub(_mask_email, text))


def names_a_phone(text: str) -> bool:
    """Whether ``text`` holds a valid phone number: of mainland China (the default region),
    or any in international form. Stricter than the masking's digit runs, so that ids such as
    ``req-123456789-abc`` or ``1732999999999-7f3a`` (a time in milliseconds) are no phone."""
    for run in _PHONE_LIKE.findall(text):
        with contextlib.suppress(phonenumbers.NumberParseException):
            if phonenumbers.is_valid_number(phonenumbers.parse(run, "CN")):
                return True
    return False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in RECORD_ATTRIBUTES and not name.startswith("_") and value is not None:
                if isinstance(value, int | float | bool) or name in UNMASKED:
                    entry[name] = value
                else:
                    entry[name] = mask_text(str(value))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ListeningLine(logging.Filter):
    """Passes records at ``level`` and above, and uvicorn's line naming the address it listens
    on at any level: with ``serve --port 0`` it is the only word of the port the kernel chose
    (applytry.testing reads it), so a quieter APPLYTRY_LOG_LEVEL must not drop it."""

    def __init__(self, level: str):
        super().__init__()
        self.level = logging.getLevelName(level)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or str(record.msg).startswith("Uvicorn running on")


def config(level: str, stream: str = "stdout") -> dict:
    """A ``logging.config.dictConfig`` document: ours and uvicorn's loggers, all in JSON, on
    ``stream`` (``stdout`` for the service, ``stderr`` for commands whose output is data)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {
            "request_id": {"()": "applytry.requestlog.RequestIdFilter"},
            "listening": {"()": ListeningLine, "level": level},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": f"ext://sys.{stream}",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # SQL statements carry account data in their parameters (a tenant's phone and
            # email): never logged, whatever the level.
            "peewee": {"level": "INFO"},
            # connexion logs each validation error with the value that failed, which may be
            # a verification code or a phone; the caller gets the same words in its 400.
            "connexion": {"level": "WARNING"},
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.error": {
                "level": min(logging.getLevelName(level), logging.INFO),
                "filters": ["listening"],
            },
            # applytry.requestlog writes one line a request, with its id and operation.
            "uvicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
    }


def configure(level: str, stream: str = "stdout") -> None:
    logging.config.dictConfig(config(level, stream))
    logging.captureWarnings(True)  # library warnings become JSON lines too
