"""Millrace settings: everything comes from the environment (django-environ; `.env` optional).

The defaults run on one machine with nothing installed: SQLite for the data and for the Celery broker
under `var/`, the console email backend, and a SECRET_KEY / encryption key generated into `var/` on first
use so that no key is ever committed.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from console import broker, private_files

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("MILLRACE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'millrace.sqlite3'}"
DATABASE_URL = env.str("DATABASE_URL", default=DEFAULT_DATABASE_URL)
DEBUG = env.bool("DEBUG", default=False)
# A database other than the default SQLite file may be shared by several machines (web, workers): each
# would generate keys of its own into its var/ and none could read the others' secrets or sessions. So
# there the keys must come from the environment, the same on every machine.
_missing = [name for name in ("SECRET_KEY", "MILLRACE_ENCRYPTION_KEYS") if not env.str(name, default="")]
if DATABASE_URL != DEFAULT_DATABASE_URL and _missing:
    raise ImproperlyConfigured(
        f"DATABASE_URL is not the default SQLite file, so {' and '.join(_missing)} must be set in the "
        "environment, the same on every machine that uses this database. Generate them with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))' for SECRET_KEY and "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' for "
        "MILLRACE_ENCRYPTION_KEYS."
    )
SECRET_KEY = env.str("SECRET_KEY", default="") or private_files.generated_secret(
    VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50)
)
# Fernet keys for credentials stored in the database, newest first. Kept apart from SECRET_KEY so
# either can rotate alone (`manage.py rotate_encryption_key` re-encrypts with the first one).
MILLRACE_ENCRYPTION_KEYS = env.list("MILLRACE_ENCRYPTION_KEYS", default=[]) or [
    private_files.generated_secret(VAR_DIR / "encryption_key", lambda: Fernet.generate_key().decode())
]

# Prometheus metrics (/metrics): prometheus-client's multiprocess mode, so that one scrape of the web
# process sums the counters of every process on this machine (web, Celery workers, beat). Its value class
# is chosen when prometheus_client is first imported, so the directory is named here, before any import of
# it; `manage.py serve` empties it at start (prometheus-client's advice: wipe it between runs).
MILLRACE_METRICS_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "metrics")))
MILLRACE_METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(MILLRACE_METRICS_DIR)
# How long a collection's history (load started, paused, errors, alerts …) is kept.
MILLRACE_EVENT_RETENTION_DAYS = env.int("MILLRACE_EVENT_RETENTION_DAYS", default=30)
# The bearer token a scraper sends (`Authorization: Bearer …`); unset, /metrics refuses everyone.
MILLRACE_METRICS_TOKEN = env.str("MILLRACE_METRICS_TOKEN", default="")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
MILLRACE_BASE_URL = env.str("MILLRACE_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "console.admin_site.OperatorAdminConfig",  # django.contrib.admin, for operators only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "formtools",
    "axes",
    "console",
    "integrations",
    "collections_app",
    "ingest",
    "api",
    "queries",
]

MIDDLEWARE = [
    "console.monitoring.RequestMetricsMiddleware",  # outermost: every answer counted and timed, refusals too
    "django.middleware.security.SecurityMiddleware",
    "api.errors.ApiErrorMiddleware",  # JSON errors under /v1/, whatever fails below it
    "console.middleware.ContentLengthMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "console.middleware.FirstRunMiddleware",
    "console.access.AccessMiddleware",  # every URL's rule: who may read it, who may change through it
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers a locked-out login
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.millrace",
            ],
        },
    },
]

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The file holds the sessions and the encrypted AWS secrets: the owner's alone. SQLite gives its -wal
    # and -shm files the database file's mode.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_files.make_private(Path(DATABASES["default"]["NAME"]))
    # Web, worker and beat share one SQLite file: wait for a lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so that a test's Celery worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (the console's and /admin/'s) are counted per username *and* address by django-axes:
# after MILLRACE_LOGIN_FAILURE_LIMIT failures that pair is locked out for MILLRACE_LOGIN_COOLOFF_MINUTES
# with a page that says so, while the same user from elsewhere (and others from here) can still log in.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("MILLRACE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("MILLRACE_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "console.middleware.client_address"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders as well, so a missed collectstatic never means an unstyled page.
WHITENOISE_USE_FINDERS = True

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
if env.str("EMAIL_URL", default="").startswith("filemail:///"):
    # django-environ drops the leading slash of filemail:///absolute/path; keep the path absolute.
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = "/" + EMAIL_CONFIG["EMAIL_FILE_PATH"].lstrip("/")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Millrace <millrace@localhost>")

# Security headers always; HTTPS-only cookies and redirects whenever the console is served over
# HTTPS, which is assumed unless DEBUG is on or MILLRACE_HTTPS=off (as `make run` does on 127.0.0.1).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
MILLRACE_HTTPS = env.bool("MILLRACE_HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = MILLRACE_HTTPS
CSRF_COOKIE_SECURE = MILLRACE_HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=MILLRACE_HTTPS)
# Load balancers' and Kubernetes' probes speak plain HTTP to the process itself; these two answers carry
# nothing secret, so they are not redirected to HTTPS (/metrics, with its token, is).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600 if MILLRACE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=MILLRACE_HTTPS)
# Preloading puts the domain into browsers' built-in lists for months: the domain owner's decision, not a
# default. `check --deploy` would warn about it (W021) on every install that rightly leaves it off.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
MILLRACE_BEHIND_PROXY = env.bool("MILLRACE_BEHIND_PROXY", default=False)
if MILLRACE_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts and style sheets from this server only, no inline script,
# no framing, forms posting only here. htmx fetches from 'self' (connect-src); its own indicator <style>
# is turned off in base.html and the rules live in millrace.css. Style *attributes* stay allowed: a few
# templates set a width (the progress bar's is computed), and an attribute can't run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The cache holds the API's per-key request counters, so it must be one for every web process: a file
# cache in var/ by default (shared by the processes of one machine, `make run`'s included, with no table
# to create and no write to the SQLite database per request), or Redis with CACHE_URL when several web
# machines serve the API (then the limit holds across them).
CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
    # Past MAX_ENTRIES the file cache drops a third of its entries (counters included): room for many keys.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)
# Requests per minute per API key (0: no limit); past it the API answers 429 in Rockset's error body.
MILLRACE_API_RATE_PER_MINUTE = env.int("MILLRACE_API_RATE_PER_MINUTE", default=600)

# Celery: an embedded broker by default (kombu's SQLAlchemy transport on a SQLite file in var/: no server
# to install; console/broker.py says why not the filesystem transport), Redis/RabbitMQ by URL.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=broker.embedded_url(VAR_DIR))
if broker.sqlite_path(CELERY_BROKER_URL):
    CELERY_BROKER_TRANSPORT_OPTIONS = broker.transport_options()
elif CELERY_BROKER_URL.startswith("filesystem://"):  # still accepted; loses messages under load
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": broker.POLLING_SECONDS,
    }
CELERY_TASK_IGNORE_RESULT = True  # state a person watches lives in rows, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The supervisor's tick and shard discovery have a queue of their own, listed first, so a worker takes them
# before any waiting stream or load work: the tick never queues behind a backlog (a worker consumes every
# queue listed here unless told otherwise with -Q).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"supervisor": {}, "celery": {}}
CELERY_TASK_ROUTES = {
    "console.tasks.supervisor_tick": {"queue": "supervisor"},
    "ingest.tasks.discover_shards": {"queue": "supervisor"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"  # e.g. the console email backend's output is not a warning
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The supervisor tick hands out work whose lease lapsed: a killed worker's segment, file or shard is
# taken over within a lease and a tick. Shorter values recover faster and cost more database queries.
# How long a query's results stay readable (`GET /queries/{id}/pages`, the editor's downloads): Rockset's
# `expires_at`.
MILLRACE_QUERY_RESULTS_SECONDS = env.int("MILLRACE_QUERY_RESULTS_SECONDS", default=3600)
MILLRACE_TICK_SECONDS = env.float("MILLRACE_TICK_SECONDS", default=5.0)
MILLRACE_LEASE_SECONDS = env.int("MILLRACE_LEASE_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    # Query results past their time (MILLRACE_QUERY_RESULTS_SECONDS) are dropped; the query stays as history.
    "forget-expired-query-results": {"task": "queries.tasks.forget_expired_results", "schedule": 300.0},
    # A tick that waited in the queue longer than two ticks is dropped, not run late: a busy worker's
    # queue never fills with ticks, and the next one is due anyway.
    "supervisor-tick": {
        "task": "console.tasks.supervisor_tick",
        "schedule": MILLRACE_TICK_SECONDS,
        "options": {"expires": 2 * MILLRACE_TICK_SECONDS},
    },
    # Deleted collections' documents and rows, a lease or two after the deletion.
    "purge-deleted-collections": {
        "task": "console.tasks.purge_deleted_collections",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
if broker.sqlite_path(CELERY_BROKER_URL):
    CELERY_BEAT_SCHEDULE["broker-forget-delivered"] = {"task": "console.tasks.forget_delivered", "schedule": 60.0}

# AWS: the sandbox (a local moto server) when MILLRACE_AWS_ENDPOINT_URL is set, real AWS otherwise.
MILLRACE_AWS_ENDPOINT_URL = env.str("MILLRACE_AWS_ENDPOINT_URL", default="") or None
MILLRACE_AWS_REGION = env.str("MILLRACE_AWS_REGION", default="us-east-1")
# How long the sandbox keeps an export "in progress" (its `--export-seconds`), for the pages' wording there.
MILLRACE_SANDBOX_EXPORT_SECONDS = env.float("MILLRACE_SANDBOX_EXPORT_SECONDS", default=20.0)

# LOG_FORMAT=json: one JSON object a line (python-json-logger), with the fields the engine adds to a line
# (`collection`, `shard`; the API's `trace_id`) as fields of their own, for a log pipeline to index.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT is {LOG_FORMAT!r}: use plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "boto3": {"level": "WARNING"}},
}
