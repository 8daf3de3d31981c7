"""Settings, read from the environment (documented in README.md, "Configuration").

Embedded mode (the default) keeps everything under one data directory: SQLite database,
Huey queue, generated Django secret key and master key file. Production mode requires the
secret key and the public base URL to be given explicitly.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from strongroom.core.envutil import env_bool, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

MODE = env_str("STRONGROOM_MODE", "embedded")
if MODE not in {"embedded", "production"}:
    raise RuntimeError(f"STRONGROOM_MODE must be 'embedded' or 'production', not {MODE!r}")
PRODUCTION = MODE == "production"

DATA_DIR = Path(env_str("STRONGROOM_DATA_DIR", str(Path.cwd() / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _secret_key() -> str:
    given = env_str("STRONGROOM_SECRET_KEY", "")
    if given:
        return given
    if PRODUCTION:
        raise RuntimeError(
            "STRONGROOM_SECRET_KEY is required in production mode "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    path = DATA_DIR / "django-secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("STRONGROOM_DEBUG", False)

PUBLIC_URL = env_str("STRONGROOM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Extra CA bundle (PEM) trusted for the SMTP server's certificate (docs/email.md).
EMAIL_CA_FILE = env_str("STRONGROOM_EMAIL_CA_FILE", "")
if PRODUCTION and "STRONGROOM_PUBLIC_URL" not in os.environ:
    raise RuntimeError("STRONGROOM_PUBLIC_URL is required in production mode")
_public = urlsplit(PUBLIC_URL)
ALLOWED_HOSTS = env_list(
    "STRONGROOM_ALLOWED_HOSTS", [_public.hostname or "127.0.0.1", "127.0.0.1", "localhost"]
)
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "strongroom.core",
    "strongroom.accounts",
    "strongroom.audit",
    "strongroom.vault",
    "strongroom.notifications",
    "strongroom.directory",
    "strongroom.exposure",
    "strongroom.health",
    "strongroom.exports",
    "strongroom.storage",
    "strongroom.sync",
    "strongroom.sso",
    "strongroom.web",
]

# Where a password sign-in for a user without a local password is checked (LDAP / AD).
PASSWORD_DIRECTORIES = ["strongroom.directory.services.directory_authenticate"]

MIDDLEWARE = [
    # First: probes answer before any Host check, session, CSRF or https redirect.
    "strongroom.core.middleware.HealthProbeMiddleware",
    # Next, so it times everything below it (removes itself unless STRONGROOM_METRICS).
    "strongroom.ops.metrics.RequestLatencyMiddleware",
    "strongroom.core.middleware.PlainHttpRedirectMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "strongroom.web.middleware.WebSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "strongroom.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "strongroom.config.urls"
WSGI_APPLICATION = "strongroom.config.wsgi.application"

# django-ninja is not an installed app: as one, every process (each one-shot CLI command too)
# would import it and pydantic at start-up, a quarter of that start-up. The API's docs page
# (api.main.SwaggerPage) uses its template and Swagger UI files, found here without importing
# the package.
_NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent  # type: ignore[union-attr,arg-type]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [_NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "strongroom.web.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = env_str("STRONGROOM_DATABASE_URL", f"sqlite:///{DATA_DIR / 'strongroom.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=60)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every write transaction take the write lock at BEGIN, so the audit
    # chain head read-then-update cannot interleave between two writers.
    # cache_size: a page cache of up to 32 MiB per connection instead of SQLite's 2 MB.
    # Walks of the name index (unfiltered first pages, broad and two-character searches,
    # filters) read thousands of resource rows in name order, which is random order in the
    # table, with a probe of the account and visibility indexes each: within one query
    # the 2 MB cache kept evicting pages it read again (bench/list_100k.py's data, a new
    # connection per call: 'db' 49 -> 36 ms, type filter 115 -> 92 ms; docs/architecture.md
    # "Search", "Cost per tested row"). Memory is taken only as pages are read, and
    # connections are not kept between requests (CONN_MAX_AGE 0).
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;"
        ),
    }
    _db["CONN_MAX_AGE"] = 0
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif env_str("STRONGROOM_TEST_DATABASE_NAME", ""):
    # Lets parallel test runs on one PostgreSQL server use separate test databases.
    _db["TEST"] = {"NAME": env_str("STRONGROOM_TEST_DATABASE_NAME", "")}
DATABASES = {"default": _db}
DATABASE_IS_SQLITE = _db["ENGINE"] == "django.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = int(env_str("STRONGROOM_SESSION_SECONDS", "3600"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _public.scheme == "https"
CSRF_COOKIE_SECURE = _public.scheme == "https"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
# HSTS: sent on https responses only (in production mode, those the balancer marks https).
# Default one year in production mode, off in embedded mode; 0 turns it off.
SECURE_HSTS_SECONDS = int(env_str("STRONGROOM_HSTS_SECONDS", "31536000" if PRODUCTION else "0"))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [_NINJA_DIR / "static"]  # ninja/swagger-ui-bundle.js etc. (see TEMPLATES)
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing root before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REDIS_URL = env_str("STRONGROOM_REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("STRONGROOM_HUEY_IMMEDIATE", False)
# Queue name: lets several Strongroom installations share one Redis database.
HUEY_NAME = env_str("STRONGROOM_QUEUE_NAME", "strongroom")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": HUEY_NAME,
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": HUEY_NAME,
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# Master key source: exactly one of file (default), environment variable, command.
MASTER_KEY_FILE = env_str("STRONGROOM_MASTER_KEY_FILE", str(DATA_DIR / "master.key"))
MASTER_KEY_ENV = "STRONGROOM_MASTER_KEY"
MASTER_KEY_COMMAND = env_str("STRONGROOM_MASTER_KEY_COMMAND", "")
# How long a process trusts its cached choice of active data key (see core/keys.py).
KEY_RECHECK_SECONDS = float(env_str("STRONGROOM_KEY_RECHECK_SECONDS", "5"))

# Audit anchors (docs/operations.md, "Audit anchors"): the log stream always; an append-only
# file and a write-once (Object Lock) S3 bucket when configured.
AUDIT_ANCHOR_EVERY = int(env_str("STRONGROOM_AUDIT_ANCHOR_EVERY", "1000"))
AUDIT_ANCHOR_DIR = env_str("STRONGROOM_AUDIT_ANCHOR_DIR", "")
AUDIT_ANCHOR_S3_BUCKET = env_str("STRONGROOM_AUDIT_ANCHOR_S3_BUCKET", "")
AUDIT_ANCHOR_S3_PREFIX = env_str("STRONGROOM_AUDIT_ANCHOR_S3_PREFIX", "strongroom-audit/")
AUDIT_ANCHOR_S3_REGION = env_str("STRONGROOM_AUDIT_ANCHOR_S3_REGION", "")
AUDIT_ANCHOR_S3_ENDPOINT = env_str("STRONGROOM_AUDIT_ANCHOR_S3_ENDPOINT", "")
AUDIT_ANCHOR_S3_ACCESS_KEY_ID = env_str("STRONGROOM_AUDIT_ANCHOR_S3_ACCESS_KEY_ID", "")
AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY = env_str("STRONGROOM_AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY", "")
AUDIT_ANCHOR_S3_MODE = env_str("STRONGROOM_AUDIT_ANCHOR_S3_MODE", "COMPLIANCE")
AUDIT_ANCHOR_S3_RETENTION_DAYS = int(env_str("STRONGROOM_AUDIT_ANCHOR_S3_RETENTION_DAYS", "400"))

# Prometheus metrics at /metrics (docs/operations.md, "Metrics"): off unless enabled, and
# then only with the bearer token.
METRICS_ENABLED = env_bool("STRONGROOM_METRICS", False)
METRICS_TOKEN = env_str("STRONGROOM_METRICS_TOKEN", "")
METRICS_SYNC_LAG_THRESHOLD = float(env_str("STRONGROOM_METRICS_SYNC_LAG_THRESHOLD", "3600"))

# /readyz fails when the data directory has less free space than this (megabytes).
READY_MIN_FREE_MB = int(env_str("STRONGROOM_READY_MIN_FREE_MB", "256"))

LOGIN_THROTTLE_FAILURES = int(env_str("STRONGROOM_LOGIN_THROTTLE_FAILURES", "5"))
LOGIN_THROTTLE_WINDOW_SECONDS = int(env_str("STRONGROOM_LOGIN_THROTTLE_WINDOW", "900"))
# How long a re-authentication ("Confirm it's you": password + second factor) lets a session
# or an API token do account-takeover actions (2FA, tokens, own password, admin on self).
REAUTH_MAX_AGE_SECONDS = int(env_str("STRONGROOM_REAUTH_SECONDS", "600"))

LOG_LEVEL = env_str("STRONGROOM_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "strongroom.core.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.security": {"level": "WARNING"},
        # A handler here stops `run_huey` from adding its own (every line logged twice).
        "huey": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Google Drive's OAuth library logs the authorisation code and the client's Basic
        # credentials at DEBUG: never below WARNING, whatever the level asked for.
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
    },
}
DEFAULT_EXCEPTION_REPORTER_FILTER = "strongroom.core.logging.SecretMaskingReporterFilter"

TRUST_X_FORWARDED_FOR = env_bool("STRONGROOM_TRUST_X_FORWARDED_FOR", False)

# Cloud storage (OAuth providers). A PEM file of extra CA certificates trusted for the
# providers' HTTPS APIs (a TLS-inspecting corporate proxy; the tests' local stand-ins).
# Empty: the SDKs' own trust stores. The machine's REQUESTS_CA_BUNDLE is never used for
# provider calls (sessions are built with trust_env=False, so the proxy is ours alone).
PROVIDER_CA_BUNDLE = env_str("STRONGROOM_PROVIDER_CA_BUNDLE", "")
# Outbound proxy hosts (``host:port``, comma-separated) that may be internal addresses
# (loopback, private, link-local...). A deployment setting on purpose: the administrator
# sets the proxy in the web UI, but only the operator can let it point inside the network
# (without this, an admin account could make Strongroom send CONNECT to 127.0.0.1:6379).
STORAGE_PROXY_INTERNAL_ALLOWED = [
    entry.strip()
    for entry in env_str("STRONGROOM_PROXY_INTERNAL_ALLOWED", "").split(",")
    if entry.strip()
]
# OpenID Providers (``host:port``, comma-separated) that may be internal addresses, and so
# may also be plain http: an operator's decision, like the proxy's (docs/identity.md).
SSO_INTERNAL_ALLOWED = [
    entry.strip()
    for entry in env_str("STRONGROOM_SSO_INTERNAL_ALLOWED", "").split(",")
    if entry.strip()
]
# How long a started OAuth authorisation (PKCE verifier, Box state) may be completed.
OAUTH_PENDING_SECONDS = int(env_str("STRONGROOM_OAUTH_PENDING_SECONDS", "900"))
# Box API addresses (the tests point them at a local stand-in). Defaults: Box itself.
# Microsoft identity platform + Graph (OneDrive / SharePoint). Tests point them at a stand-in.
MS_LOGIN_URL = env_str("STRONGROOM_MS_LOGIN_URL", "https://login.microsoftonline.com").rstrip("/")
GRAPH_API_URL = env_str("STRONGROOM_GRAPH_API_URL", "https://graph.microsoft.com/v1.0").rstrip("/")
#: Hosts (suffixes) an upload session's pre-authenticated uploadUrl may name.
GRAPH_UPLOAD_HOSTS = tuple(
    h.strip()
    for h in env_str(
        "STRONGROOM_GRAPH_UPLOAD_HOSTS",
        "graph.microsoft.com,sharepoint.com,api.onedrive.com,microsoftpersonalcontent.com",
    ).split(",")
    if h.strip()
)
BOX_API_URL = env_str("STRONGROOM_BOX_API_URL", "https://api.box.com").rstrip("/")
BOX_UPLOAD_URL = env_str("STRONGROOM_BOX_UPLOAD_URL", "https://upload.box.com/api").rstrip("/")
BOX_AUTHORIZE_URL = env_str(
    "STRONGROOM_BOX_AUTHORIZE_URL", "https://account.box.com/api/oauth2/authorize"
)
# Google Drive addresses (the tests point them at a local stand-in). Defaults: Google itself.
GDRIVE_API_URL = env_str("STRONGROOM_GDRIVE_API_URL", "https://www.googleapis.com").rstrip("/")
GDRIVE_AUTH_URL = env_str("STRONGROOM_GDRIVE_AUTH_URL", "https://accounts.google.com/o/oauth2/auth")
GDRIVE_TOKEN_URL = env_str("STRONGROOM_GDRIVE_TOKEN_URL", "https://oauth2.googleapis.com/token")
GDRIVE_REVOKE_URL = env_str("STRONGROOM_GDRIVE_REVOKE_URL", "https://oauth2.googleapis.com/revoke")

# Argon2id cost. Tests lower it (still Argon2id) through STRONGROOM_ARGON2_FAST=1.
if env_bool("STRONGROOM_ARGON2_FAST", False):
    PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]
