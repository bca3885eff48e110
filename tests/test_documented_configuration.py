"""The README's Configuration section, taken at its word: every default in its table, the
ranges it gives, the secrets that may come from files, and the defaults that name another
variable (the webhook's and the hook's signing keys fall back to APPLYTRY_SECRET)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from applytry.config import ConfigError, Settings
from applytry.phones import parse_phone
from conftest import SECRET, apply_tenant, generate, load_access_codes
from imitations import ACCOUNT, APP_KEY, APP_SECRET, TOKEN

PHONE, E164 = "13800138000", "+8613800138000"

# The table in README.md, "Configuration", variable by variable.
DOCUMENTED_DEFAULTS = {
    "APPLYTRY_DATABASE_URL": ("database_url", "sqlite:///applytry.db"),
    "APPLYTRY_SMS_BACKEND": ("sms_backend", "outbox"),
    "APPLYTRY_SMS_OUTBOX": ("sms_outbox", "outbox/sms.jsonl"),
    "APPLYTRY_SMS_WEBHOOK_URL": ("sms_webhook_url", None),
    "APPLYTRY_SMS_TIMEOUT_S": ("sms_timeout_s", 5),
    "APPLYTRY_SMS_BREAKER_FAILURES": ("sms_breaker_failures", 5),
    "APPLYTRY_SMS_BREAKER_COOLDOWN_S": ("sms_breaker_cooldown_s", 30),
    "APPLYTRY_PUBLIC_URL": ("public_url", None),
    "APPLYTRY_TWILIO_ENDPOINT": ("twilio_endpoint", "https://api.twilio.com"),
    "APPLYTRY_CODE_LENGTH": ("code_length", 6),
    "APPLYTRY_CODE_TTL_S": ("code_ttl_s", 300),
    "APPLYTRY_RESEND_INTERVAL_S": ("resend_interval_s", 60),
    "APPLYTRY_PHONE_HOURLY_LIMIT": ("phone_hourly_limit", 5),
    "APPLYTRY_PHONE_DAILY_LIMIT": ("phone_daily_limit", 10),
    "APPLYTRY_IP_PER_MINUTE": ("ip_per_minute", 20),
    "APPLYTRY_MAX_ATTEMPTS": ("max_attempts", 5),
    "APPLYTRY_SMS_DAILY_LIMIT": ("sms_daily_limit", 10000),
    "APPLYTRY_EMAIL_DAILY_LIMIT": ("email_daily_limit", 1000),
    "APPLYTRY_EMAIL_BACKEND": ("email_backend", "outbox"),
    "APPLYTRY_EMAIL_OUTBOX": ("email_outbox", "outbox/mail.jsonl"),
    "APPLYTRY_MAIL_FROM": ("mail_from", "applytry <no-reply@localhost>"),
    "APPLYTRY_SMTP_HOST": ("smtp_host", None),
    "APPLYTRY_SMTP_PORT": ("smtp_port", 587),
    "APPLYTRY_SMTP_SECURITY": ("smtp_security", "starttls"),
    "APPLYTRY_SMTP_TIMEOUT_S": ("smtp_timeout_s", 10),
    "APPLYTRY_TRIAL_DAYS": ("trial_days", 30),
    "APPLYTRY_PROVISIONING_URL": ("provisioning_url", None),
    "APPLYTRY_PROVISIONING_TIMEOUT_S": ("provisioning_timeout_s", 5),
    "APPLYTRY_SETTINGS_REFRESH_S": ("settings_refresh_s", 2),
    "APPLYTRY_JOB_RETRY_S": ("job_retry_s", 30),
    "APPLYTRY_TRUSTED_PROXIES": ("trusted_proxies", ()),
    "APPLYTRY_PREFIX_DIGITS": ("prefix_digits", 5),
    "APPLYTRY_PREFIX_HOURLY_LIMIT": ("prefix_hourly_limit", 100),
    "APPLYTRY_PREFIX_DAILY_LIMIT": ("prefix_daily_limit", 500),
    "APPLYTRY_REPUTATION_DIGITS": ("reputation_digits", 3),
    "APPLYTRY_CONVERSION_WINDOW_S": ("conversion_window_s", 3600),
    "APPLYTRY_CONVERSION_MIN_PERCENT": ("conversion_min_percent", 20),
    "APPLYTRY_CONVERSION_PREFIX_VOLUME": ("conversion_prefix_volume", 10),
    "APPLYTRY_CONVERSION_COUNTRY_VOLUME": ("conversion_country_volume", 30),
    "APPLYTRY_CHALLENGE_POLICY": ("challenge_policy", "adaptive"),
    "APPLYTRY_CHALLENGE_MIN_NUMBER": ("challenge_min_number", 20000),
    "APPLYTRY_CHALLENGE_MAX_NUMBER": ("challenge_max_number", 12000000),
    "APPLYTRY_CHALLENGE_TTL_S": ("challenge_ttl_s", 600),
    "APPLYTRY_CHALLENGE_PROVIDER": ("challenge_provider", "altcha"),
    "APPLYTRY_CHALLENGE_SITE_KEY": ("challenge_site_key", None),
    "APPLYTRY_CHALLENGE_VERIFY_URL": ("challenge_verify_url", None),
    "APPLYTRY_TEST_NUMBERS": ("test_numbers", ()),
    "APPLYTRY_RETENTION_DAYS": ("retention_days", 30),
    "APPLYTRY_COUNTRIES": ("countries", ("CN",)),
    "APPLYTRY_TIMEZONE": ("timezone", "UTC"),
    "APPLYTRY_LOG_LEVEL": ("log_level", "INFO"),
    "APPLYTRY_DB_LOCK_TIMEOUT_S": ("db_lock_timeout_s", 5),
    "APPLYTRY_CORS_ORIGINS": ("cors_origins", ()),
    "APPLYTRY_SIGNUP_PAGE": ("signup_page", "on"),
    "APPLYTRY_REQUEST_TIMEOUT_S": ("request_timeout_s", 10),
    "APPLYTRY_MAX_CONNECTIONS": ("max_connections", 1000),
}


def test_every_default_in_the_configuration_table_is_the_one_the_service_takes():
    settings = Settings.from_env({})
    taken = {
        variable: getattr(settings, attribute)
        for variable, (attribute, _) in DOCUMENTED_DEFAULTS.items()
    }
    assert taken == {variable: value for variable, (_, value) in DOCUMENTED_DEFAULTS.items()}


@pytest.mark.parametrize(
    ("variable", "attribute"),
    [
        ("APPLYTRY_SECRET", "secret"),
        ("APPLYTRY_SMS_WEBHOOK_SECRET", "sms_webhook_secret"),
        ("APPLYTRY_SMTP_PASSWORD", "smtp_password"),
        ("APPLYTRY_PROVISIONING_SECRET", "provisioning_secret"),
        ("APPLYTRY_HUAWEI_APP_SECRET", "huawei_app_secret"),
        ("APPLYTRY_TWILIO_AUTH_TOKEN", "twilio_auth_token"),
        ("APPLYTRY_CHALLENGE_SECRET", "challenge_secret"),
    ],
)
def test_each_documented_secret_may_be_read_from_a_file_and_is_never_shown(
    tmp_path, variable, attribute
):
    kept = tmp_path / "kept"
    kept.write_text("from-a-file-7f3a9c\n")
    environ = {f"{variable}_FILE": str(kept)}
    if attribute == "smtp_password":
        environ["APPLYTRY_SMTP_USERNAME"] = "applytry"

    settings = Settings.from_env(environ)

    assert getattr(settings, attribute) == "from-a-file-7f3a9c"
    assert "from-a-file-7f3a9c" not in repr(settings)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**environ, "APPLYTRY_CODE_TTL_S": "forever"})
    assert "from-a-file-7f3a9c" not in str(refused.value)


def test_codes_have_six_to_ten_digits(client_for, outbox):
    for digits in ("6", "10"):
        assert Settings.from_env({"APPLYTRY_CODE_LENGTH": digits}).code_length == int(digits)
    for digits in ("5", "11"):
        with pytest.raises(ConfigError, match="APPLYTRY_CODE_LENGTH"):
            Settings.from_env({"APPLYTRY_CODE_LENGTH": digits})

    client = client_for(code_length=8)
    assert generate(client, PHONE).json()["retCode"] == "200"
    [sms] = outbox.messages()
    assert re.search(r"(?<!\d)\d{8}(?!\d)", sms["text"])


def test_a_code_lives_at_most_ten_minutes():
    assert Settings.from_env({"APPLYTRY_CODE_TTL_S": "600"}).code_ttl_s == 600
    with pytest.raises(ConfigError, match="APPLYTRY_CODE_TTL_S"):
        Settings.from_env({"APPLYTRY_CODE_TTL_S": "601"})


@pytest.mark.parametrize("given", ["APPLYTRY_SMTP_USERNAME", "APPLYTRY_SMTP_PASSWORD"])
def test_an_smtp_login_needs_both_name_and_password(given):
    with pytest.raises(ConfigError, match="APPLYTRY_SMTP_USERNAME and APPLYTRY_SMTP_PASSWORD"):
        Settings.from_env({given: "applytry"})


@pytest.mark.parametrize(
    ("countries", "typed", "e164"),
    [
        (("GB", "CN"), "07400 123456", "+447400123456"),
        (("GB", "CN"), "+86 138 0013 8000", E164),
        (("*",), "13800138000", E164),
        (("*",), "+44 7400 123456", "+447400123456"),
    ],
)
def test_numbers_without_a_country_code_are_read_in_the_first_accepted_country(
    countries, typed, e164
):
    assert parse_phone(typed, countries).e164 == e164


def test_the_sms_outbox_holds_one_json_object_a_line_with_id_to_and_text(client, outbox):
    generate(client, PHONE)
    generate(client, "13900139000")

    lines = outbox.path.read_text().splitlines()

    assert [set(json.loads(line)) for line in lines] == [{"id", "to", "text"}] * 2
    assert [json.loads(line)["to"] for line in lines] == [E164, "+8613900139000"]


def test_the_webhook_is_signed_with_the_service_secret_unless_it_has_its_own(client_for, gateway):
    client = client_for(sms_backend="webhook", sms_webhook_url=gateway.url)

    assert generate(client, PHONE).json()["retCode"] == "200"

    [request] = gateway.requests
    signed = request["headers"]["x-applytry-timestamp"].encode() + b"." + request["body"]
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert request["headers"]["x-applytry-signature"] == "v1=" + expected


def test_the_provisioning_hook_is_signed_with_the_service_secret_unless_it_has_its_own(
    client_for, outbox, gateway
):
    client = client_for(provisioning_url=gateway.url)
    load_access_codes("95555001")
    generate(client, PHONE)

    assert apply_tenant(client, PHONE, outbox.code_for(E164)).json()["returnCode"] == "000"

    [request] = gateway.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    signed = headers["x-applytry-timestamp"].encode() + b"." + request["body"]
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-applytry-signature"] == "v1=" + expected


# --- the gateways' options ------------------------------------------------------------------


def test_without_an_english_huawei_template_english_callers_get_the_chinese_one(client_for, huawei):
    client = client_for(
        sms_backend="huawei",
        huawei_endpoint=huawei.url,
        huawei_app_key=APP_KEY,
        huawei_app_secret=APP_SECRET,
        huawei_sender="8824110605***",
        huawei_template_id_zh="tpl-zh-0001",
    )

    reply = generate(client, PHONE, **{"Accept-Language": "en-US"})

    assert reply.json()["retCode"] == "200"
    assert huawei.requests[0]["form"]["templateId"] == "tpl-zh-0001"


def test_without_a_public_url_no_gateway_is_asked_for_receipts(client_for, twilio, huawei):
    client = client_for(
        sms_backend="twilio",
        twilio_endpoint=twilio.url,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_from="+15017122661",
    )
    assert generate(client, PHONE).json()["retCode"] == "200"
    assert "StatusCallback" not in twilio.requests[0]["form"]

    client = client_for(
        sms_backend="huawei",
        huawei_endpoint=huawei.url,
        huawei_app_key=APP_KEY,
        huawei_app_secret=APP_SECRET,
        huawei_sender="8824110605***",
        huawei_template_id_zh="tpl-zh-0001",
    )
    assert generate(client, "13900139000").json()["retCode"] == "200"
    assert "statusCallback" not in huawei.requests[0]["form"]
