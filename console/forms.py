"""Account forms: the first admin on a fresh install, API keys, members and invitations."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.crypto import constant_time_compare

from console.models import ApiKey, Invitation, Membership, Organisation
from console.services import setup_token
from console.validators import reject_control_characters_single_line

# \Z, not $: $ also matches before a trailing newline, which then reaches e-mail headers and URLs.
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


class FirstAdminForm(UserCreationForm):
    setup_token = forms.CharField(
        max_length=100,
        label="Setup token",
        help_text="Printed in the server's log (and by “make run”) while the install has no accounts.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    organisation_name = forms.CharField(
        max_length=100,
        label="Organisation",
        initial="My organisation",
        validators=[reject_control_characters_single_line],
    )

    class Meta:
        model = get_user_model()
        fields = ["username", "email"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = "Millrace sends “initial load done” and error emails here."
        self.order_fields(["setup_token"])

    def clean_setup_token(self) -> str:
        token = self.cleaned_data["setup_token"].strip()
        if not constant_time_compare(token, setup_token()):
            raise ValidationError(
                "That is not this install's setup token. Copy it from the server's log (the line that says "
                "“setup token”), or from the output of “make run”."
            )
        return token


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Letters, digits, _ and -; e.g. terraform or ci-loader.")

    def __init__(self, *args: object, user: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not KEY_NAME_RE.match(name):
            raise ValidationError("Use only letters, digits, underscores and hyphens.")
        if ApiKey.objects.filter(user=self.user, name=name).exists():
            raise ValidationError(f"You already have a key named “{name}”.")
        return name


class NotificationEmailsForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["notification_emails"]
        widgets = {"notification_emails": forms.Textarea(attrs={"rows": 3, "placeholder": "data-team@example.com"})}
        labels = {"notification_emails": "Notification addresses"}

    def clean_notification_emails(self) -> str:
        addresses = Organisation(notification_emails=self.cleaned_data["notification_emails"]).notification_addresses
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"“{address}” is not an email address.") from None
        return "\n".join(addresses)


class InvitationForm(forms.ModelForm):
    """An admin invites an address with a role; someone already in the organisation needs no invitation."""

    class Meta:
        model = Invitation
        fields = ["email", "role"]
        labels = {"email": "Email address"}
        help_texts = {"role": "Admin: members and keys. Member: collections and integrations. Read-only: sees all."}

    def __init__(self, *args: object, organisation: Organisation, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if Membership.objects.for_organisation(self.organisation).filter(user__email__iexact=email).exists():
            raise ValidationError(f"{email} is already a member of {self.organisation.name}.")
        if Invitation.objects.for_organisation(self.organisation).pending().filter(email__iexact=email).exists():
            raise ValidationError(f"{email} already has a pending invitation; withdraw it to send a new one.")
        return email


class MembershipRoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]


class InvitationAcceptForm(UserCreationForm):
    """The invited person's new account; the address is the invited one and can't be changed here."""

    class Meta:
        model = get_user_model()
        fields = ["username"]
