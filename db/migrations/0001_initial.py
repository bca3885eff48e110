"""Verification codes, budget counters and the SMS log."""

import peewee


def apply(database):
    class Base(peewee.Model):
        class Meta:
            legacy_table_names = False

    class Verification(Base):
        phone_key = peewee.CharField(max_length=64, primary_key=True)
        phone_masked = peewee.CharField(max_length=32)
        code_digest = peewee.CharField(max_length=64, null=True)
        message_id = peewee.CharField(max_length=36)
        issued_at = peewee.DoubleField()
        expires_at = peewee.DoubleField()
        resend_at = peewee.DoubleField()
        attempts = peewee.IntegerField(default=0)

    class Counter(Base):
        scope = peewee.CharField(max_length=16)
        key = peewee.CharField(max_length=64)
        window = peewee.IntegerField()
        ends = peewee.IntegerField(index=True)
        count = peewee.IntegerField(default=0)

        class Meta:
            primary_key = peewee.CompositeKey("scope", "key", "window")

    class SmsMessage(Base):
        id = peewee.CharField(max_length=36, primary_key=True)
        phone_key = peewee.CharField(max_length=64, index=True)
        phone_masked = peewee.CharField(max_length=32)
        created_at = peewee.DoubleField(index=True)
        backend = peewee.CharField(max_length=16)
        status = peewee.CharField(max_length=16)
        provider_ref = peewee.CharField(max_length=128, null=True)
        detail = peewee.CharField(max_length=256, null=True)

    models = [Verification, Counter, SmsMessage]
    with database.bind_ctx(models):
        database.create_tables(models)
