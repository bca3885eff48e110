"""peewee models: what the service keeps between requests.

Nothing here holds a verification code or a phone number in clear. Phones are keyed hashes
plus a masked form for people reading the tables; codes are keyed HMACs (DESIGN section 3).
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
    provider_ref = CharField(max_length=128, null=True)
    detail = CharField(max_length=256, null=True)


MODELS = [Verification, Counter, SmsMessage]
