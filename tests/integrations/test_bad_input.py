"""The integration wizard refuses what would make its policy or its export keys point elsewhere."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from tests.conftest import client_for
from tests.integrations.wizard import SCOPE, post_step


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("../../etc", "can't be empty, “.” or “..”"),
        ("exports/../../etc", "can't be empty, “.” or “..”"),
        ("exports//daily", "can't be empty"),
        ("exp\x00orts", "Null characters are not allowed"),  # Django's own check, first
        ("exp\x1borts", "control characters"),
        ("exports\ndaily", "single line"),
        ("exports daily", "Use letters, digits"),
    ],
)
def test_an_s3_prefix_that_leaves_its_folder_is_a_form_error(people, prefix, words):
    response = post_step(client_for(people.alice), "scope", {**SCOPE, "s3_bucket": "millrace-exports",
                                                             "s3_prefix": prefix})  # fmt: skip
    assert response.status_code == 200
    assert any(words in error for error in response.context["form"].errors["s3_prefix"])
    assert not Integration.objects.exists()


def test_a_plain_s3_prefix_moves_on(people):
    data = {**SCOPE, "s3_bucket": "millrace-exports", "s3_prefix": "/millrace/exports-2024_v1/"}
    assert post_step(client_for(people.alice), "scope", data).status_code == 302


def test_control_characters_in_the_description_are_a_form_error(people):
    response = post_step(client_for(people.alice), "scope", {**SCOPE, "description": "a\x00b"})
    assert response.status_code == 200 and "description" in response.context["form"].errors
