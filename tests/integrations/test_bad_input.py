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


def test_the_access_step_refuses_ciphertext_from_the_browser(people, aws):
    from integrations import crypto
    from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    client = client_for(people.alice)
    assert post_step(client, "scope", SCOPE).status_code == 302
    assert post_step(client, "policy", {}).status_code == 302
    # Garbage, and a real ciphertext of this install (as another user's session would hold it).
    for secret in ["enc:garbage", "enc:" + crypto.encrypt(SECRET_ACCESS_KEY)]:
        access = {"auth_method": "keys", "role_arn": "", "access_key_id": ACCESS_KEY_ID, "secret_access_key": secret}
        response = post_step(client, "access", access)
        assert response.status_code == 200
        assert response.context["form"].errors["secret_access_key"] == [
            "Enter the secret access key itself, as AWS showed it, not an encrypted form."
        ]
    assert not Integration.objects.exists()
