"""The integration wizard's steps. Everything is checked here, before any AWS call."""

from __future__ import annotations

import ipaddress
import re

from django import forms
from django.core.exceptions import ValidationError

from console.validators import control_character_error, reject_control_characters
from integrations import crypto
from integrations.models import Integration

# \Z, not $: $ also matches before a trailing newline, which then reaches e-mail headers and URLs.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")
TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}\Z")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,255}\Z")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}\Z")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}\Z")
ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}\Z")
SECRET_RE = re.compile(r"^[A-Za-z0-9/+=]{40}\Z")
S3_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}\Z")  # S3's "safe characters" for key names
ENCRYPTED_MARK = "enc:"  # the wizard keeps the secret encrypted in the session between steps

COMMON_REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2", "ap-east-1",
    "me-south-1", "af-south-1",
]  # fmt: skip


def validate_bucket_name(value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        raise ValidationError("A bucket name can't look like an IP address.")
    if not BUCKET_RE.match(value) or ".." in value:
        raise ValidationError(
            "Bucket names are 3–63 characters of lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit."
        )


class ScopeForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Letters, digits, underscores and hyphens; unique in your organisation."
    )
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}), validators=[reject_control_characters]
    )
    scope = forms.ChoiceField(choices=Integration.Scope.choices, widget=forms.RadioSelect, initial="table")
    table_name = forms.CharField(
        max_length=255, required=False, label="Table name or prefix",
        help_text="The table's name for “one table”, the first characters of the names for “prefix”.",
    )  # fmt: skip
    region = forms.CharField(
        max_length=32, required=False, help_text="Leave empty to allow every region.",
        widget=forms.TextInput(attrs={"list": "regions", "placeholder": "every region"}),
    )  # fmt: skip
    s3_bucket = forms.CharField(
        max_length=63, required=False, label="S3 bucket for exports",
        help_text="Optional. Needed only for the “Export using S3” load method. An empty bucket is best.",
    )  # fmt: skip
    s3_prefix = forms.CharField(max_length=512, required=False, label="Prefix in the bucket")

    def __init__(self, *args: object, organisation: object = None, instance: Integration | None = None,
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.instance = instance
        self.fields["table_name"].conditional = True  # required for two of the three scopes

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not NAME_RE.match(name):
            raise ValidationError("Use only letters, digits, underscores (_) and hyphens (-), no spaces.")
        taken = Integration.objects.for_organisation(self.organisation).filter(name__iexact=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(f"Your organisation already has an integration named “{name}”.")
        return name

    def clean_region(self) -> str:
        region = self.cleaned_data["region"].strip().lower()
        if region and not REGION_RE.match(region):
            raise ValidationError(f"“{region}” is not an AWS region name; they look like us-east-1 or eu-west-2.")
        return region

    def clean_s3_bucket(self) -> str:
        bucket = self.cleaned_data["s3_bucket"].strip()
        if bucket.startswith(("s3://", "arn:aws:s3:::")):
            raise ValidationError(
                "Enter just the bucket's name, without s3:// or arn:aws:s3:::, e.g. millrace-exports."
            )
        if bucket:
            validate_bucket_name(bucket)
        return bucket

    def clean_s3_prefix(self) -> str:
        """A folder in the bucket, in S3's safe characters: `..` or a control character would make the
        policy's resource ARN and the export's keys point somewhere other than what the page shows."""
        prefix = self.cleaned_data["s3_prefix"].strip().strip("/")
        if message := control_character_error(prefix, single_line=True):
            raise ValidationError(message)
        if prefix and not S3_PREFIX_RE.match(prefix):
            raise ValidationError("Use letters, digits and ! - _ . * ' ( ) in the prefix, with / between folders.")
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ValidationError("A prefix's folders can't be empty, “.” or “..”; e.g. millrace/exports.")
        return prefix

    def clean(self) -> dict:
        data = super().clean()
        scope, table = data.get("scope"), (data.get("table_name") or "").strip()
        data["table_name"] = table
        if scope == Integration.Scope.TABLE:
            if not table:
                self.add_error("table_name", "Enter the table's name.")
            elif not TABLE_RE.match(table):
                self.add_error(
                    "table_name",
                    "DynamoDB table names are 3–255 characters of letters, digits, underscores, hyphens and dots.",
                )
        elif scope == Integration.Scope.PREFIX:
            if not table:
                self.add_error("table_name", "Enter the prefix the table names start with.")
            elif not PREFIX_RE.match(table):
                self.add_error("table_name", "A prefix may hold only letters, digits, underscores, hyphens and dots.")
        else:
            data["table_name"] = ""
        if data.get("s3_prefix") and not data.get("s3_bucket") and "s3_bucket" not in self.errors:
            self.add_error("s3_bucket", "A prefix needs a bucket.")
        return data


class PolicyForm(forms.Form):
    """Step 2 only shows the policy; it has nothing to fill in."""


class AccessForm(forms.Form):
    auth_method = forms.ChoiceField(
        choices=Integration.AuthMethod.choices, widget=forms.RadioSelect, initial="role", label="Access method"
    )
    role_arn = forms.CharField(
        max_length=2048, required=False, label="Role ARN",
        widget=forms.TextInput(attrs={"placeholder": "arn:aws:iam::123456789012:role/millrace"}),
    )  # fmt: skip
    access_key_id = forms.CharField(
        max_length=128, required=False, label="Access key ID",
        widget=forms.TextInput(attrs={"placeholder": "AKIA…", "autocomplete": "off"}),
    )  # fmt: skip
    secret_access_key = forms.CharField(
        max_length=512, required=False, label="Secret access key", strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )  # fmt: skip

    def __init__(self, *args: object, has_stored_secret: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.has_stored_secret = has_stored_secret
        # True only when the data is the wizard's own, from the session (IntegrationWizard.get_form): a
        # browser or an API client never sends ciphertext. Accepting it would let one paste the stored form
        # of someone else's secret, or of another install's.
        self.accept_ciphertext = False
        for name in ("role_arn", "access_key_id", "secret_access_key"):
            self.fields[name].conditional = True  # required by the access method chosen
        if has_stored_secret:
            self.fields["secret_access_key"].help_text = "Leave empty to keep the secret already stored."

    def clean_secret_access_key(self) -> str:
        """Return the secret encrypted, so the plaintext never rests in the wizard's session."""
        value = self.cleaned_data["secret_access_key"]
        if not value:
            return ""
        if value.startswith(ENCRYPTED_MARK):
            if not self.accept_ciphertext:
                raise ValidationError("Enter the secret access key itself, as AWS showed it, not an encrypted form.")
            try:
                plaintext_secret(value)
            except crypto.InvalidToken:  # the encryption keys changed since this step was filled in
                raise ValidationError("Enter the secret access key again; the one entered earlier expired.") from None
            return value
        if not SECRET_RE.match(value):
            raise ValidationError("A secret access key is 40 characters of letters, digits, / and +.")
        return ENCRYPTED_MARK + crypto.encrypt(value)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("auth_method") == Integration.AuthMethod.ROLE:
            arn = (data.get("role_arn") or "").strip()
            data["role_arn"] = arn
            if not arn:
                self.add_error(
                    "role_arn", "Enter the ARN of the role you created, the one that trusts Millrace's principal."
                )
            elif not ROLE_ARN_RE.match(arn):
                self.add_error(
                    "role_arn",
                    "That is not a role ARN. It looks like arn:aws:iam::123456789012:role/millrace "
                    "(the account's 12 digits, then the role's name).",
                )
            data["access_key_id"] = data["secret_access_key"] = ""
        elif data.get("auth_method") == Integration.AuthMethod.KEYS:
            key_id = (data.get("access_key_id") or "").strip()
            data["access_key_id"] = key_id
            if not ACCESS_KEY_RE.match(key_id):
                self.add_error("access_key_id", "An access key ID is 20 characters starting with AKIA, e.g. AKIA…")
            missing_secret = not data.get("secret_access_key") and not self.has_stored_secret
            if missing_secret and "secret_access_key" not in self.errors:
                self.add_error("secret_access_key", "Enter the secret access key that AWS showed with the key ID.")
            data["role_arn"] = ""
        return data

    def for_transport(self) -> dict:
        """The step's data as stored between steps: with the secret replaced by its encrypted form."""
        data = self.data.copy()
        field = self.add_prefix("secret_access_key")
        data[field] = self.cleaned_data.get("secret_access_key", "")
        return data


def plaintext_secret(value: str) -> str:
    return crypto.decrypt(value.removeprefix(ENCRYPTED_MARK)) if value else ""


class ValidateForm(forms.Form):
    save_as_draft = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, report: list | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.report = report

    def clean(self) -> dict:
        from integrations.validation import essentials_pass

        data = super().clean()
        if self.report is not None and not data.get("save_as_draft") and not essentials_pass(self.report):
            raise ValidationError(
                "The essential checks have not passed. Fix what the checklist says and check again, "
                "or save this integration as an unvalidated draft."
            )
        return data
