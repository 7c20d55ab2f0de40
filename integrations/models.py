"""A DynamoDB integration: a named, validated way into one AWS account."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from console.models import Organisation, OrganisationQuerySet
from integrations import crypto


class IntegrationQuerySet(OrganisationQuerySet):
    """Reached only through `for_organisation`, like every organisation-owned model."""


class Integration(models.Model):
    """Credentials (a cross-account role or an access key pair), the scope of tables it may read,
    and an optional S3 location for exports. The secret key is stored encrypted and never shown."""

    class Scope(models.TextChoices):
        TABLE = "table", "One table"
        PREFIX = "prefix", "Tables whose name starts with a prefix"
        ALL = "all", "All tables"

    class AuthMethod(models.TextChoices):
        ROLE = "role", "Cross-account IAM role"
        KEYS = "keys", "Access key pair"

    class Status(models.TextChoices):
        VALIDATED = "validated", "Validated"
        DRAFT = "draft", "Not validated"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)

    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.TABLE)
    table_name = models.CharField(
        max_length=255, blank=True, help_text="The table (scope 'one table') or the name prefix (scope 'prefix')."
    )
    region = models.CharField(max_length=32, blank=True, help_text="Empty means every region.")
    s3_bucket = models.CharField(max_length=63, blank=True)
    s3_prefix = models.CharField(max_length=512, blank=True)

    auth_method = models.CharField(max_length=10, choices=AuthMethod.choices, default=AuthMethod.ROLE)
    role_arn = models.CharField(max_length=2048, blank=True)
    access_key_id = models.CharField(max_length=128, blank=True)
    secret_access_key_encrypted = models.TextField(blank=True, editable=False)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    validation_report = models.JSONField(default=list, blank=True, editable=False)
    validated_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IntegrationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="integration_name_unique_per_org")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_access_key(self) -> str:
        return crypto.decrypt(self.secret_access_key_encrypted) if self.secret_access_key_encrypted else ""

    def set_secret_access_key(self, value: str) -> None:
        self.secret_access_key_encrypted = crypto.encrypt(value) if value else ""

    @property
    def is_validated(self) -> bool:
        return self.status == self.Status.VALIDATED

    @property
    def table_arn_pattern(self) -> str:
        """The table part of the resource ARNs, used in the generated policy."""
        if self.scope == self.Scope.TABLE:
            return self.table_name
        if self.scope == self.Scope.PREFIX:
            return f"{self.table_name}*"
        return "*"

    def covers_table(self, table_name: str) -> bool:
        if self.scope == self.Scope.TABLE:
            return table_name == self.table_name
        if self.scope == self.Scope.PREFIX:
            return table_name.startswith(self.table_name)
        return True

    def collections_in_use(self) -> list:
        """Collections whose source reads through this integration (they block deleting it)."""
        sources = self.sources.exclude(collection__status="DELETED").select_related("collection__workspace")
        return [source.collection for source in sources.order_by("collection__workspace__name", "collection__name")]

    def scope_summary(self) -> str:
        where = f"in {self.region}" if self.region else "in every region"
        if self.scope == self.Scope.TABLE:
            return f"Table {self.table_name} {where}"
        if self.scope == self.Scope.PREFIX:
            return f"Tables starting with “{self.table_name}” {where}"
        return f"All tables {where}"
