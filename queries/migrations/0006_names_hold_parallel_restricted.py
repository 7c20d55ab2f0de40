"""millrace_name_holds is PARALLEL RESTRICTED: the names check sits in the statement's own WHERE (queries/run.py),
and a function left PARALLEL UNSAFE (PostgreSQL's default) there keeps the whole statement from a parallel
plan: a GROUP BY over a million documents ran on one process, 1.7x slower. Restricted, the check runs in the
leader, as an InitPlan that Gather evaluates before any worker reads. PostgreSQL only."""

from django.db import migrations

SIGNATURE = "millrace_name_holds(bigint, text, text, bigint)"


def restricted(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} PARALLEL RESTRICTED")


def unsafe(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} PARALLEL UNSAFE")


class Migration(migrations.Migration):
    dependencies = [("queries", "0005_names_hold")]

    operations = [migrations.RunPython(restricted, unsafe)]
