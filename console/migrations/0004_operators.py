"""Only the installation's operators stay superusers.

Before roles, `bootstrap` and the first-run page made every organisation's first user a superuser, and
the admin site was not scoped, so organisation B's admin could read and change organisation A's rows
there. What this migration can safely decide without asking anyone:

- The earliest superuser (lowest id: the first-run page or the first `bootstrap`) stays the operator.
- Any other superuser who is an admin of an organisation got there through that old path, not by an
  operator's choice: they lose superuser and staff status and keep their organisation admin role, so
  they still manage their own organisation in the console.
- A superuser with no membership anywhere can only have been made on purpose (`createsuperuser`, or an
  operator ticking the box in the admin); they stay operators.

Nothing else changes (roles stay as they were; no one gets read-only). Going backwards leaves users as
they are: the old superuser flags can't be told apart from deliberate ones any more.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def demote_organisation_superusers(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("auth", "User")
    Membership = apps.get_model("console", "Membership")
    superusers = User.objects.filter(is_superuser=True).order_by("pk")
    first = superusers.first()
    if first is None:
        return
    org_admins = Membership.objects.filter(role="admin").values("user_id")
    superusers.exclude(pk=first.pk).filter(pk__in=org_admins).update(is_superuser=False, is_staff=False)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_roles_and_invitations"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(demote_organisation_superusers, migrations.RunPython.noop)]
