"""Operators' allow and deny lists of numbers, number ranges and countries."""

import peewee


def apply(database):
    class PhoneRule(peewee.Model):
        action = peewee.CharField(max_length=8)
        target = peewee.CharField(max_length=20)
        created_at = peewee.DoubleField()
        created_by = peewee.CharField(max_length=64)

        class Meta:
            legacy_table_names = False
            primary_key = peewee.CompositeKey("action", "target")

    with database.bind_ctx([PhoneRule]):
        database.create_tables([PhoneRule])
