"""peewee models: what the service keeps between requests.

No verification table holds a code or a phone number in clear. Phones are keyed hashes plus a
masked form for people reading the tables; codes are keyed HMACs (DESIGN section 3). Only the
tenant, which is account data, keeps its contact phone and email in clear.
Times are UNIX seconds (floats), the same on SQLite and PostgreSQL and cheap to compare.
"""

from peewee import (
    CharField,
    CompositeKey,
    DoubleField,
    IntegerField,
    Model,
)

from .database import database


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Verification(BaseModel):
    """The current code of one phone. One row a phone: issuing a new code overwrites it in a
    single conditional upsert, so concurrent requests cannot both issue one."""

    phone_key = CharField(max_length=64, primary_key=True)
    phone_masked = CharField(max_length=32)
    code_digest = CharField(max_length=64, null=True)  # NULL: used, voided or never sent
    message_id = CharField(max_length=36)  # the SMS that carried this code
    issued_at = DoubleField()
    expires_at = DoubleField()
    resend_at = DoubleField()  # no new code for this phone before then
    attempts = IntegerField(default=0)  # wrong guesses against this code


class Counter(BaseModel):
    """Fixed-window counters behind every budget: per phone, per client, system-wide."""

    scope = CharField(max_length=16)  # what is counted: see limits.Budget
    key = CharField(max_length=64)  # whose: a keyed hash, or "*" for the whole system
    window = IntegerField()  # start of the window, UNIX seconds
    ends = IntegerField(index=True)  # end of the window: Retry-After, and when the row may go
    count = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("scope", "key", "window")


class SmsMessage(BaseModel):
    """Every SMS the service tried to send: outcome and gateway reference, never its text."""

    id = CharField(max_length=36, primary_key=True)
    phone_key = CharField(max_length=64, index=True)
    phone_masked = CharField(max_length=32)
    created_at = DoubleField(index=True)
    backend = CharField(max_length=16)
    status = CharField(max_length=16)  # pending, accepted, refused, failed, unconfirmed
    provider_ref = CharField(max_length=128, null=True, index=True)
    detail = CharField(max_length=256, null=True)
    receipt = CharField(max_length=16, null=True)  # delivered or undelivered, by the gateway
    receipt_at = DoubleField(null=True)
    receipt_detail = CharField(max_length=64, null=True)  # the gateway's status word


class Tenant(BaseModel):
    """A trial (later commercial) tenant opened by applyTenant."""

    id = CharField(max_length=36, primary_key=True)
    company_name = CharField(max_length=128)
    phone = CharField(max_length=16)  # E.164
    email = CharField(max_length=254)
    status = CharField(max_length=16)  # trial, commercial, expired, closed
    trial_start = DoubleField()
    trial_end = DoubleField(index=True)
    admin_account = CharField(max_length=64, unique=True)
    setup_token_digest = CharField(max_length=64, null=True)  # the mailed one-time token
    access_code = CharField(max_length=32, unique=True)
    language = CharField(max_length=2)  # of the account mail
    created_at = DoubleField()


class TenantClaim(BaseModel):
    """What a live tenant holds alone: its phone, its email and its company name, as keyed
    hashes of their normal forms. The primary key makes "already a tenant" (004) a decision
    of the database, so two racing applications cannot both pass it."""

    kind = CharField(max_length=8)  # phone, email, company
    key = CharField(max_length=64)
    tenant_id = CharField(max_length=36, index=True)

    class Meta:
        primary_key = CompositeKey("kind", "key")


class ApplicationLock(BaseModel):
    """An application in flight for a phone or a company (005). Taken by an atomic upsert,
    released when the application ends; one left by a crashed process lapses by itself."""

    key = CharField(max_length=64, primary_key=True)
    owner = CharField(max_length=36)
    expires_at = DoubleField()


class AccessCode(BaseModel):
    """The operator's pool of trial access codes (hotline numbers); each tenant takes one."""

    code = CharField(max_length=32, primary_key=True)
    tenant_id = CharField(max_length=36, null=True, index=True)
    imported_at = DoubleField()
    assigned_at = DoubleField(null=True)


class Job(BaseModel):
    """Work that must happen once and may fail: the account mail, the provisioning hook.
    Kept until done, retried with back-off, never dropped."""

    id = CharField(max_length=36, primary_key=True)
    kind = CharField(max_length=16)  # mail, provision
    tenant_id = CharField(max_length=36, index=True)
    status = CharField(max_length=16)  # pending, done
    attempts = IntegerField(default=0)
    next_at = DoubleField(index=True)
    claimed_until = DoubleField(default=0)  # a runner's lease, so two never run one job
    last_error = CharField(max_length=256, null=True)
    created_at = DoubleField()
    done_at = DoubleField(null=True)


class Setting(BaseModel):
    """A threshold changed by an operator at run time, over its environment default."""

    name = CharField(max_length=64, primary_key=True)
    value = CharField(max_length=64)
    updated_at = DoubleField()
    updated_by = CharField(max_length=64)


class SettingChange(BaseModel):
    """The audit trail of Setting: who changed what, when, from what."""

    name = CharField(max_length=64, index=True)
    old_value = CharField(max_length=64, null=True)
    new_value = CharField(max_length=64, null=True)
    changed_at = DoubleField()
    changed_by = CharField(max_length=64)


class PhoneRule(BaseModel):
    """An operator's allow or deny entry for a number, a number range or a country."""

    action = CharField(max_length=8)  # allow, deny
    target = CharField(max_length=20)  # +8613800138000, +86170, or CN
    created_at = DoubleField()
    created_by = CharField(max_length=64)

    class Meta:
        primary_key = CompositeKey("action", "target")


class ApiKey(BaseModel):
    """A caller's key (``X-APP-Key``), kept as its keyed hash; ``id`` is the part shown."""

    id = CharField(max_length=16, primary_key=True)
    digest = CharField(max_length=64, unique=True)
    name = CharField(max_length=64)
    created_at = DoubleField()
    created_by = CharField(max_length=64)
    revoked_at = DoubleField(null=True)


class SpentChallenge(BaseModel):
    """A solved challenge that has been used (applytry.challenges): its keyed digest, kept
    until the challenge expires, after which it is refused as expired anyway. The primary key
    makes "used once" a decision of the database, so two racing requests cannot both use it."""

    key = CharField(max_length=64, primary_key=True)
    expires_at = DoubleField(index=True)


MODELS = [
    Verification,
    Counter,
    SmsMessage,
    Tenant,
    TenantClaim,
    ApplicationLock,
    AccessCode,
    Job,
    Setting,
    SettingChange,
    PhoneRule,
    ApiKey,
    SpentChallenge,
]
