"""millrace_name_holds: the check that a collection name a query took from memory still holds (queries/run.py).

A PL/pgSQL function, so that PostgreSQL plans its lookup once per session and keeps the plan: the same
check written out in each query's message was planned every time, half the server's work for a point
lookup by `_id` (bench/sql_vs_hand.py). One call per name, each with plain values: arrays or JSON of
names cost the client (binding) or the server (unpacking) more than the check. PostgreSQL only; nothing
on SQLite, which remembers no names."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION millrace_name_holds(organisation bigint, workspace text, name text, collection bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM FROM collections_app_collection c JOIN collections_app_workspace w ON w.id = c.workspace_id
    WHERE c.id = $4 AND c.name = $3 AND w.name = $2 AND w.organisation_id = $1 AND c.status <> 'DELETED';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'millrace: collection names changed';
  END IF;
  RETURN true;
END $$
"""
DROP = "DROP FUNCTION IF EXISTS millrace_name_holds(bigint, text, text, bigint)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0003_liveness"),
        ("queries", "0004_alias_pending_collection"),
    ]

    operations = [migrations.RunPython(create, drop)]
