"""Configuration comes from the environment; each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG, "secret": settings.SECRET_KEY, "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]), "broker": settings.CELERY_BROKER_URL,
    "email": settings.EMAIL_BACKEND, "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE, "hsts": settings.SECURE_HSTS_SECONDS,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT, "keys": settings.MILLRACE_ENCRYPTION_KEYS,
    "hsts_subdomains": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "endpoint": settings.MILLRACE_AWS_ENDPOINT_URL,
}))
"""
FERNET_KEY = "x" * 43 + "="  # 32 bytes of urlsafe base64: a valid Fernet key, for settings only
CONFIG_VARS = ["DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL", "MILLRACE_HTTPS",
               "MILLRACE_ENCRYPTION_KEYS", "MILLRACE_AWS_ENDPOINT_URL"]  # fmt: skip


def run_probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    clean.update(DJANGO_SETTINGS_MODULE="console.settings", MILLRACE_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True)


def load_settings(tmp_path: Path, **env: str) -> dict:
    result = run_probe(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_defaults_need_nothing_installed_and_are_secure(tmp_path):
    config = load_settings(tmp_path)
    assert config["debug"] is False
    assert config["db"] == "django.db.backends.sqlite3" and config["db_name"].startswith(str(tmp_path))
    assert config["broker"] == f"sqla+sqlite:///{tmp_path.resolve() / 'broker.sqlite3'}"  # embedded, in var/
    assert config["email"] == "django.core.mail.backends.console.EmailBackend"
    assert config["session_secure"] and config["csrf_secure"] and config["ssl_redirect"]
    assert config["hsts"] > 0 and config["hsts_subdomains"]
    assert config["endpoint"] is None


def test_the_secret_key_is_generated_once_into_var_and_kept(tmp_path):
    first = load_settings(tmp_path)
    second = load_settings(tmp_path)
    assert first["secret"] == second["secret"] and len(first["secret"]) >= 50
    assert first["keys"] == second["keys"]
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600


def test_the_environment_overrides_the_defaults(tmp_path):
    config = load_settings(
        tmp_path,
        DEBUG="on",
        SECRET_KEY="from-the-environment",
        MILLRACE_ENCRYPTION_KEYS=FERNET_KEY,
        DATABASE_URL="postgres://u@db.example:5432/millrace",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        EMAIL_URL="smtp://mail.example:587",
        MILLRACE_AWS_ENDPOINT_URL="http://127.0.0.1:5055",
    )
    assert config["debug"] is True and config["secret"] == "from-the-environment"
    assert config["db"] == "django.db.backends.postgresql"
    assert config["broker"] == "redis://127.0.0.1:6379/0"
    assert config["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert not config["session_secure"]  # DEBUG implies plain HTTP unless MILLRACE_HTTPS says otherwise
    assert config["endpoint"] == "http://127.0.0.1:5055"
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "encryption_key").exists()
    assert config["keys"] == [FERNET_KEY]


@pytest.mark.parametrize(
    ("database", "keys", "missing"),
    [
        ("postgres://u@db.example:5432/millrace", {}, "SECRET_KEY and MILLRACE_ENCRYPTION_KEYS"),
        ("postgres://u@db.example:5432/millrace", {"SECRET_KEY": "s"}, "so MILLRACE_ENCRYPTION_KEYS must"),
        ("postgres://u@db.example:5432/millrace", {"MILLRACE_ENCRYPTION_KEYS": FERNET_KEY}, "so SECRET_KEY must"),
        ("sqlite:////tmp/elsewhere.sqlite3", {}, "SECRET_KEY and MILLRACE_ENCRYPTION_KEYS"),
    ],
)
def test_a_shared_database_refuses_to_start_without_keys_from_the_environment(tmp_path, database, keys, missing):
    result = run_probe(tmp_path, DATABASE_URL=database, **keys)
    assert result.returncode != 0
    assert "DATABASE_URL is not the default SQLite file" in result.stderr and missing in result.stderr
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "encryption_key").exists()


def test_files_holding_keys_and_sessions_are_the_owners_alone(tmp_path):
    load_settings(tmp_path)
    for name in ("secret_key", "encryption_key", "millrace.sqlite3"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    # An install from before this rule (or a copy made with a loose umask) is put right at the next start.
    for name in ("secret_key", "millrace.sqlite3"):
        (tmp_path / name).chmod(0o644)
    config = load_settings(tmp_path)
    for name in ("secret_key", "millrace.sqlite3"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert config["secret"] == (tmp_path / "secret_key").read_text().strip()


def test_no_key_or_generated_file_is_tracked_by_git():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout (e.g. an unpacked archive): no tracked files to inspect")
    assert not [p for p in tracked if p.startswith(("var/", ".venv/")) or p == ".env"]


def test_production_settings_pass_check_deploy(tmp_path):
    """Production: DEBUG off and MILLRACE_HTTPS on (both the defaults), keys and hosts from the environment."""
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    clean.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        MILLRACE_VAR_DIR=str(tmp_path),
        SECRET_KEY="k" * 20 + "-production-secret-key-of-enough-length-and-variety-0123456789",
        MILLRACE_ENCRYPTION_KEYS=FERNET_KEY,
        ALLOWED_HOSTS="millrace.example.com",
    )
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=clean, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
