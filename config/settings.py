"""Typewire settings, read from the environment (12-factor).

With nothing set, Typewire runs on embedded defaults meant for the one-command demo: a SQLite file
and a Celery broker kept in a folder (kombu's filesystem transport), both under ``var/``. Set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis or RabbitMQ. Every secret can
also be given as ``NAME_FILE`` (the path of a file holding it).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

# Lets classes such as ModelAdmin[Workspace] be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TYPEWIRE_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME, else from the file named by NAME_FILE, else the default."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return default


DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = _secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE), or DEBUG=true for a demo."
        )
    SECRET_KEY = "typewire-insecure-demo-key"  # noqa: S105 - only reachable with DEBUG on

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "django_celery_beat",
    "accounts",
    "ops",
    "catalog",
    "webhooks",
    "automations",
    # The example plug-in of the custom action SDK (README); more with TYPEWIRE_PLUGIN_APPS.
    "plugins.loyalty",
    *env.list("TYPEWIRE_PLUGIN_APPS", default=[]),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'typewire.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the demo file: wait for locks instead of failing,
    # and take the write lock at BEGIN so two writers never deadlock on an upgrade.
    _db.setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", 5))
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        # Parameters bound on the server and each repeated query prepared once per connection
        # (psycopg 3): PostgreSQL parses and plans an ORM query shape once, not per call.
        # A pooler must keep prepared statements (session pooling, or PgBouncer 1.21+).
        _db["OPTIONS"].setdefault("server_side_binding", True)
        _db["OPTIONS"].setdefault("prepare_threshold", env.int("DB_PREPARE_THRESHOLD", 5))
    if pool_size := env.int("DB_POOL_SIZE", default=0):
        # The web process (config/gunicorn.py sets this) serves each connection in a greenlet:
        # its requests borrow a database connection from the process's pool, returned when the
        # request ends. A request waits DB_POOL_TIMEOUT seconds at most for one, then fails
        # (a hook answers 503 with Retry-After), also while the database refuses connections.
        # Other processes keep one persistent connection each.
        _db["CONN_MAX_AGE"] = 0  # the pool keeps the connections (Django allows one or the other)
        _db["OPTIONS"]["pool"] = {
            "min_size": min(2, pool_size),
            "max_size": pool_size,
            "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, sessions, security ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "ops:home"
LOGOUT_REDIRECT_URL = "accounts:login"

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# HSTS is opt-in: turning it on for a host that is not yet HTTPS-only locks browsers out.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Django 6's built-in CSP: no inline script or style; htmx comes from our origin with a nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Secrets at rest (webhook signing secrets, API keys) are encrypted with Fernet. Several keys,
# comma-separated, allow rotation: the first encrypts, all decrypt.
_field_keys = _secret("FIELD_ENCRYPTION_KEY")
if not _field_keys:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`."
        )
    _field_keys = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
FIELD_ENCRYPTION_KEYS = [k.strip() for k in _field_keys.split(",") if k.strip()]

# --- Internationalisation, static files -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed, unhashed names: pages render without a collectstatic step (demo, tests).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Email ----------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
for _key in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD"):
    if _key in _email:
        globals()[_key] = _email[_key]
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Typewire <typewire@localhost>")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.access.WorkspaceRolePermission"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "accounts.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Typewire API",
    "DESCRIPTION": "Typed trigger-action automation: catalog, rules, events, executions, webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("amqp://", "pyamqp://")):
    # Publisher confirms: a publish returns only once RabbitMQ has taken the message.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# A publish must never hang a web request: fail fast, the sweeper re-dispatches what is stored.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# Celery's Django fix-up reconnects to the database around every task unless this is set; a
# worker keeps its connection (CONN_MAX_AGE, health checks: config/celery.py) and opens a new one
# only every this many tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

QUEUE_INGEST = "ingest"
QUEUE_RULES = "rules"
QUEUE_OUTBOUND = "outbound"
QUEUE_PERIODIC = "periodic"
TYPEWIRE_QUEUES = [QUEUE_INGEST, QUEUE_RULES, QUEUE_OUTBOUND, QUEUE_PERIODIC]
CELERY_TASK_DEFAULT_QUEUE = QUEUE_RULES
# Tasks are routed by their registered name, so a worker can be started per queue.
CELERY_TASK_ROUTES = {
    "webhooks.*": {"queue": QUEUE_INGEST},
    "automations.dispatch_*": {"queue": QUEUE_INGEST},
    "automations.run_*": {"queue": QUEUE_RULES},
    "automations.send_*": {"queue": QUEUE_OUTBOUND},
    "ops.*": {"queue": QUEUE_PERIODIC},
    "catalog.sweep_*": {"queue": QUEUE_PERIODIC},
    "automations.sweep_*": {"queue": QUEUE_PERIODIC},
}
TYPEWIRE_HEARTBEAT_SECONDS = env.float("TYPEWIRE_HEARTBEAT_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "ops.beat-heartbeat": {
        "task": "ops.record_heartbeat",
        "schedule": TYPEWIRE_HEARTBEAT_SECONDS,
        "kwargs": {"source": "beat"},
    },
    # The safety net of SPEC 8.1: events stored but never dispatched (broker outage) go out again.
    "catalog.sweep-pending-events": {
        "task": "catalog.sweep_pending_events",
        "schedule": env.float("TYPEWIRE_SWEEP_EVERY_SECONDS", default=30.0),
    },
    # Due waits and retries, and executions whose worker died, go back to the queue.
    "automations.sweep-executions": {
        "task": "automations.sweep_executions",
        "schedule": env.float("TYPEWIRE_EXECUTION_SWEEP_EVERY_SECONDS", default=5.0),
        "options": {"queue": QUEUE_PERIODIC},
    },
    # A rule firing far above its usual rate is paused and its owner told.
    "automations.check-rule-spikes": {
        "task": "automations.check_rule_spikes",
        "schedule": 300.0,
        "options": {"queue": QUEUE_PERIODIC},
    },
    "automations.evaluate-metrics": {
        "task": "automations.evaluate_metrics",
        "schedule": 30.0,
        "options": {"queue": QUEUE_PERIODIC},
    },
    "automations.detect-anomalies": {
        "task": "automations.detect_anomalies",
        "schedule": crontab(minute=5),
        "options": {"queue": QUEUE_PERIODIC},
    },
    "automations.poll-sources": {
        "task": "automations.poll_sources",
        "schedule": 60.0,
        "options": {"queue": QUEUE_PERIODIC},
    },
    "automations.backfill-webhooks": {
        "task": "automations.backfill_webhooks",
        "schedule": crontab(hour=3, minute=17),
        "options": {"queue": QUEUE_PERIODIC},
    },
    "automations.reconcile": {
        "task": "automations.reconcile",
        "schedule": 300.0,
        "options": {"queue": QUEUE_PERIODIC},
    },
}

# --- Product settings -----------------------------------------------------------------------
TYPEWIRE_DEMO_PASSWORD = _secret("TYPEWIRE_DEMO_PASSWORD")
# The base URLs of the external APIs that actions call; tests point them at a local server.
TYPEWIRE_SLACK_BASE_URL = env("TYPEWIRE_SLACK_BASE_URL", default="https://hooks.slack.com")
TYPEWIRE_AIRTABLE_BASE_URL = env("TYPEWIRE_AIRTABLE_BASE_URL", default="https://api.airtable.com")
TYPEWIRE_META_BASE_URL = env("TYPEWIRE_META_BASE_URL", default="https://graph.facebook.com")
TYPEWIRE_GOOGLE_ADS_BASE_URL = env(
    "TYPEWIRE_GOOGLE_ADS_BASE_URL", default="https://googleads.googleapis.com"
)
TYPEWIRE_AI_BASE_URL = env("TYPEWIRE_AI_BASE_URL", default="https://api.openai.com/v1")
TYPEWIRE_AI_API_KEY = _secret("TYPEWIRE_AI_API_KEY", default="")
TYPEWIRE_STRIPE_API_BASE_URL = env("TYPEWIRE_STRIPE_API_BASE_URL", default="https://api.stripe.com")
TYPEWIRE_SHOPIFY_API_BASE_URL = env("TYPEWIRE_SHOPIFY_API_BASE_URL", default="")
# Hosts that outbound calls may reach even though they resolve to private or loopback addresses
# (local development and tests only).
TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = env.list("TYPEWIRE_OUTBOUND_ALLOWED_HOSTS", default=[])
TYPEWIRE_REDIS_URL = env("TYPEWIRE_REDIS_URL", default="")
# Per-endpoint webhook rate limits count in Redis: this URL, else TYPEWIRE_REDIS_URL, else the
# broker when it is Redis. With no Redis at all (the embedded demo) rate limiting is off and the
# first limited request logs one warning saying so.
TYPEWIRE_RATELIMIT_REDIS_URL = env(
    "TYPEWIRE_RATELIMIT_REDIS_URL",
    default=TYPEWIRE_REDIS_URL
    or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""),
)
# The sweeper (catalog.sweep_pending_events) re-publishes events pending longer than this.
TYPEWIRE_SWEEP_AFTER_SECONDS = env.int("TYPEWIRE_SWEEP_AFTER_SECONDS", default=30)
TYPEWIRE_SWEEP_BATCH_SIZE = env.int("TYPEWIRE_SWEEP_BATCH_SIZE", default=500)
# The event publisher (catalog.publisher, a thread of each worker consuming the ingest queue)
# publishes webhook events in batches; it wakes on NOTIFY (PostgreSQL) or polls this often.
TYPEWIRE_EVENT_PUBLISHER = env.bool("TYPEWIRE_EVENT_PUBLISHER", default=True)
TYPEWIRE_PUBLISH_POLL_SECONDS = env.float("TYPEWIRE_PUBLISH_POLL_SECONDS", default=1.0)
TYPEWIRE_PUBLISH_BATCH_SIZE = env.int("TYPEWIRE_PUBLISH_BATCH_SIZE", default=500)
# After a round that found fewer than a batch, the publisher waits this long before the next,
# so that a steady stream of deliveries is published in rounds of many events, not of a few.
TYPEWIRE_PUBLISH_LINGER_SECONDS = env.float("TYPEWIRE_PUBLISH_LINGER_SECONDS", default=0.05)
# false: each accepted webhook publishes its own dispatch on commit, as internal events do (the
# slower path, kept for comparison and for brokers without a worker on the ingest queue).
TYPEWIRE_WEBHOOK_PUBLISH_LATER = env.bool("TYPEWIRE_WEBHOOK_PUBLISH_LATER", default=True)
# How long a web process keeps an endpoint it has loaded (webhooks.fastpath); 0 loads it for
# every delivery. A change to an endpoint applies at once either way: each write is guarded.
TYPEWIRE_ENDPOINT_CACHE_SECONDS = env.float("TYPEWIRE_ENDPOINT_CACHE_SECONDS", default=60.0)
# Concurrent deliveries of one web process share one insert statement and commit
# (``webhooks.fastpath.GroupCommit``): about a third less PostgreSQL CPU per delivery. The
# batches grow with the requests a process serves at once, so it pays with 8 threads per
# process (config/gunicorn.py); with 4 it made no difference (README "Performance").
TYPEWIRE_WEBHOOK_GROUP_COMMIT = env.bool("TYPEWIRE_WEBHOOK_GROUP_COMMIT", default=True)
# A dispatching worker runs this many new executions of quick internal rules per event itself
# instead of publishing them (automations.engine.dispatch.dispatch_and_run); 0 publishes all.
TYPEWIRE_INLINE_RUNS = env.int("TYPEWIRE_INLINE_RUNS", default=4)
# The executions a dispatch enqueues go this many per message (automations.run_executions).
TYPEWIRE_RUN_BATCH = env.int("TYPEWIRE_RUN_BATCH", default=20)
# TEST ONLY: deliberately broken builds for the fault-injection harness (tests/reliability), which
# must be able to fail. "no-sweeper" turns both sweepers into no-ops. Empty (the default) in any
# real deployment; nothing else reads it.
TYPEWIRE_FAULT_INJECT = env("TYPEWIRE_FAULT_INJECT", default="")
# Retry-After of a webhook answered 503 because the event could not be stored.
TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS = env.int("TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS", default=30)

# Outbound HTTP (automations.engine.http): timeouts in seconds and the largest response read.
TYPEWIRE_OUTBOUND_CONNECT_TIMEOUT_SECONDS = env.float(
    "TYPEWIRE_OUTBOUND_CONNECT_TIMEOUT_SECONDS", default=5.0
)
TYPEWIRE_OUTBOUND_TIMEOUT_SECONDS = env.float("TYPEWIRE_OUTBOUND_TIMEOUT_SECONDS", default=10.0)
TYPEWIRE_OUTBOUND_MAX_RESPONSE_BYTES = env.int(
    "TYPEWIRE_OUTBOUND_MAX_RESPONSE_BYTES", default=1024 * 1024
)
# post_to_slack: the path of the Slack incoming webhook (/services/T.../B.../...) under
# TYPEWIRE_SLACK_BASE_URL, and optional per-channel paths ("#sales=/services/...,#urgent=...").
TYPEWIRE_SLACK_WEBHOOK_PATH = _secret("TYPEWIRE_SLACK_WEBHOOK_PATH", default="")
TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS: dict[str, str] = env.dict(
    "TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS", default={}
)
TYPEWIRE_AIRTABLE_API_KEY = _secret("TYPEWIRE_AIRTABLE_API_KEY", default="")
TYPEWIRE_META_ACCESS_TOKEN = _secret("TYPEWIRE_META_ACCESS_TOKEN", default="")
TYPEWIRE_META_API_VERSION = env("TYPEWIRE_META_API_VERSION", default="v21.0")
TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN = _secret("TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN", default="")
TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN = _secret("TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN", default="")
TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID = env("TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID", default="")
TYPEWIRE_GOOGLE_ADS_API_VERSION = env("TYPEWIRE_GOOGLE_ADS_API_VERSION", default="v18")
TYPEWIRE_AI_MODEL = env("TYPEWIRE_AI_MODEL", default="gpt-4o-mini")

# The execution engine (automations.engine): attempts per step (an action may allow fewer),
# retry backoff (exponential from the base, full jitter, capped), how long a worker holds a
# claimed execution before the sweeper may hand it to another, and the causation depth at which
# a chain of rules is stopped as a loop.
TYPEWIRE_MAX_ATTEMPTS = env.int("TYPEWIRE_MAX_ATTEMPTS", default=5)
TYPEWIRE_RETRY_BASE_SECONDS = env.float("TYPEWIRE_RETRY_BASE_SECONDS", default=2.0)
TYPEWIRE_RETRY_CAP_SECONDS = env.float("TYPEWIRE_RETRY_CAP_SECONDS", default=3600.0)
TYPEWIRE_EXECUTION_LEASE_SECONDS = env.float("TYPEWIRE_EXECUTION_LEASE_SECONDS", default=300.0)
TYPEWIRE_MAX_CHAIN_DEPTH = env.int("TYPEWIRE_MAX_CHAIN_DEPTH", default=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
