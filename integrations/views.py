"""Integration pages: list, detail, the create/edit wizard, re-validate and delete."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from formtools.wizard.views import NamedUrlSessionWizardView

from console.access import scoped_object_or_404
from console.wizards import ConsoleWizardMixin
from integrations import aws, policy
from integrations.forms import (
    COMMON_REGIONS,
    AccessForm,
    PolicyForm,
    ScopeForm,
    ValidateForm,
    plaintext_secret,
)
from integrations.models import Integration
from integrations.services import (
    IntegrationInUse,
    integration_delete,
    integration_revalidate,
    integration_save,
)
from integrations.validation import essentials_pass, validate


def _integration(request: HttpRequest, pk: int) -> Integration:
    return scoped_object_or_404(request, Integration, pk=pk)


@login_required
def integration_list(request: HttpRequest) -> HttpResponse:
    integrations = Integration.objects.for_organisation(request.organisation)
    return render(request, "integrations/list.html", {"integrations": integrations})


@login_required
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _integration(request, pk)
    context = {
        "integration": integration,
        "policy_json": policy.policy_json(integration),
        "collections": integration.collections_in_use(),
        "essentials_pass": essentials_pass(integration.validation_report),
    }
    return render(request, "integrations/detail.html", context)


@login_required
def integration_policy_download(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _integration(request, pk)
    response = HttpResponse(policy.policy_json(integration), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="millrace-{integration.name}-policy.json"'
    return response


@login_required
@require_POST
def integration_revalidate_view(request: HttpRequest, pk: int) -> HttpResponse:
    integration = integration_revalidate(integration=_integration(request, pk))
    if integration.is_validated:
        messages.success(request, f"“{integration.name}” passed its checks.")
    else:
        messages.error(request, f"“{integration.name}” failed an essential check; see the checklist.")
    return redirect("integration_detail", pk=integration.pk)


@login_required
def integration_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _integration(request, pk)
    if request.method == "POST":
        try:
            integration_delete(integration=integration)
        except IntegrationInUse as exc:
            messages.error(request, str(exc))
            return redirect("integration_detail", pk=pk)
        messages.success(request, f"Deleted integration “{integration.name}”.")
        return redirect("integration_list")
    return render(
        request,
        "integrations/delete.html",
        {"integration": integration, "collections": integration.collections_in_use()},
    )


STEP_TITLES = {
    "scope": "Name and scope",
    "policy": "IAM policy",
    "access": "Access",
    "validate": "Check access",
}


class IntegrationWizard(ConsoleWizardMixin, LoginRequiredMixin, NamedUrlSessionWizardView):
    """Create (or edit) an integration in four steps; the session keeps what was entered."""

    template_folder = "integrations"
    form_list = [("scope", ScopeForm), ("policy", PolicyForm), ("access", AccessForm), ("validate", ValidateForm)]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.organisation = request.organisation  # found, and the role checked, by console.access
        pk = kwargs.get("pk")
        self.instance = _integration(request, pk) if pk else None
        return super().dispatch(request, *args, **kwargs)

    def get_prefix(self, request: HttpRequest, *args: Any, **kwargs: Any) -> str:
        return f"integration_wizard_{kwargs.get('pk') or 'new'}"

    def get_step_url(self, step: str) -> str:
        if self.instance:
            return reverse("integration_edit_step", kwargs={"pk": self.instance.pk, "step": step})
        return reverse("integration_create_step", kwargs={"step": step})

    def get_form_initial(self, step: str) -> dict[str, Any]:
        if self.instance is None:
            return {}
        fields = {
            "scope": ["name", "description", "scope", "table_name", "region", "s3_bucket", "s3_prefix"],
            "access": ["auth_method", "role_arn", "access_key_id"],
        }.get(step, [])
        return {f: getattr(self.instance, f) for f in fields}

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        if step == "scope":
            return {"organisation": self.organisation, "instance": self.instance}
        if step == "access":
            stored = bool(self.instance and self.instance.secret_access_key_encrypted)
            return {"has_stored_secret": stored}
        if step == "validate":
            return {"report": self.current_report()}
        return {}

    def get_form(self, step: str | None = None, data: Any = None, files: Any = None) -> Any:
        form = super().get_form(step, data, files)
        if isinstance(form, AccessForm):
            # formtools re-validates each step from what process_step stored in the session (the secret
            # encrypted); the request's own POST is the browser's, and may not carry ciphertext.
            form.accept_ciphertext = data is not None and data is not self.request.POST
        return form

    def process_step(self, form: Any) -> Any:
        if isinstance(form, AccessForm):
            return form.for_transport()
        return super().process_step(form)

    def draft_integration(self) -> Integration | None:
        """The integration as entered so far, unsaved; None until the first and third steps are valid."""
        scope = self.get_cleaned_data_for_step("scope")
        access = self.get_cleaned_data_for_step("access")
        if scope is None or access is None:
            return None
        draft = Integration(organisation=self.organisation)
        for field, value in {**scope, **access}.items():
            if field != "secret_access_key":
                setattr(draft, field, value)
        if access["auth_method"] == Integration.AuthMethod.KEYS:
            if access["secret_access_key"]:
                draft.set_secret_access_key(plaintext_secret(access["secret_access_key"]))
            elif self.instance is not None:
                draft.secret_access_key_encrypted = self.instance.secret_access_key_encrypted
        return draft

    def current_report(self) -> list[dict[str, Any]] | None:
        """Validate against AWS once per distinct input; the result is kept with the wizard's data."""
        draft = self.draft_integration()
        if draft is None:
            return None
        fingerprint = hashlib.sha256(
            json.dumps(
                [self.storage.get_step_data("scope"), self.storage.get_step_data("access")], sort_keys=True, default=str
            ).encode()
        ).hexdigest()
        extra = self.storage.extra_data
        if extra.get("fingerprint") != fingerprint or "report" not in extra:
            extra = {"fingerprint": fingerprint, "report": validate(draft)}
            self.storage.extra_data = extra
        return extra["report"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "recheck" in request.POST:
            self.storage.extra_data = {}
            return redirect(self.get_step_url("validate"))
        return super().post(request, *args, **kwargs)

    def get_context_data(self, form: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        context.update(
            step_titles=[(name, STEP_TITLES[name]) for name in self.steps.all],
            instance=self.instance,
            regions=COMMON_REGIONS,
            external_id=self.organisation.external_id,
        )
        step = self.steps.current
        draft_scope = self.get_cleaned_data_for_step("scope") if step != "scope" else None
        if draft_scope:
            scoped = Integration(organisation=self.organisation, **draft_scope)
            context["draft"] = scoped
            context["policy_json"] = policy.policy_json(scoped)
            context["permissions"] = policy.permissions_for(scoped)
        if step == "access":
            try:
                context["principal"] = aws.deployment_principal()
            except aws.AwsError as exc:
                context["principal_error"] = exc.message
            if context.get("principal"):
                context["trust_policy_json"] = policy.trust_policy_json(
                    context["principal"], self.organisation.external_id
                )
        if step == "validate":
            context["report"] = form.report or []
            context["essentials_pass"] = essentials_pass(form.report or [])
            context["draft"] = self.draft_integration()
        return context

    def done(self, form_list: Any, form_dict: dict[str, Any], **kwargs: Any) -> HttpResponse:
        draft = self.draft_integration()
        report = self.current_report() or []
        integration = self.instance or Integration(organisation=self.organisation, created_by=self.request.user)
        for field in ["name", "description", "scope", "table_name", "region", "s3_bucket", "s3_prefix",
                      "auth_method", "role_arn", "access_key_id", "secret_access_key_encrypted"]:  # fmt: skip
            setattr(integration, field, getattr(draft, field))
        integration_save(integration=integration, report=report)
        if integration.is_validated:
            messages.success(self.request, f"Integration “{integration.name}” is saved and validated.")
        else:
            messages.warning(self.request, f"Integration “{integration.name}” is saved as an unvalidated draft.")
        return redirect("integration_detail", pk=integration.pk)
