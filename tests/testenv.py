"""Loaded with `-p tests.testenv`, before Django's settings are read: give the tests their own var/
folder (so a running `make run` never shares a broker queue or database with them) and fake AWS keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `make test` runs its SQLite and PostgreSQL passes side by side, each in a folder of its own.
os.environ["MILLRACE_VAR_DIR"] = str(ROOT / os.environ.get("MILLRACE_TEST_VAR_DIR", "var/test"))
os.environ.pop("MILLRACE_AWS_ENDPOINT_URL", None)
# prometheus-client's multiprocess files: this run's processes count afresh (as `manage.py serve` does).
for _stale in (Path(os.environ["MILLRACE_VAR_DIR"]) / "metrics").glob("*.db"):
    _stale.unlink(missing_ok=True)
if os.environ.get("DATABASE_URL"):
    # A shared database needs its keys from the environment (console/settings.py): fresh ones for this run,
    # which the processes the tests start (workers, gunicorn, beat) inherit.
    from cryptography.fernet import Fernet

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("MILLRACE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.pop("DEBUG", None)
os.environ["MILLRACE_HTTPS"] = "off"  # the test client speaks plain HTTP; the secure default has its own test
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # botocore >= 1.44.4 sends Streams calls to account-specific hosts that moto's mock_aws doesn't catch.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)


def _one_loader_for_every_session() -> None:
    """Every boto3 session botocore makes reads AWS's model files (endpoints, each service's model: ~0.25 s
    of JSON parsing) into a loader of its own; the tests make hundreds (a new moto account, so new clients,
    for every test). One loader serves them all here, as one session's loader serves its clients: the same
    data, read once. boto3 adds its own data folder to a session's loader each time: kept once."""
    import botocore.loaders
    import botocore.session

    class OncePaths(list):
        def append(self, path: str) -> None:
            if path not in self:
                super().append(path)

    shared = botocore.loaders.create_loader()
    shared._search_paths = OncePaths(shared.search_paths)
    botocore.session.create_loader = lambda search_paths_string=None: shared


_one_loader_for_every_session()
