"""Settings from the environment, validated once at start-up.

Every knob is an ``APPLYTRY_*`` variable (DESIGN section 2). A bad value stops the service
with one message that names every offending variable, instead of failing on the first request
that happens to need it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from applytry import messages

log = logging.getLogger(__name__)

SMS_BACKENDS = ("outbox", "webhook", "huawei", "twilio")
# Settings that may instead be read from a file named by APPLYTRY_<NAME>_FILE (a mounted
# secret), so that they never sit in the environment of every child process.
SECRET_FIELDS = (
    "secret",
    "sms_webhook_secret",
    "smtp_password",
    "provisioning_secret",
    "huawei_app_secret",
    "twilio_auth_token",
    "challenge_secret",
)
# When generateverifycode asks for a solved challenge, and whose (applytry.challenges).
CHALLENGE_POLICIES = ("off", "adaptive", "always")
CHALLENGE_PROVIDERS = ("altcha", "turnstile", "hcaptcha", "recaptcha")
EMAIL_BACKENDS = ("outbox", "smtp")
SMTP_SECURITY = ("starttls", "tls", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """The environment does not describe a service that can run."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///applytry.db"
    secret: str | None = dataclasses.field(default=None, repr=False)
    sms_backend: str = "outbox"
    sms_outbox: str = "outbox/sms.jsonl"
    sms_webhook_url: str | None = None
    sms_webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    sms_timeout_s: float = 5.0
    sms_template_en: str = messages.SMS_TEMPLATES[0]
    sms_template_zh: str = messages.SMS_TEMPLATES[1]
    sms_breaker_failures: int = 5
    sms_breaker_cooldown_s: float = 30.0
    public_url: str | None = None
    huawei_endpoint: str | None = None
    huawei_app_key: str | None = None
    huawei_app_secret: str | None = dataclasses.field(default=None, repr=False)
    huawei_sender: str | None = None
    huawei_signature: str | None = None
    huawei_template_id_zh: str | None = None
    huawei_template_id_en: str | None = None
    twilio_endpoint: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = dataclasses.field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    email_backend: str = "outbox"
    email_outbox: str = "outbox/mail.jsonl"
    mail_from: str = "applytry <no-reply@localhost>"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = dataclasses.field(default=None, repr=False)
    smtp_timeout_s: float = 10.0
    trial_days: int = 30
    provisioning_url: str | None = None
    provisioning_secret: str | None = dataclasses.field(default=None, repr=False)
    provisioning_timeout_s: float = 5.0
    code_length: int = 6
    code_ttl_s: int = 300
    resend_interval_s: int = 60
    phone_hourly_limit: int = 5
    phone_daily_limit: int = 10
    ip_per_minute: int = 20
    max_attempts: int = 5
    sms_daily_limit: int = 10000
    email_daily_limit: int = 1000
    countries: tuple[str, ...] = ("CN",)
    timezone: str = "UTC"
    log_level: str = "INFO"
    db_lock_timeout_s: float = 5.0
    db_pool_size: int = 8
    cors_origins: tuple[str, ...] = ()
    settings_refresh_s: float = 2.0
    job_retry_s: float = 30.0
    trusted_proxies: tuple[str, ...] = ()
    prefix_digits: int = 5
    prefix_hourly_limit: int = 100
    prefix_daily_limit: int = 500
    conversion_window_s: int = 3600
    conversion_min_percent: int = 20
    conversion_prefix_volume: int = 10
    conversion_country_volume: int = 30
    reputation_digits: int = 3  # national digits of the ranges that earn an allowance
    challenge_policy: str = "adaptive"  # off, adaptive (on suspicion), always
    challenge_provider: str = "altcha"  # altcha (self-hosted), turnstile, hcaptcha, recaptcha
    challenge_site_key: str | None = None  # a third-party provider's site key, for browsers
    # A third-party provider's secret, for its siteverify.
    challenge_secret: str | None = dataclasses.field(default=None, repr=False)
    challenge_verify_url: str | None = None  # the provider's siteverify; None: its public one
    challenge_ttl_s: int = 600
    challenge_min_number: int = 20_000  # ALTCHA maxnumber with no suspicion (policy always)
    challenge_max_number: int = 12_000_000  # ALTCHA maxnumber at peak suspicion
    test_numbers: tuple[tuple[str, str], ...] = ()
    signup_page: str = "on"  # GET /signup and its web component (applytry.signup); or off
    retention_days: int = 30
    request_timeout_s: float = 10.0  # for a request's head and body to arrive (applytry.edge)
    max_connections: int = 1000  # open connections a worker process holds (applytry.edge)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file behind the database URL, or None for a server database."""
        parts = urlsplit(self.database_url)
        if parts.scheme != "sqlite":
            return None
        return Path(parts.path[1:] if parts.path.startswith("/") else parts.path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads the ``APPLYTRY_*`` variables; defaults fill the rest."""
        environ = os.environ if environ is None else environ
        raw: dict[str, object] = {
            field.name: environ["APPLYTRY_" + field.name.upper()]
            for field in dataclasses.fields(cls)
            if "APPLYTRY_" + field.name.upper() in environ
        }
        unreadable: dict[str, str] = {}
        for name in SECRET_FIELDS:
            variable = f"APPLYTRY_{name.upper()}_FILE"
            if variable not in environ:
                continue
            try:
                raw[name] = Path(environ[variable]).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                # The message names the file, never its content.
                unreadable[name] = f"{variable}: cannot read {environ[variable]!r}: {exc}"
        return cls._build(raw, unreadable)

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> Settings:
        return cls._build(raw, {})

    @classmethod
    def _build(cls, raw: Mapping[str, object], bad: dict[str, str]) -> Settings:
        """Settings from ``raw``, or one ConfigError that names every bad variable: those
        whose value does not convert (and the unreadable secret files in ``bad``), then
        the rules that tie several together, checked on every value that converted. A rule
        that involves a variable already named is left out: the fix of that variable comes
        first, and a rule about a value the operator did not give would mislead."""
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            if field.name not in raw or field.name in bad:
                continue
            convert = _CONVERTERS.get(field.name, _text)
            try:
                values[field.name] = convert(raw[field.name])
            except (TypeError, ValueError) as exc:
                shown = _shown_value(field.name, raw[field.name])
                bad[field.name] = f"APPLYTRY_{field.name.upper()}{shown}: {exc}"
        settings = cls(**values)
        named = {f"APPLYTRY_{name.upper()}" for name in bad}
        errors = list(bad.values()) + [
            problem
            for problem in settings.problems()
            if not named & set(re.findall(r"APPLYTRY_[A-Z0-9_]+", problem))
        ]
        if errors:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
        return settings

    def check(self) -> None:
        """Raises ConfigError naming every broken rule that ties several settings together."""
        errors = self.problems()
        if errors:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))

    def problems(self) -> list[str]:
        """Rules that tie several settings together, each broken one in words."""
        errors = []
        if self.sms_backend == "webhook" and not self.sms_webhook_url:
            errors.append("APPLYTRY_SMS_WEBHOOK_URL is required by the webhook SMS backend")
        required = {
            "huawei": (
                "huawei_endpoint",
                "huawei_app_key",
                "huawei_app_secret",
                "huawei_sender",
                "huawei_template_id_zh",
            ),
            "twilio": ("twilio_account_sid", "twilio_auth_token"),
        }
        for name in required.get(self.sms_backend, ()):
            if not getattr(self, name):
                errors.append(
                    f"APPLYTRY_{name.upper()} is required by the {self.sms_backend} backend"
                )
        if self.sms_backend == "twilio" and not (
            self.twilio_from or self.twilio_messaging_service_sid
        ):
            errors.append(
                "the twilio backend needs APPLYTRY_TWILIO_FROM "
                "or APPLYTRY_TWILIO_MESSAGING_SERVICE_SID"
            )
        if self.email_backend == "smtp" and not self.smtp_host:
            errors.append("APPLYTRY_SMTP_HOST is required by the smtp email backend")
        if bool(self.smtp_username) != bool(self.smtp_password):
            errors.append("APPLYTRY_SMTP_USERNAME and APPLYTRY_SMTP_PASSWORD go together")
        if self.challenge_provider != "altcha" and not (
            self.challenge_site_key and self.challenge_secret
        ):
            errors.append(
                f"the {self.challenge_provider} challenge provider needs "
                "APPLYTRY_CHALLENGE_SITE_KEY and APPLYTRY_CHALLENGE_SECRET"
            )
        if self.challenge_min_number > self.challenge_max_number:
            errors.append(
                "APPLYTRY_CHALLENGE_MIN_NUMBER must not exceed APPLYTRY_CHALLENGE_MAX_NUMBER"
            )
        if self.sqlite_path is None and not self.secret:
            errors.append(
                "APPLYTRY_SECRET is required with a server database: every instance "
                "must hash codes with the same key"
            )
        return errors

    @property
    def database_where(self) -> str:
        """Where the database is, for messages: the SQLite file, or the server's host, port
        and database name; never the credentials."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        parts = urlsplit(self.database_url)
        if not parts.hostname:
            return f"the local socket, database {parts.path.lstrip('/') or '(default)'}"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.hostname}{port}{parts.path}"

    def resolve_secret(self) -> bytes:
        """The key of every hash: configured, or generated once beside the SQLite file."""
        if self.secret:
            return self.secret.encode()
        path = self.sqlite_path.with_name(self.sqlite_path.name + ".secret")
        try:
            # O_EXCL: when several workers start at once, exactly one writes the key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        log.warning("generated a new secret in %s; set APPLYTRY_SECRET in production", path)
        return path.read_text().strip().encode()


def convert(name: str, value: object) -> object:
    """One setting's value from text, by the same rules as at start-up (ValueError if bad)."""
    return _CONVERTERS.get(name, _text)(value)


def _text(value: object) -> str:
    return str(value)


def _number(kind: type, low: float, high: float, unit: str = "") -> Callable[[object], float]:
    def convert(value: object) -> float:
        try:
            number = kind(str(value).strip())
        except ValueError:
            raise ValueError(
                "must be a whole number" if kind is int else "must be a number"
            ) from None
        if not low <= number <= high:
            raise ValueError(f"must be between {_shown(low)} and {_shown(high)}{unit}")
        return number

    return convert


def _shown(bound: float) -> str:
    return f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"


def _timeout(high: float) -> Callable[[object], float]:
    """More than nothing, up to ``high`` seconds: a timeout of 0 would end everything at once."""

    def convert(value: object) -> float:
        try:
            seconds = float(str(value).strip())
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not 0 < seconds <= high:
            raise ValueError(f"must be more than 0 and at most {_shown(high)} seconds")
        return seconds

    return convert


def _integer(low: int, high: int) -> Callable[[object], int]:
    return _number(int, low, high)


def _seconds(low: float, high: float) -> Callable[[object], float]:
    return _number(float, low, high, " seconds")


def _choice(*allowed: str, fold: Callable[[str], str] = str.lower) -> Callable[[object], str]:
    def convert(value: object) -> str:
        text = fold(str(value).strip())
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return convert


def _countries(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple | list):
        codes = [str(code).strip().upper() for code in value]
    else:
        codes = [code.strip().upper() for code in str(value).split(",") if code.strip()]
    if codes == ["*"]:
        return ("*",)
    unknown = [code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS]
    if not codes or unknown:
        raise ValueError(f"unknown region codes {unknown}; use ISO 3166 codes such as CN or *")
    return tuple(codes)


def _timezone(value: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone") from exc
    return str(value)


def _database_url(value: object) -> str:
    parts = urlsplit(str(value))
    if parts.scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(
            f"scheme {parts.scheme!r} is not sqlite or postgresql "
            "(sqlite:///path or postgresql://user:password@host:port/database)"
        )
    if parts.scheme == "sqlite" and parts.path in ("", "/"):
        raise ValueError("names no file: sqlite:///applytry.db, sqlite:////var/lib/applytry.db")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise ValueError("its port is not a number from 1 to 65535") from None
    named = sorted(
        {"user", "password", "host", "port", "dbname", "options"}
        & dict(parse_qsl(parts.query)).keys()
    )
    if named:
        raise ValueError(f"give {', '.join(named)} in the URL itself, not in its query")
    return str(value)


def _shown_value(name: str, value: object) -> str:
    """``=value`` for a message about a bad setting; secrets are not shown, nor a database
    URL's password."""
    if name in SECRET_FIELDS:
        return ""
    if name == "database_url":
        parts = urlsplit(str(value))
        if parts.password is not None:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            parts = parts._replace(netloc=netloc)
        if parts.query:  # libpq takes a password there too
            parts = parts._replace(query="***")
        value = parts.geturl()
    return f"={str(value)!r}"


def _url(value: object) -> str:
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return str(value)


def _origins(value: object) -> tuple[str, ...]:
    """Web origins allowed to call the API from a browser: ``scheme://host[:port]`` each, or
    ``*`` for any. Anything with a path, query or credentials is a typo, not an origin."""
    if isinstance(value, tuple | list):
        origins = [str(origin).strip() for origin in value]
    else:
        origins = [origin.strip() for origin in str(value).split(",") if origin.strip()]
    if origins == ["*"]:
        return ("*",)
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise ValueError(f"{origin!r} is not an origin such as https://www.example.com or *")
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    return tuple(origin.rstrip("/") for origin in origins)


def _networks(value: object) -> tuple[str, ...]:
    from applytry.clients import parse_networks

    items = value if isinstance(value, tuple | list) else str(value).split(",")
    texts = tuple(str(item).strip() for item in items if str(item).strip())
    parse_networks(texts)  # ValueError names the bad one
    return texts


def _test_numbers(value: object) -> tuple[tuple[str, str], ...]:
    """``+8613800000000:123456,...``: numbers that always get this code and no SMS."""
    if isinstance(value, tuple | list):
        return tuple((str(number), str(code)) for number, code in value)
    pairs = []
    for item in (part.strip() for part in str(value).split(",")):
        if not item:
            continue
        number, _, code = item.partition(":")
        try:
            parsed = phonenumbers.parse(number.strip(), None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{number!r} is not a number in E.164 form") from exc
        if not code.strip().isdigit():
            raise ValueError(f"{item!r} needs its code after a colon, digits only")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        pairs.append((e164, code.strip()))
    return tuple(pairs)


def _template(value: object) -> str:
    text = str(value)
    try:
        text.format(code="123456", minutes=5)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"only {{code}} and {{minutes}} may be filled in: {exc}") from exc
    if "{code}" not in text:
        raise ValueError("must contain {code}")
    return text


def _mail_from(value: object) -> str:
    _name, address = email.utils.parseaddr(str(value))
    if "@" not in address:
        raise ValueError("must be an address such as 'applytry <no-reply@example.com>'")
    return str(value)


def _secret(value: object) -> str:
    if len(str(value)) < 16:
        raise ValueError("must be at least 16 characters")
    return str(value)


_CONVERTERS: dict[str, Callable[[object], object]] = {
    "database_url": _database_url,
    "secret": _secret,
    "sms_backend": _choice(*SMS_BACKENDS),
    "sms_webhook_url": _url,
    "sms_webhook_secret": _secret,
    "sms_timeout_s": _seconds(0.05, 60),
    "sms_template_en": _template,
    "sms_template_zh": _template,
    "sms_breaker_failures": _integer(1, 1000),
    "sms_breaker_cooldown_s": _seconds(1, 3600),
    "public_url": _url,
    "huawei_endpoint": _url,
    "twilio_endpoint": _url,
    "email_backend": _choice(*EMAIL_BACKENDS),
    "mail_from": _mail_from,
    "smtp_port": _integer(1, 65535),
    "smtp_security": _choice(*SMTP_SECURITY),
    "smtp_timeout_s": _seconds(0.05, 120),
    "trial_days": _integer(1, 366),
    "provisioning_url": _url,
    "provisioning_secret": _secret,
    "provisioning_timeout_s": _seconds(0.05, 60),
    "code_length": _integer(6, 10),
    "code_ttl_s": _integer(30, 600),
    "resend_interval_s": _integer(1, 3600),
    "phone_hourly_limit": _integer(1, 1000),
    "phone_daily_limit": _integer(1, 10000),
    "ip_per_minute": _integer(1, 1_000_000),
    "max_attempts": _integer(1, 20),
    "sms_daily_limit": _integer(0, 100_000_000),
    "email_daily_limit": _integer(0, 100_000_000),
    "countries": _countries,
    "timezone": _timezone,
    "log_level": _choice(*LOG_LEVELS, fold=str.upper),
    "db_lock_timeout_s": _seconds(0.01, 60),
    "db_pool_size": _integer(1, 64),
    "cors_origins": _origins,
    "settings_refresh_s": _number(float, 0, 60, " seconds"),
    "job_retry_s": _seconds(0.05, 3600),
    "trusted_proxies": _networks,
    "prefix_digits": _integer(1, 12),
    "prefix_hourly_limit": _integer(1, 100_000_000),
    "prefix_daily_limit": _integer(1, 100_000_000),
    "conversion_window_s": _integer(600, 7 * 86400),
    "conversion_min_percent": _integer(0, 100),
    "conversion_prefix_volume": _integer(1, 100_000_000),
    "conversion_country_volume": _integer(1, 100_000_000),
    "reputation_digits": _integer(1, 12),
    "challenge_policy": _choice(*CHALLENGE_POLICIES),
    "challenge_provider": _choice(*CHALLENGE_PROVIDERS),
    "challenge_secret": _secret,
    "challenge_verify_url": _url,
    "challenge_ttl_s": _integer(30, 3600),
    "challenge_min_number": _integer(1_000, 100_000_000),
    "challenge_max_number": _integer(1_000, 100_000_000),
    "test_numbers": _test_numbers,
    "signup_page": _choice("on", "off"),
    "retention_days": _integer(1, 3650),
    "request_timeout_s": _timeout(300),
    "max_connections": _integer(1, 1_000_000),
}
