"""Create an organisation, its admin and an API key without prompting (for scripted installs).

On a fresh install the account is also the installation's operator (as on the first-run page); once an
account exists, `bootstrap --organisation Other` makes an ordinary admin of a new organisation, never
another operator. Like `createsuperuser --noinput`: values come from options or the environment, and the
API key is printed once on stdout.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from console.models import Organisation
from console.services import api_key_create, first_admin_create, organisation_admin_create


class Command(BaseCommand):
    help = (
        "Create an organisation, its admin user and an API key; print the key. The first account created "
        "is the installation's operator; later ones are admins of their organisation only."
    )

    def add_arguments(self, parser: Any) -> None:
        env = os.environ.get
        parser.add_argument("--username", default=env("MILLRACE_ADMIN_USERNAME"))
        parser.add_argument("--email", default=env("MILLRACE_ADMIN_EMAIL"))
        parser.add_argument("--password", default=env("MILLRACE_ADMIN_PASSWORD"), help="Prefer MILLRACE_ADMIN_PASSWORD")
        parser.add_argument("--organisation", default=env("MILLRACE_ORGANISATION", "My organisation"))
        parser.add_argument("--api-key-name", default=env("MILLRACE_API_KEY_NAME", "bootstrap"))

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [f"--{name}" for name in ("username", "email", "password") if not options[name]]
        if missing:
            raise CommandError(
                f"Missing {', '.join(missing)} (or MILLRACE_ADMIN_USERNAME / _EMAIL / _PASSWORD in the environment)."
            )
        try:
            validate_email(options["email"])
        except ValidationError as exc:
            raise CommandError(f"--email {options['email']!r} is not an email address.") from exc
        User = get_user_model()
        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"A user named {options['username']!r} already exists.")
        try:
            password_validation.validate_password(options["password"], User(username=options["username"]))
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
        is_first = not User.objects.exists()
        create = first_admin_create if is_first else organisation_admin_create
        user = create(
            username=options["username"],
            email=options["email"],
            password=options["password"],
            organisation_name=options["organisation"],
        )
        organisation = Organisation.objects.get(memberships__user=user)
        _, key = api_key_create(user=user, organisation=organisation, name=options["api_key_name"])
        what = "operator and admin" if is_first else "admin (not an operator)"
        self.stderr.write(f"Created {what} {user.username} of organisation {organisation.name!r}. API key:")
        self.stdout.write(key)
