"""Callers' API keys, kept as keyed hashes."""

import peewee


def apply(database):
    class ApiKey(peewee.Model):
        id = peewee.CharField(max_length=16, primary_key=True)
        digest = peewee.CharField(max_length=64, unique=True)
        name = peewee.CharField(max_length=64)
        created_at = peewee.DoubleField()
        created_by = peewee.CharField(max_length=64)
        revoked_at = peewee.DoubleField(null=True)

        class Meta:
            legacy_table_names = False

    with database.bind_ctx([ApiKey]):
        database.create_tables([ApiKey])
