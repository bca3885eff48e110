"""Solved challenges, each usable once."""

import peewee


def apply(database):
    class SpentChallenge(peewee.Model):
        key = peewee.CharField(max_length=64, primary_key=True)
        expires_at = peewee.DoubleField(index=True)

        class Meta:
            legacy_table_names = False

    with database.bind_ctx([SpentChallenge]):
        database.create_tables([SpentChallenge])
