from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Accounts and organisations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import access  # noqa: F401 - registers the check that every URL has an access rule
