"""What every console wizard does the same way (both are formtools' NamedUrlSessionWizardView)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse


class ConsoleWizardMixin:
    """One template per step under `template_folder`, and a Back button that keeps what was typed."""

    template_folder = ""

    def get_template_names(self) -> list[str]:
        return [f"{self.template_folder}/wizard_{self.steps.current}.html"]

    def render_goto_step(self, goto_step: str, **kwargs: Any) -> HttpResponse:
        # Going back keeps what was typed on the current step, as a person expects of a Back button.
        form = self.get_form(data=self.request.POST, files=self.request.FILES)
        if form.is_valid():
            self.storage.set_step_data(self.steps.current, self.process_step(form))
        return super().render_goto_step(goto_step, **kwargs)
