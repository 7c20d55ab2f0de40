"""The collection wizard's steps. Each re-checks what it depends on, so a table that vanished or a
setting that changed is caught on the step where it happens."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from collections_app import capacity
from collections_app.models import Collection, Source, Workspace
from collections_app.tables import TableSummary
from console.models import Organisation
from console.validators import reject_control_characters
from integrations import aws
from integrations.forms import REGION_RE, TABLE_RE
from integrations.models import Integration

# \Z, not $: $ also matches before a trailing newline, which then reaches e-mail headers and URLs.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")
NAME_RULE = "Use letters, digits, underscores (_) and hyphens (-) only, up to 100 characters."


def table_error(error: aws.AwsError, table: str, region: str) -> str:
    if error.code == "ResourceNotFoundException":
        return f"There is no table named “{table}” in {region} (or it was just deleted). Check the name and region."
    if error.code in {"AccessDenied", "AccessDeniedException", "403"}:
        return (f"AWS refused: {error.message}. Allow this action on the table in the integration's IAM policy, "
                "then re-validate the integration.")  # fmt: skip
    return f"AWS said {error.code}: {error.message}"


class SourceForm(forms.Form):
    integration = forms.ModelChoiceField(queryset=Integration.objects.none(), empty_label="Choose an integration")
    region = forms.CharField(max_length=32, widget=forms.TextInput(attrs={"list": "regions"}))
    table_name = forms.CharField(
        max_length=255, label="Table", widget=forms.TextInput(attrs={"list": "tables", "autocomplete": "off"}),
        help_text="Pick from the list, or type the name of a table the list doesn't show.",
    )  # fmt: skip

    def __init__(self, *args: Any, organisation: Organisation, describe: Callable[..., TableSummary],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.describe = describe
        self.fields["integration"].queryset = Integration.objects.for_organisation(organisation).filter(
            status=Integration.Status.VALIDATED
        )
        choices = list(self.fields["integration"].queryset[:2])
        if len(choices) == 1 and "integration" not in self.initial:  # nothing to choose: it is chosen
            self.initial["integration"] = choices[0].pk
            if choices[0].region:
                self.initial["region"] = choices[0].region

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        integration, region, table = data.get("integration"), data.get("region", ""), data.get("table_name", "")
        if not integration:
            return data
        region = region.strip().lower()
        data["region"] = region
        if integration.region and region != integration.region:
            self.add_error("region", f"This integration only covers {integration.region}.")
        elif not REGION_RE.match(region):
            self.add_error("region", "Enter an AWS region, like us-east-1.")
        table = table.strip()
        data["table_name"] = table
        if not TABLE_RE.match(table):
            self.add_error("table_name", "DynamoDB table names are 3–255 letters, digits, _, - and dots.")
        elif not integration.covers_table(table):
            self.add_error(
                "table_name", f"“{table}” is outside this integration's scope ({integration.scope_summary()})."
            )
        if not self.errors:
            try:
                self.describe(integration, region, table)
            except aws.AwsError as error:
                self.add_error("table_name", table_error(error, table, region))
        return data


class TableForm(forms.Form):
    """Step 2 shows the table and a preview; nothing to fill in."""


class MethodForm(forms.Form):
    load_method = forms.ChoiceField(choices=Source.LoadMethod.choices, widget=forms.RadioSelect, label="Initial load")
    rcu = forms.IntegerField(required=False, min_value=1, label="Read capacity for the scan (RCU)")
    may_enable_pitr = forms.BooleanField(
        required=False, label="Turn on point-in-time recovery for me when the export starts"
    )

    def __init__(self, *args: Any, summary: TableSummary | None, integration: Integration | None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.summary, self.integration = summary, integration
        self.fields["rcu"].conditional = True  # required for Table Scan

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        summary, method = self.summary, data.get("load_method")
        if summary is None or self.integration is None:
            return data
        if method == Source.LoadMethod.EXPORT:
            data["rcu"] = None
            if not self.integration.s3_bucket:
                self.add_error("load_method", "Export needs an S3 bucket, and this integration has none. "
                               "Edit the integration to add one, or choose Table Scan.")  # fmt: skip
            elif not summary.pitr_enabled and not data.get("may_enable_pitr"):
                self.add_error("may_enable_pitr", "Export needs point-in-time recovery on the table. Tick this to "
                               "let Millrace turn it on, or turn it on yourself (DynamoDB console → the table → "
                               "Backups → Point-in-time recovery → Edit → Turn on).")  # fmt: skip
        elif method == Source.LoadMethod.SCAN:
            low, high = capacity.rcu_bounds(summary)
            rcu = data.get("rcu")
            if rcu is None:
                self.add_error("rcu", "Choose how much read capacity the scan may use.")
            elif not low <= rcu <= high:
                where = "the table's on-demand limit" if summary.on_demand else "the table's provisioned RCUs"
                self.add_error("rcu", f"Choose between {low} and {high:,} ({where}).")
            data["may_enable_pitr"] = False
        return data


class StreamForm(forms.Form):
    """The stream must be on with NEW_AND_OLD_IMAGES before a collection is created."""

    def __init__(self, *args: Any, summary: TableSummary | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary = summary

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.summary is not None and not self.summary.stream_ok:
            raise ValidationError(
                "Live sync needs the table's stream on, with view type NEW_AND_OLD_IMAGES. Fix it as shown above, "
                "then continue."
            )
        return data


class NameForm(forms.Form):
    workspace = forms.ChoiceField(help_text="Collections live in a workspace; “commons” is the default.")
    new_workspace = forms.CharField(max_length=100, required=False, label="…or create a workspace")
    name = forms.CharField(max_length=100, help_text=NAME_RULE)
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}), validators=[reject_control_characters]
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        names = set(Workspace.objects.for_organisation(organisation).values_list("name", flat=True))
        names.add(Workspace.DEFAULT_NAME)
        self.fields["workspace"].choices = [(n, n) for n in sorted(names)]
        self.fields["workspace"].initial = Workspace.DEFAULT_NAME
        self.fields["poll_frequency"] = poll_frequency_field()
        self.order_fields(["workspace", "new_workspace", "name", "description", "poll_frequency"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        new = (data.get("new_workspace") or "").strip()
        if new:
            if not NAME_RE.match(new):
                self.add_error("new_workspace", NAME_RULE)
            data["workspace"] = new
        name = (data.get("name") or "").strip()
        data["name"] = name
        if name and not NAME_RE.match(name):
            self.add_error("name", NAME_RULE)
        elif name and data.get("workspace"):
            taken = Collection.objects.for_organisation(self.organisation).filter(
                workspace__name=data["workspace"], name=name
            )
            if taken.exists():
                self.add_error("name", f"Workspace “{data['workspace']}” already has a collection named “{name}”.")
        return data


class ReviewForm(forms.Form):
    """The last look before Create."""


# Managing a collection after it exists ------------------------------------------------------------------


def poll_frequency_field() -> forms.DecimalField:
    return forms.DecimalField(
        label="Stream poll frequency (seconds)", min_value=Decimal("0.25"), max_value=Decimal(300),
        decimal_places=2, initial=Decimal(1),
        help_text="How often each stream shard is read: 0.25 s to 5 minutes. Lower means fresher data and more "
        "GetRecords calls.",
    )  # fmt: skip


def rcu_field(source: Source) -> forms.IntegerField:
    high = source.provisioned_rcu or capacity.ON_DEMAND_TABLE_QUOTA
    where = f"the table has {high:,} provisioned" if source.provisioned_rcu else "on-demand table quota"
    return forms.IntegerField(
        label="Read capacity for the scan (RCU)", min_value=1, max_value=high, initial=source.rcu,
        help_text=f"At most {high:,} ({where}). Millrace never spends more per second than this.",
    )  # fmt: skip


class CollectionEditForm(forms.Form):
    """What may change after creation; the table, the method and the name stay (re-create for those)."""

    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}), validators=[reject_control_characters]
    )

    def __init__(self, *args: Any, source: Source, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if source.load_method == Source.LoadMethod.SCAN:
            self.fields["rcu"] = rcu_field(source)
            if source.initial_load_done:
                self.fields["rcu"].help_text += " The scan is done: this applies to a re-sync."
        self.fields["poll_frequency"] = poll_frequency_field()


class ResyncForm(forms.Form):
    """A fresh initial load: the RCU for a Table Scan may change with it."""

    def __init__(self, *args: Any, source: Source, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if source.load_method == Source.LoadMethod.SCAN:
            self.fields["rcu"] = rcu_field(source)


class DeleteForm(forms.Form):
    """Typing the collection's name is the confirmation; the export's files in S3 go only if asked."""

    confirm_name = forms.CharField(label="Type the collection's name to confirm", max_length=100)

    def __init__(self, *args: Any, collection: Collection, source: Source, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collection = collection
        self.fields["confirm_name"].widget.attrs.update(autocomplete="off", placeholder=collection.name)
        if source.export_folder and not source.export_deleted_at:
            bucket = source.integration.s3_bucket
            self.fields["delete_export_files"] = forms.BooleanField(
                required=False,
                label="Also delete the export's files from S3",
                help_text=f"s3://{bucket}/{source.export_folder}/ — only this export's files; the bucket stays.",
            )

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        if typed not in (self.collection.name, str(self.collection)):
            raise ValidationError(f"Type “{self.collection.name}” exactly to delete this collection.")
        return typed


class LagAlertForm(forms.Form):
    """A collection's lag alert thresholds (the Monitoring card on its page)."""

    behind_seconds = forms.IntegerField(
        label="Behind the table by", min_value=10, max_value=86_400, help_text="seconds (10 to 86,400)"
    )
    unread_seconds = forms.IntegerField(
        label="No successful read for",
        min_value=60,
        max_value=86_400,
        help_text="seconds, while the stream has changes",
    )
