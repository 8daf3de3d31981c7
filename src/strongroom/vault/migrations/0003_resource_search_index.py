"""The search index on resources and account usernames (vault.search): pg_trgm GIN
indexes on PostgreSQL (the migration creates the extension when the user may: see
docs/operations.md), an FTS5 trigram table kept current by triggers on SQLite. Nothing in
Django's model state changes.

It builds what vault.search defines today: a later change to those definitions needs its own
migration that calls ``sqlite_index_build`` (drops and rebuilds) or ``pg_index_drop`` then
``pg_index_install`` again."""

from django.db import migrations


def forwards(apps, schema_editor):
    from strongroom.vault import search

    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            search.pg_index_install(cursor)
        elif vendor == "sqlite":
            search.sqlite_index_build(cursor)


def backwards(apps, schema_editor):
    from strongroom.vault import search

    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            search.pg_index_drop(cursor)  # pg_trgm stays: other databases' objects may use it
        elif vendor == "sqlite":
            search.sqlite_index_drop(cursor)


class Migration(migrations.Migration):
    dependencies = [("vault", "0002_favourites")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
