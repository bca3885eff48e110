"""Delivery receipts on the SMS log: the gateway's final word, and a way to find a message by
the gateway's own reference."""

import peewee
from playhouse.migrate import SchemaMigrator, migrate


def apply(database):
    migrator = SchemaMigrator.from_database(database)
    migrate(
        migrator.add_column("sms_message", "receipt", peewee.CharField(max_length=16, null=True)),
        migrator.add_column("sms_message", "receipt_at", peewee.DoubleField(null=True)),
        migrator.add_column(
            "sms_message", "receipt_detail", peewee.CharField(max_length=64, null=True)
        ),
        migrator.add_index("sms_message", ("provider_ref",), False),
    )
