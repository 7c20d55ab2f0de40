"""Re-encrypt every stored secret with the first key of MILLRACE_ENCRYPTION_KEYS.

Rotation: put a new key first in MILLRACE_ENCRYPTION_KEYS (keep the old one after it), restart, run
this command, then drop the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from integrations import crypto
from integrations.models import Integration


class Command(BaseCommand):
    help = "Re-encrypt stored AWS secrets with the newest key in MILLRACE_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for integration in Integration.objects.select_for_update().exclude(secret_access_key_encrypted=""):
                integration.secret_access_key_encrypted = crypto.rotate(integration.secret_access_key_encrypted)
                integration.save(update_fields=["secret_access_key_encrypted"])
                count += 1
        self.stdout.write(f"Re-encrypted {count} secret(s) with the newest key.")
