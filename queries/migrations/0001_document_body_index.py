"""On PostgreSQL, a GIN index (jsonb_path_ops) on the documents' bodies, for the query layer's `field =
constant` (written as `body @> {...}`). The query layer owns it, though the table is collections_app's:
only queries read through it, and SQLite has no such index. `IF NOT EXISTS` so a database that has it
already (made by hand on a big table, CONCURRENTLY) migrates at once."""

from __future__ import annotations

from django.db import migrations

INDEX = "document_body_path_ops"


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON collections_app_document USING gin (body jsonb_path_ops)"
        )


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0003_liveness")]
    operations = [migrations.RunPython(create_index, drop_index)]
