"""Trial tenants and what they hold, the access-code pool, retried jobs, run-time settings."""

import peewee


def apply(database):
    class Base(peewee.Model):
        class Meta:
            legacy_table_names = False

    class Tenant(Base):
        id = peewee.CharField(max_length=36, primary_key=True)
        company_name = peewee.CharField(max_length=128)
        phone = peewee.CharField(max_length=16)
        email = peewee.CharField(max_length=254)
        status = peewee.CharField(max_length=16)
        trial_start = peewee.DoubleField()
        trial_end = peewee.DoubleField(index=True)
        admin_account = peewee.CharField(max_length=64, unique=True)
        setup_token_digest = peewee.CharField(max_length=64, null=True)
        access_code = peewee.CharField(max_length=32, unique=True)
        language = peewee.CharField(max_length=2)
        created_at = peewee.DoubleField()

    class TenantClaim(Base):
        kind = peewee.CharField(max_length=8)
        key = peewee.CharField(max_length=64)
        tenant_id = peewee.CharField(max_length=36, index=True)

        class Meta:
            primary_key = peewee.CompositeKey("kind", "key")

    class ApplicationLock(Base):
        key = peewee.CharField(max_length=64, primary_key=True)
        owner = peewee.CharField(max_length=36)
        expires_at = peewee.DoubleField()

    class AccessCode(Base):
        code = peewee.CharField(max_length=32, primary_key=True)
        tenant_id = peewee.CharField(max_length=36, null=True, index=True)
        imported_at = peewee.DoubleField()
        assigned_at = peewee.DoubleField(null=True)

    class Job(Base):
        id = peewee.CharField(max_length=36, primary_key=True)
        kind = peewee.CharField(max_length=16)
        tenant_id = peewee.CharField(max_length=36, index=True)
        status = peewee.CharField(max_length=16)
        attempts = peewee.IntegerField(default=0)
        next_at = peewee.DoubleField(index=True)
        claimed_until = peewee.DoubleField(default=0)
        last_error = peewee.CharField(max_length=256, null=True)
        created_at = peewee.DoubleField()
        done_at = peewee.DoubleField(null=True)

    class Setting(Base):
        name = peewee.CharField(max_length=64, primary_key=True)
        value = peewee.CharField(max_length=64)
        updated_at = peewee.DoubleField()
        updated_by = peewee.CharField(max_length=64)

    class SettingChange(Base):
        name = peewee.CharField(max_length=64, index=True)
        old_value = peewee.CharField(max_length=64, null=True)
        new_value = peewee.CharField(max_length=64, null=True)
        changed_at = peewee.DoubleField()
        changed_by = peewee.CharField(max_length=64)

    models = [Tenant, TenantClaim, ApplicationLock, AccessCode, Job, Setting, SettingChange]
    with database.bind_ctx(models):
        database.create_tables(models)
